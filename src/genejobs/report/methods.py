"""Provenance, the Methods paragraph (with citations) and the notes in plain words."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from genejobs.pipeline.records import SampleParams
from genejobs.pipeline.trim import read2_adapter
from genejobs.report.model import PADJ

CITATIONS = {
    "cutadapt": "Martin M. (2011) Cutadapt removes adapter sequences from high-throughput "
    "sequencing reads. EMBnet.journal 17(1):10-12. doi:10.14806/ej.17.1.200",
    "minimap2": "Li H. (2018) Minimap2: pairwise alignment for nucleotide sequences. "
    "Bioinformatics 34(18):3094-3100. doi:10.1093/bioinformatics/bty191",
    "htseq": "Anders S, Pyl PT, Huber W. (2015) HTSeq - a Python framework to work with "
    "high-throughput sequencing data. Bioinformatics 31(2):166-169. "
    "doi:10.1093/bioinformatics/btu638",
    "deseq2": "Love MI, Huber W, Anders S. (2014) Moderated estimation of fold change and "
    "dispersion for RNA-seq data with DESeq2. Genome Biology 15:550. "
    "doi:10.1186/s13059-014-0550-8",
    "pydeseq2": "Muzellec B, Telenczuk M, Cabeli V, Andreux M. (2023) PyDESeq2: a python "
    "package for bulk RNA-seq differential expression analysis. Bioinformatics 39(9):btad547. "
    "doi:10.1093/bioinformatics/btad547",
    "apeglm": "Zhu A, Ibrahim JG, Love MI. (2019) Heavy-tailed prior distributions for "
    "sequence count data: removing the noise and preserving large differences. "
    "Bioinformatics 35(12):2084-2092. doi:10.1093/bioinformatics/bty895",
    "rseqc": "Wang L, Wang S, Li W. (2012) RSeQC: quality control of RNA-seq experiments. "
    "Bioinformatics 28(16):2184-2185. doi:10.1093/bioinformatics/bts356",
    "multiqc": "Ewels P, Magnusson M, Lundin S, Kaller M. (2016) MultiQC: summarize analysis "
    "results for multiple tools and samples in a single report. Bioinformatics "
    "32(19):3047-3048. doi:10.1093/bioinformatics/btw354",
    "gseapy": "Fang Z, Liu X, Peltz G. (2023) GSEApy: a comprehensive package for performing "
    "gene set enrichment analysis in Python. Bioinformatics 39(1):btac757. "
    "doi:10.1093/bioinformatics/btac757",
    "gsea": "Subramanian A, Tamayo P, Mootha VK, et al. (2005) Gene set enrichment analysis: "
    "a knowledge-based approach for interpreting genome-wide expression profiles. "
    "PNAS 102(43):15545-15550. doi:10.1073/pnas.0506580102",
}


@dataclass
class MethodsInput:
    """What the Methods paragraph states; built from the job's run information."""

    versions: dict[str, str]
    reference: str
    annotation: str
    library_type: str
    adapter: str
    comparisons: list[str]
    n_samples: int
    n_groups: int
    qc: bool = False
    enrichment: bool = False
    # The gene-set collections used: {"name", "release", "origin", "n_sets"} each.
    gene_sets: list[dict[str, str]] = field(default_factory=list)
    shrunk: bool = False
    design: str = "~group"
    lfc_threshold: float = 0.0
    counts_table: str = ""  # a job from a counts table: no reads were trimmed or aligned
    min_length: int = SampleParams.min_length  # the pipeline's (not a request field)
    single_end: bool = False  # read 1 only (run.json: read_layout)
    # salmon's fragment-length prior for single-end reads, as run.json records it
    fragment_length: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _v(versions: dict[str, str], name: str) -> str:
    return versions.get(name) or versions.get(name.lower()) or "unknown version"


@dataclass
class _Citations:
    """The references in the order the text first cites them, numbered [1], [2], ..."""

    refs: list[str] = field(default_factory=list)

    def cite(self, key: str) -> str:
        if CITATIONS[key] not in self.refs:
            self.refs.append(CITATIONS[key])
        return f"[{self.refs.index(CITATIONS[key]) + 1}]"


_CSV_QUOTING = (
    "In the CSV tables, a text cell (a gene id or name) that begins with =, +, -, @, a "
    "tab or a carriage return, which spreadsheet programs would run as a formula, is "
    "written with a leading single quote (OWASP's advice against CSV injection); remove "
    "that quote to recover the identifier."
)


