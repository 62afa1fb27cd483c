"""The strandedness decision: a declared library type checked against the reads, or inferred."""

from __future__ import annotations

from genejobs.pipeline.records import CountStats, LibraryType, ReadStats, SampleResult
from genejobs.pipeline.strandedness import choose_library_type


def _result(name: str, first: int, second: int) -> SampleResult:
    stats = CountStats(
        assigned={
            LibraryType.UNSTRANDED.value: first + second,
            LibraryType.FIRSTSTRAND.value: first,
            LibraryType.SECONDSTRAND.value: second,
        }
    )
    return SampleResult(name, [], {}, ReadStats(), stats)


def test_choose_library_type_rules() -> None:
    stranded = [_result("A", 900, 30), _result("B", 880, 40)]
    unstranded = [_result("A", 500, 480), _result("B", 470, 510)]
    assert choose_library_type(LibraryType.FIRSTSTRAND, stranded).error is None
    error = choose_library_type(LibraryType.SECONDSTRAND, stranded).error
    assert error is not None and error.startswith("sample 'A': library_type is fr-secondstrand")
    warned = choose_library_type(LibraryType.UNSTRANDED, stranded)
    assert warned.error is None and len(warned.warnings) == 2
    assert choose_library_type(LibraryType.FIRSTSTRAND, unstranded).error is None
    assert choose_library_type(None, stranded).library_type is LibraryType.FIRSTSTRAND
    assert choose_library_type(None, unstranded).library_type is LibraryType.UNSTRANDED
    few = [_result("A", 10, 0)]
    assert choose_library_type(LibraryType.SECONDSTRAND, few).error is None  # too little evidence
