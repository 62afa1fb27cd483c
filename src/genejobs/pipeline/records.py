"""Typed records that flow between the pipeline steps, the runner and the report.

They know nothing of HTTP, SQL or Dask, and they are small and picklable so a
Dask worker can return them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class LibraryType(str, Enum):
    """Strandedness of the library, with the contract's spellings.

    The htseq-count equivalents: unstranded = ``-s no``, firststrand (dUTP,
    read 1 antisense) = ``-s reverse``, secondstrand = ``-s yes``.
    """

    UNSTRANDED = "fr-unstranded"
    FIRSTSTRAND = "fr-firststrand"
    SECONDSTRAND = "fr-secondstrand"


ALL_LIBRARY_TYPES: tuple[LibraryType, ...] = tuple(LibraryType)


@dataclass(frozen=True)
class ReadRun:
    """One run of a sample (a lane, or a re-sequencing): read 1 and, if paired, read 2."""

    r1: str
    r2: str | None = None

    @property
    def paired(self) -> bool:
        return self.r2 is not None

    @property
    def uris(self) -> tuple[str, ...]:
        return (self.r1,) if self.r2 is None else (self.r1, self.r2)


@dataclass(frozen=True)
class SampleSpec:
    """One sample of a job: its name, group, its runs (one or more, read in order as one
    stream; none for a job from a counts table) and its covariates ((name, level) pairs,
    in the design's order)."""

    name: str
    group: str
    runs: tuple[ReadRun, ...] = ()
    covariates: tuple[tuple[str, str], ...] = ()

    def covariate(self, name: str) -> str:
        return dict(self.covariates)[name]

    @property
    def paired(self) -> bool:
        """Every run has a read 2 (a job is single-end or paired as a whole)."""
        return all(run.paired for run in self.runs)

    @property
    def uris(self) -> tuple[str, ...]:
        """Every FASTQ of the sample, run by run (read 1 before read 2)."""
        return tuple(uri for run in self.runs for uri in run.uris)


@dataclass(frozen=True)
class SampleParams:
    """How a sample's reads are trimmed (``adapter``, ``min_length``: its cache key).

    Every sample is counted under all three strand rules (``CountStats``) and the job
    picks one afterwards; ``declared_library_type`` (the request's, ``None`` for auto)
    is only checked early against the reads, so a contradicted one fails fast. It is
    not part of the cache key.
    """

    adapter: str | None = None
    min_length: int = 20
    declared_library_type: LibraryType | None = None
    quantifier: str = "genome"  # "genome" (align + htseq rules) or "transcripts" (salmon)

    # The transcript-level quantifier (salmon) counts under one rule per run, so it
    # works from the declaration: the type to count as, or detection for "auto".
    @property
    def library_type(self) -> LibraryType:
        return self.declared_library_type or LibraryType.UNSTRANDED

    @property
    def detect_library_type(self) -> bool:
        return self.declared_library_type is None


@dataclass
class ReadStats:
    """Read-level counters of one sample, filled chunk by chunk by the trimmer.

    A "pair" is a fragment: a read pair, or one read when the job is single-end.
    """

    pairs_in: int = 0
    pairs_with_adapter: int = 0
    pairs_too_short: int = 0
    pairs_out: int = 0
    bases_in: int = 0
    bases_trimmed: int = 0


@dataclass
class CountStats:
    """Alignment and assignment counters, htseq-count's special counters included.

    There is no ``__too_low_aQual`` counter: no pair is dropped for its mapping
    quality (a pair with several placements is ``multimapped``), so that line of
    htseq-count's output is always 0.

    ``no_feature``, ``ambiguous`` and ``assigned`` are per library type (keyed by
    ``LibraryType.value``) because every pair is counted under all three strand
    rules at once.
    """

    aligned: int = 0
    unique: int = 0
    multimapped: int = 0  # __alignment_not_unique
    not_aligned: int = 0  # __not_aligned
    no_feature: dict[str, int] = field(default_factory=dict)
    ambiguous: dict[str, int] = field(default_factory=dict)
    assigned: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadQc:
    """Read-level QC of one sample, made while its reads stream through the pipeline."""

    fastqc: dict[str, str]  # report name ("<sample>_R1") -> FastQC's fastqc_data.txt text


@dataclass(frozen=True)
class TranscriptEstimates:
    """A transcript-level quantifier's estimates for one sample (salmon's quant.sf)."""

    transcript_ids: list[str]
    length: np.ndarray  # transcript length, bp
    effective_length: np.ndarray
    tpm: np.ndarray
    counts: np.ndarray  # estimated fragments (EM over multi-mapping fragments), float
    mapping_rate: float = 0.0  # share of (trimmed) pairs salmon mapped
    library_type_seen: str = ""  # salmon's format with the most fragments, e.g. ISR
    library_type_used: str = ""  # the -l salmon quantified with (A = detected)
    engine: str = ""  # e.g. "salmon 1.10.1"


@dataclass(frozen=True)
class SampleQc:
    """What alignment QC (RSeQC) found for one sample, and where its BAM was put."""

    bam_uri: str | None  # the uploaded BAM (for IGV); None when there was none to upload
    observed_library_type: LibraryType | None  # infer_experiment's verdict, if it ran
    infer_experiment: dict[str, float] = field(default_factory=dict)  # rule -> fraction
    failed_modules: dict[str, str] = field(default_factory=dict)  # module -> why
    # pairs geneBody_coverage and inner_distance read (a fixed subsample of the aligned)
    distribution_pairs: int | None = None
    # every file published for this sample (URI, bytes): it goes into the job's manifest
    files: tuple[tuple[str, int], ...] = ()
    skipped_modules: dict[str, str] = field(default_factory=dict)  # module -> why not run

    def notes(self, sample_name: str) -> list[str]:
        """One note per failed module, naming the sample it belongs to."""
        return [
            f"sample '{sample_name}': QC {m} failed: {why}"
            for m, why in self.failed_modules.items()
        ]


@dataclass(frozen=True)
class SampleResult:
    """What one sample's task returns: a count vector per library type and its stats.

    Never changed once made: a later step (QC) makes a new one with
    ``dataclasses.replace``. ``read_qc`` and ``qc`` are set only when QC was
    asked for; neither is cached (see ``genejobs.jobs.run.cache``).
    """

    sample_name: str
    gene_ids: list[str]
    counts: dict[str, np.ndarray]  # LibraryType.value -> int64 vector aligned with gene_ids
    read_stats: ReadStats
    count_stats: CountStats
    timings_ms: dict[str, int] = field(default_factory=dict)
    from_cache: bool = False
    notes: list[str] = field(default_factory=list)  # about the reads, never naming the sample
    read_qc: ReadQc | None = None
    qc: SampleQc | None = None
    transcripts: TranscriptEstimates | None = None  # set by the transcript-level quantifier

    def counts_for(self, library_type: LibraryType) -> np.ndarray:
        return self.counts[library_type.value]

    @property
    def all_notes(self) -> list[str]:
        """The pipeline's notes and QC's, the latter under this result's sample name."""
        return [*self.notes, *(self.qc.notes(self.sample_name) if self.qc else [])]


# Progress callback: (fraction 0..1 of this sample's work, pairs processed so far)
ProgressFn = Callable[[float, int], None]
# Stop check: raises genejobs.errors.CancelledError when the job was cancelled.
StopCheck = Callable[[], None]
