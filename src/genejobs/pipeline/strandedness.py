"""Which strand rule a job's statistics use: the declared library type checked
against what the reads show, or inferred from them when ``auto`` was asked for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from genejobs.pipeline.count import infer_library_type
from genejobs.pipeline.records import LibraryType, SampleResult

# Below this many pairs assigned under a stranded rule, strandedness is not judged.
MIN_PAIRS_FOR_STRAND_CHECK = 50

_OPPOSITE = {
    LibraryType.FIRSTSTRAND: LibraryType.SECONDSTRAND,
    LibraryType.SECONDSTRAND: LibraryType.FIRSTSTRAND,
}


@dataclass(frozen=True)
class LibraryChoice:
    """The library type the statistics use, with what the runner must tell the user."""

    library_type: LibraryType
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # set when the declared type contradicts the reads


def _observed(result: SampleResult) -> tuple[LibraryType, float, int] | None:
    """(type the reads support, its share, stranded pairs), or None when too few pairs."""
    stats = result.count_stats
    stranded_pairs = stats.assigned.get(LibraryType.FIRSTSTRAND.value, 0) + stats.assigned.get(
        LibraryType.SECONDSTRAND.value, 0
    )
    if stranded_pairs < MIN_PAIRS_FOR_STRAND_CHECK:
        return None
    observed, share = infer_library_type(stats)
    return observed, share, stranded_pairs


def _inferred(observed: dict[str, tuple[LibraryType, float, int] | None]) -> LibraryChoice:
    """``auto``: the majority of the samples that say something, unstranded when none do."""
    votes = Counter(o[0] for o in observed.values() if o is not None)
    if not votes:
        return LibraryChoice(
            LibraryType.UNSTRANDED,
            ["library_type auto: too few assigned pairs to infer it; counted as fr-unstranded"],
        )
    chosen = votes.most_common(1)[0][0]
    warnings = [f"library_type auto: the reads look {chosen.value}"]
    disagree = sorted(n for n, o in observed.items() if o is not None and o[0] is not chosen)
    if disagree:
        warnings.append(
            f"library_type auto: samples {', '.join(disagree)} look different from the "
            f"majority ({chosen.value}); check how they were prepared"
        )
    return LibraryChoice(chosen, warnings)


def choose_library_type(declared: LibraryType | None, results: list[SampleResult]) -> LibraryChoice:
    """Check the declared library type against the reads, or infer it (``None`` = auto).

    A stranded declaration contradicted by the reads fails the job: its counts would
    be mostly ``__no_feature`` and its statistics meaningless. An unstranded
    declaration on stranded reads is valid (just less precise), so only a warning.
    """
    observed = {r.sample_name: _observed(r) for r in results}
    if declared is None:
        return _inferred(observed)
    warnings: list[str] = []
    for name, o in observed.items():
        if o is None:
            continue
        seen, share, pairs = o
        if declared in _OPPOSITE and seen is _OPPOSITE[declared]:
            error = (
                f"sample '{name}': library_type is {declared.value} but the reads look "
                f"{seen.value} ({share:.0%} of {pairs} strand-specific pairs agree with "
                f"{seen.value}); resubmit with library_type '{seen.value}' "
                "(the alignments are cached, so it will be quick)"
            )
            return LibraryChoice(declared, warnings, error)
        if declared is LibraryType.UNSTRANDED and seen is not LibraryType.UNSTRANDED:
            warnings.append(
                f"sample '{name}': the reads look {seen.value} ({share:.0%} of {pairs} "
                "strand-specific pairs), but fr-unstranded was declared; counts include "
                "reads from the opposite strand"
            )
    return LibraryChoice(declared, warnings)