def _trimming(m: MethodsInput, c: _Citations) -> str:
    """The clause on adapter trimming and the length filter."""
    v = m.versions
    short = "reads" if m.single_end else "pairs with a mate"
    if m.adapter:
        second = read2_adapter(m.adapter)
        which = "" if second == m.adapter.upper() or m.single_end else f" (on read 2: {second})"
        return (
            f"were trimmed of the 3' adapter {m.adapter.upper()}{which} with cutadapt "
            f"{_v(v, 'cutadapt')} {c.cite('cutadapt')} (error rate 0.1, minimum overlap 3), "
            f"discarding {short} shorter than {m.min_length} nt,"
        )
    return (
        f"were not adapter-trimmed (no adapter was declared); {short} shorter "
        f"than {m.min_length} nt were discarded,"
    )


def _counting(m: MethodsInput, c: _Citations, trim: str) -> list[str]:
    """Where the counts came from: a counts table as given, or reads aligned and counted."""
    v = m.versions
    if m.counts_table:
        return [
            f"Gene counts of {m.n_samples} samples in {m.n_groups} groups were read from the "
            f"table {m.counts_table} as given (no reads were trimmed, aligned or counted by "
            f"genejobs {_v(v, 'genejobs')}).",
        ]
    return [
        f"{'Single-end' if m.single_end else 'Paired-end'} reads of {m.n_samples} samples "
        f"in {m.n_groups} groups {trim} and "
        f"aligned to the {m.reference} genome with minimap2 {_v(v, 'mappy')} "
        f"{c.cite('minimap2')} (spliced short-read preset splice:sr, through its Python "
        "binding mappy).",
        f"{'Reads' if m.single_end else 'Read pairs'} were counted per gene of the "
        f"{m.annotation} annotation following "
        f"htseq-count's union mode with non-unique alignments discarded {c.cite('htseq')}, "
        f"as library type {m.library_type}, by genejobs {_v(v, 'genejobs')}.",
    ]


def _fragment_length(m: MethodsInput) -> list[str]:
    """salmon's fragment-length prior, stated when single-end reads needed one."""
    if not m.fragment_length:
        return []
    return [
        "Single-end reads carry no fragment length: salmon's effective transcript "
        f"lengths used a fragment-length prior of mean {m.fragment_length.get('mean')} "
        f"and standard deviation {m.fragment_length.get('sd')} nt (--fldMean, --fldSD)."
    ]


def _statistics(m: MethodsInput, c: _Citations) -> str:
    """The DESeq2 procedure: the design, the test and what was compared."""
    lrt = [x.removeprefix("LRT: ") for x in m.comparisons if x.startswith("LRT: ")]
    compared = (
        f"of the full design against the reduced design {lrt[0].split(' vs ')[-1]}"
        if lrt
        else f"for {', '.join(x.replace('_vs_', ' versus ') for x in m.comparisons)}"
    )
    tests = (
        "a likelihood-ratio test"
        if lrt
        else f"Wald tests of |log2 fold change| > {m.lfc_threshold:g} (DESeq2's lfcThreshold, "
        "alternative greaterAbs)"
        if m.lfc_threshold > 0
        else "Wald tests"
    )
    return (
        "Differential expression was tested with PyDESeq2 "
        f"{_v(m.versions, 'pydeseq2')} {c.cite('pydeseq2')}, an implementation of DESeq2 "
        f"{c.cite('deseq2')}, with genejobs' per-gene fits following DESeq2's own numerics: "
        "median-of-ratios size factors, a negative binomial model with "
        f"design {m.design.replace(' ', '')}, dispersions shrunk towards a fitted "
        f"mean-dispersion trend, {tests} "
        f"{compared}, Cook's "
        "distance outlier replacement, independent filtering and Benjamini-Hochberg "
        f"adjustment; genes with an adjusted p-value below {PADJ} are called significant."
    )


def _shrinkage_and_qc(m: MethodsInput, c: _Citations) -> list[str]:
    """The fold-change shrinkage and the QC tools, when the job used them."""
    v, parts = m.versions, []
    if m.shrunk:
        parts.append(
            "Log2 fold changes shown in the plots were shrunk with PyDESeq2's lfc_shrink "
            f"(apeglm-type prior) {c.cite('apeglm')}."
        )
    if m.qc:
        parts.append(
            f"Alignment quality was assessed with RSeQC {_v(v, 'RSeQC')} {c.cite('rseqc')} and "
            f"summarised with MultiQC {_v(v, 'multiqc')} {c.cite('multiqc')}."
        )
    return parts


