"""Which strand rule a job's statistics use: the declared library type checked
against what the reads show, or inferred from them when ``auto`` was asked for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from genejobs.pipeline.count import observed_library_type, strand_contradiction
from genejobs.pipeline.records import LibraryType, SampleResult


@dataclass(frozen=True)
class LibraryChoice:
    """The library type the statistics use, with what the runner must tell the user."""

    library_type: LibraryType
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # set when the declared type contradicts the reads


def _observed(result: SampleResult) -> tuple[LibraryType, float, int] | None:
    """(type the reads support, its share, stranded pairs), or None when too few pairs."""
    return observed_library_type(result.count_stats)


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


def choose_library_type(
    declared: LibraryType | None, results: list[SampleResult], *, unit: str = "pairs"
) -> LibraryChoice:
    """Check the declared library type against the reads, or infer it (``None`` = auto);
    ``unit`` names a fragment in the messages ("reads" for a single-end job).

    A stranded declaration contradicted by the reads fails the job: its counts would
    be mostly ``__no_feature`` and its statistics meaningless. An unstranded
    declaration on stranded reads is valid (just less precise), so only a warning.
    """
    observed = {r.sample_name: _observed(r) for r in results}
    by_name = {r.sample_name: r for r in results}
    if declared is None:
        return _inferred(observed)
    warnings: list[str] = []
    for name, o in observed.items():
        if o is None:
            continue
        seen, share, pairs = o
        problem = strand_contradiction(name, declared, by_name[name].count_stats, unit=unit)
        if problem:
            # Every sample finished, so each is cached: counts, and QC when asked for.
            error = (
                f"{problem} (every sample is cached, with its QC when QC was asked for, "
                "so the resubmit will not align them again)"
            )
            return LibraryChoice(declared, warnings, error)
        if declared is LibraryType.UNSTRANDED and seen is not LibraryType.UNSTRANDED:
            warnings.append(
                f"sample '{name}': the reads look {seen.value} ({share:.0%} of {pairs} "
                f"strand-specific {unit}), but fr-unstranded was declared; counts include "
                "reads from the opposite strand"
            )
    return LibraryChoice(declared, warnings)