def _enrichment(m: MethodsInput, c: _Citations) -> list[str]:
    """ORA and preranked GSEA, with each gene-set collection's release and origin."""
    if not m.enrichment:
        return []
    named = [
        f"{s['name']}"
        + (f" (release {s['release']})" if s.get("release") else "")
        + (
            f", kept with reference {s['origin'].removeprefix('reference ')}"
            if str(s.get("origin", "")).startswith("reference ")
            else (f" ({s['origin']})" if s.get("origin") else "")
        )
        for s in m.gene_sets
    ]
    sets = f" Gene sets: {'; '.join(named)}." if named else ""
    go = (
        " GO annotations were propagated to every ancestor term over is_a and part_of."
        if any(s.get("name") == "GO" for s in m.gene_sets)
        else ""
    )
    return [
        f"Gene-set enrichment was computed with GSEApy {_v(m.versions, 'gseapy')} "
        f"{c.cite('gseapy')}: "
        "over-representation (hypergeometric test) of the significant up- and "
        "down-regulated genes, separately, against the expressed genes as background, "
        f"Benjamini-Hochberg adjusted, and preranked GSEA {c.cite('gsea')} on the "
        f"{'shrunken log2 fold change' if m.shrunk else 'Wald statistic'}.{sets}{go}"
    ]


def methods_text(m: MethodsInput) -> tuple[str, list[str]]:
    """The Methods paragraph (plain text, ready to paste) and its numbered references.

    The sections are built in reading order: a reference's number is its first citation's.
    """
    c = _Citations()
    trim = _trimming(m, c)  # first: its cutadapt citation is numbered [1]
    parts = _counting(m, c, trim)
    parts += _fragment_length(m)
    parts.append(_statistics(m, c))
    parts += _shrinkage_and_qc(m, c)
    parts += _enrichment(m, c)
    parts.append(_CSV_QUOTING)
    return " ".join(parts), c.refs


def methods_markdown(title: str, text: str, refs: list[str]) -> str:
    lines = [f"# Methods — {title}", "", text, "", "## References", ""]
    lines += [f"{i}. {r}" for i, r in enumerate(refs, 1)]
    return "\n".join(lines) + "\n"


# -- notes -----------------------------------------------------------------------------

_EXPLAINED: list[tuple[str, str]] = [
    (
        r"Every gene contains at least one zero",
        "No gene had reads in every sample, so the usual size factors (median of ratios "
        "to a geometric mean) could not be computed; PyDESeq2 estimated them iteratively "
        "instead. Results are valid, but check that no sample is nearly empty (QC table).",
    ),
    (
        r"residual degrees of freedom is less than 3",
        "There are very few samples per group, so the spread of gene dispersions around "
        "their trend is poorly estimated. The statistics are usable but less reliable; "
        "more replicates per group would help.",
    ),
    (
        r"dispersion trend curve fitting did not converge",
        "The usual curve relating a gene's mean to its dispersion could not be fitted, so "
        "a constant (mean-based) trend was used. This happens with few genes or unusual "
        "data; p-values may be less well calibrated.",
    ),
    (
        r"design matrix is not full rank",
        "The groups cannot be told apart in the model (for example a group repeated under "
        "two names), so no test could be run.",
    ),
    (
        r"variance-stabilising transform failed",
        "The variance-stabilised counts could not be computed, so PCA, sample distances "
        "and heatmaps are missing; the differential-expression table is unaffected.",
    ),
    (
        r"NaN/infinite values during LFC shrinkage",
        "For these genes the shrunken fold changes could not be computed and the "
        "unshrunk values are shown.",
    ),
    (
        r"library_type auto: the reads look",
        "No library type was declared; genejobs read it from how reads fall on the gene "
        "strands and counted with it.",
    ),
    (
        r"fr-unstranded was declared",
        "The reads show a strand-specific library but it was counted as unstranded: "
        "counts include reads from the opposite strand (e.g. antisense transcripts), "
        "which blurs genes that overlap on opposite strands.",
    ),
]


# Notes that say what the run decided, not that something may be wrong.
_INFORMATION = (r"^library_type auto: the reads look ",)


def note_level(note: str) -> str:
    """'info' for a decision the run reports (an inferred library type), else 'warning'."""
    return "info" if any(re.search(p, note) for p in _INFORMATION) else "warning"


def explain(note: str) -> str:
    """A plain-words explanation of a statistics or pipeline warning ('' when unknown)."""
    for pattern, text in _EXPLAINED:
        if re.search(pattern, note):
            return text
    return ""
