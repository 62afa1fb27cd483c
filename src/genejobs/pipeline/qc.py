"""Alignment QC with RSeQC's own modules, in the file formats MultiQC reads.

RSeQC ships its modules as scripts; running the scripts' own code keeps their
exact output (which MultiQC parses). They run in one ``rseqc_runner`` process that
imports RSeQC's libraries once and forks a child per module, which isolates their
memory use without paying an interpreter start-up per module. They are
single-threaded, so a worker runs as many at once as it has threads. Each module
that fails is recorded and skipped: one failing module does not sink the QC.
"""

from __future__ import annotations

import bisect
import html
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam

from genejobs.pipeline.records import LibraryType, StopCheck
from genejobs.references.model import Gene

log = logging.getLogger(__name__)
BIN = Path(sys.executable).parent
# geneBody_coverage piles up every base of every transcript it is given: on a whole
# human annotation that takes hours, which is why RSeQC's documentation advises a
# housekeeping-gene subset. We give it the sample's own best-covered genes instead.
GENEBODY_GENES = 1000
_STOP_POLL_S = 0.5  # how often a running QC looks at the job's stop check

# RSeQC's distribution-type modules estimate shapes, not totals (inner_distance itself
# reads only the first 1M pairs by default, in coordinate order): they get a
# deterministic subsample of at most this many aligned pairs, the same pairs every run
# (samtools' hash of the read name). bam_stat, read_distribution, infer_experiment and
# junction_annotation see every read. Why 250k: on a 2M-pair sample (README, "QC")
# inner_distance's mean and SD were the same at 100k, 250k, 500k and 1M pairs
# (77.5-77.6 / 61.7-61.8), the gene-body curve at 250k matched 100k within 0.02, and
# more pairs distort that curve: RSeQC piles up with pysam's default max_depth of 8,000,
# which the full sample exceeded at 5,882 positions (its busiest gene: 46,913 deep).
# The two modules cost 23 CPU-s at 250k against 90 at 1M.
DISTRIBUTION_MODULES = frozenset({"geneBody_coverage.py", "inner_distance.py"})
DISTRIBUTION_PAIRS = 250_000
SUBSAMPLE_SEED = 0
# Modules that need read pairs, and why they are skipped for single-end reads.
PAIRED_ONLY = {
    "inner_distance.py": "skipped: single-end reads have no mate, so no inner distance "
    "between mates to measure",
}

# (module, arguments after -i BAM, where stdout goes, where stderr goes)
# Longest first (as measured, bench/bench_qc.py), so that none starts last.
MODULES: tuple[tuple[str, list[str], str | None, str | None], ...] = (
    (
        "geneBody_coverage.py",
        ["-r", "{genebody_bed}", "-o", "{out}/{s}"],
        None,
        "{s}.geneBody_coverage.log",
    ),
    ("inner_distance.py", ["-r", "{bed}", "-o", "{out}/{s}"], "{s}.inner_distance.log", None),
    (
        "junction_annotation.py",
        ["-r", "{bed}", "-o", "{out}/{s}"],
        None,
        "{s}.junction_annotation.log",
    ),
    ("read_distribution.py", ["-r", "{bed}"], "{s}.read_distribution.txt", None),
    ("infer_experiment.py", ["-r", "{bed}"], "{s}.infer_experiment.txt", None),
    ("bam_stat.py", [], "{s}.bam_stat.txt", None),
)


@dataclass
class QcResult:
    sample: str
    files: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # module -> why it did not run
    strandedness: dict[str, float] = field(default_factory=dict)
    skipped_plots: list[str] = field(default_factory=list)  # PDFs not drawn: no R
    seconds: dict[str, float] = field(default_factory=dict)  # per module: wall time
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # and CPU (with its R)
    aligned_pairs: int | None = None  # in the BAM
    distribution_pairs: int | None = None  # of those, what DISTRIBUTION_MODULES read

    @property
    def observed_library_type(self) -> LibraryType | None:
        """What infer_experiment saw: ≥ 75% one way is stranded, else unstranded.

        Its rules for pairs (``1+-,1-+,2++,2--`` is read 1 antisense: firststrand) or,
        for single-end reads, ``+-,-+`` (antisense) and ``++,--`` (sense)."""
        rules = self.strandedness
        first = rules.get("1+-,1-+,2++,2--", rules.get("+-,-+"))
        second = rules.get("1++,1--,2+-,2-+", rules.get("++,--"))
        if first is None or second is None:
            return None
        if first >= 0.75:
            return LibraryType.FIRSTSTRAND
        if second >= 0.75:
            return LibraryType.SECONDSTRAND
        return LibraryType.UNSTRANDED


def parse_infer_experiment(text: str) -> dict[str, float]:
    """The 'Fraction of reads explained by "<rule>": x' lines, by rule."""
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'explained by "([^"]+)":\s*([0-9.]+)', text)
    }


def _bed12_blocks_length(fields: list[str]) -> int:
    if len(fields) >= 12:
        return sum(int(x) for x in fields[10].rstrip(",").split(",") if x)
    return int(fields[2]) - int(fields[1])


def genebody_bed(
    bed_text: str,
    genes: Sequence[Gene],
    coverage: np.ndarray,
    limit: int = GENEBODY_GENES,
) -> str:
    """BED12 lines for geneBody_coverage: the longest transcript of each of the
    ``limit`` genes with the most reads (``coverage`` is aligned with ``genes``).

    A transcript stands for a gene when it lies on the gene's chromosome and strand
    and overlaps it; each gene keeps its transcript with the most exonic bases.
    """
    order = [int(i) for i in np.argsort(-np.asarray(coverage), kind="stable") if coverage[i] > 0]
    chosen = [genes[i] for i in order[:limit]]
    by_locus: dict[tuple[str, str], list[Gene]] = {}
    for gene in chosen:
        by_locus.setdefault((gene.chrom, gene.strand), []).append(gene)
    starts: dict[tuple[str, str], list[int]] = {}
    for locus, members in by_locus.items():
        members.sort(key=lambda g: g.start)
        starts[locus] = [g.start for g in members]
    best: dict[str, tuple[int, str]] = {}  # gene id -> (exonic length, BED line)
    for line in bed_text.splitlines():
        fields = line.split("\t")
        if len(fields) < 6 or line.startswith(("#", "track", "browser")):
            continue
        locus = (fields[0], fields[5])
        if locus not in by_locus:
            continue
        start, end = int(fields[1]), int(fields[2])
        members = by_locus[locus]
        # Genes that start before this transcript ends; the nearest few can overlap it.
        k = bisect.bisect_left(starts[locus], end) - 1
        length = _bed12_blocks_length(fields)
        for gene in members[max(0, k - 20) : k + 1]:
            if gene.end > start and length > best.get(gene.gene_id, (0, ""))[0]:
                best[gene.gene_id] = (length, line)
    lines = sorted({line for _, line in best.values()})
    return "".join(f"{line}\n" for line in lines)


def run_rseqc(
    bam: Path,
    bed: Path,
    out_dir: Path,
    sample: str,
    *,
    timeout_s: int = 1800,
    only: set[str] | None = None,
    threads: int = 1,
    genebody: Path | None = None,
    distribution_bam: Path | None = None,
    stop: StopCheck | None = None,
    paired: bool = True,
) -> QcResult:
    """Run each RSeQC module on a sorted, indexed BAM; outputs land in ``out_dir``.

    ``threads`` modules run at once; ``genebody`` is the (smaller) BED that
    geneBody_coverage gets (see ``genebody_bed``), the full ``bed`` by default;
    ``distribution_bam`` (a subsample, see ``subsample_bam``) is what the
    ``DISTRIBUTION_MODULES`` read instead of ``bam``.
    All modules run in one ``rseqc_runner`` process that imports RSeQC's
    libraries once (see there); ``timeout_s`` holds for each module. ``stop``
    (the job's stop check) is looked at while they run: a cancelled job does not
    wait for a module that can take many minutes. Single-end reads (``paired``
    False) skip the modules that need pairs (``PAIRED_ONLY``), saying why.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    result = QcResult(sample)
    fmt = {"bed": str(bed), "out": str(out_dir), "s": sample, "genebody_bed": str(genebody or bed)}
    modules = [m for m in MODULES if only is None or m[0] in only]
    if not paired:
        result.skipped = {m[0]: PAIRED_ONLY[m[0]] for m in modules if m[0] in PAIRED_ONLY}
        modules = [m for m in modules if m[0] not in PAIRED_ONLY]
    with tempfile.TemporaryDirectory(prefix="rseqc-") as tmp:
        streams = Path(tmp)  # each module's stdout and stderr, kept out of out_dir
        jobs = _runner_jobs(modules, fmt, bam, distribution_bam, out_dir, streams)
        done, runner_error = _run_runner(jobs, threads=threads, timeout_s=timeout_s, stop=stop)
        for script, _, stdout_name, stderr_name in modules:
            if script not in done:
                result.failed[script] = runner_error or "not run"
                continue
            returncode, seconds, cpu = done[script]
            result.seconds[script] = seconds
            if cpu is not None:
                result.cpu_seconds[script] = cpu
            if returncode is None:
                result.failed[script] = f"timed out after {timeout_s} s"
                continue
            # Read as text, as the scripts' captured output always was ("\r" becomes "\n").
            stdout = _read(streams / f"{script}.out")
            stderr = _read(streams / f"{script}.err")
            if returncode != 0:
                last = (stderr.strip().splitlines() or [f"exit status {returncode}"])[-1][:300]
                if "Rscript" not in last:
                    result.failed[script] = last
                    log.warning("QC %s failed for %s: %s", script, sample, last)
                    continue
                # These modules write their data files, then call R only to draw a PDF;
                # MultiQC reads the data, so the module counts as done without the PDF.
                result.skipped_plots.append(script)
            if stdout_name:
                (out_dir / stdout_name.format(**fmt)).write_text(stdout)
            if stderr_name:
                (out_dir / stderr_name.format(**fmt)).write_text(stderr)
            if script == "infer_experiment.py":
                result.strandedness = parse_infer_experiment(stdout)
    result.files = sorted(p for p in out_dir.iterdir() if p.is_file())
    return result


def _runner_jobs(
    modules: Sequence[tuple[str, list[str], str | None, str | None]],
    fmt: dict[str, str],
    bam: Path,
    distribution_bam: Path | None,
    out_dir: Path,
    streams: Path,
) -> list[dict[str, object]]:
    """What the RSeQC runner runs: per module its script, arguments and output files."""
    return [
        {
            "name": script,
            "script": str(BIN / script),
            "args": [
                "-i",
                str(
                    distribution_bam if script in DISTRIBUTION_MODULES and distribution_bam else bam
                ),
                *[a.format(**fmt) for a in args],
            ],
            "cwd": str(out_dir),
            "stdout": str(streams / f"{script}.out"),
            "stderr": str(streams / f"{script}.err"),
        }
        for script, args, _, _ in modules
    ]


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _run_runner(
    jobs: Sequence[Mapping[str, object]],
    *,
    threads: int,
    timeout_s: int,
    stop: StopCheck | None = None,
) -> tuple[dict[str, tuple[int | None, float, float | None]], str | None]:
    """Run ``jobs`` in one ``rseqc_runner`` process: script -> (exit status, None when
    timed out; wall and CPU seconds), and the runner's own error when it died (its
    modules then fail). ``stop`` is called while it runs; when it raises, the runner
    and its modules are stopped and the error goes on."""
    cmd = [
        sys.executable,
        "-m",
        "genejobs.pipeline.rseqc_runner",
        "--threads",
        str(max(1, threads)),
        "--timeout",
        str(timeout_s),
    ]
    # Every module may take its full timeout, one after another; plus start-up.
    budget = timeout_s * len(jobs) + 60
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = _communicate(proc, json.dumps(jobs), budget=budget, stop=stop)
    except subprocess.TimeoutExpired:
        return {}, f"RSeQC runner timed out after {budget} s"
    try:
        report = json.loads(stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        last = (stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        log.warning("RSeQC runner failed: %s", stderr[-500:])
        return {}, f"RSeQC runner failed: {last[:300]}"
    return {
        name: (entry["returncode"], entry["seconds"], entry["cpu_seconds"])
        for name, entry in report.items()
    }, None


def _communicate(
    proc: subprocess.Popen[str], text: str, *, budget: float, stop: StopCheck | None
) -> tuple[str, str]:
    """``proc.communicate(text)``, looking at ``stop`` every ``_STOP_POLL_S`` seconds.

    A stop (the job was cancelled or interrupted) terminates the runner, which
    kills the modules it started (their own process groups), and re-raises.
    """
    deadline = time.monotonic() + budget
    first = True
    while True:
        try:
            wait = min(_STOP_POLL_S, max(0.0, deadline - time.monotonic()))
            stdout, stderr = proc.communicate(text if first else None, timeout=wait)
            return stdout, stderr
        except subprocess.TimeoutExpired:
            first = False
            if time.monotonic() < deadline:
                try:
                    if stop is not None:
                        stop()
                    continue
                except BaseException:
                    _end_runner(proc)
                    raise
            _end_runner(proc)
            raise


def _end_runner(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (the runner then kills its modules), SIGKILL if that is not enough."""
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def run_sample_qc(
    bam: Path,
    bed: Path,
    out_dir: Path,
    sample: str,
    *,
    genes: Sequence[Gene],
    coverage: np.ndarray,
    aligned_pairs: int,
    threads: int = 1,
    max_pairs: int = DISTRIBUTION_PAIRS,
    stop: StopCheck | None = None,
    paired: bool = True,
) -> QcResult:
    """RSeQC as a job runs it: geneBody_coverage on the sample's best-covered genes
    (``coverage`` aligned with ``genes``), the other modules on the full ``bed``;
    the distribution modules on at most ``max_pairs`` of the ``aligned_pairs``.

    How many pairs they read is written to ``<sample>.qc_subsample.txt`` and kept
    in the result."""
    subset = bam.with_name(f"{sample}.genebody.bed")  # beside the BAM, not among the outputs
    subset.write_text(genebody_bed(bed.read_text(), genes, coverage))
    sub, used, how = bam, aligned_pairs, "every aligned pair"
    if aligned_pairs > max_pairs:
        sub = bam.with_name(f"{sample}.subsample.bam")
        fraction = subsample_bam(
            bam, sub, aligned_pairs=aligned_pairs, max_pairs=max_pairs, paired=paired
        )
        used = count_pairs(sub, paired=paired)
        how = (
            f"samtools view --subsample {fraction:.6f} --subsample-seed {SUBSAMPLE_SEED} "
            "(a hash of the read name: the same pairs every run)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{sample}.qc_subsample.txt").write_text(
        "# read pairs each RSeQC module read (genejobs)\n"
        "module\tpairs\taligned_pairs\tselection\n"
        + "".join(
            f"{m}\t{used if m in DISTRIBUTION_MODULES else aligned_pairs}\t{aligned_pairs}\t"
            f"{how if m in DISTRIBUTION_MODULES else 'every read'}\n"
            for m, _, _, _ in MODULES
            if paired or m not in PAIRED_ONLY
        )
    )
    try:
        result = run_rseqc(
            bam,
            bed,
            out_dir,
            sample,
            threads=threads,
            genebody=subset,
            distribution_bam=sub,
            stop=stop,
            paired=paired,
        )
    finally:
        if sub != bam:  # the subsample was only for the modules (human scale: GBs)
            for path in (sub, sub.with_name(sub.name + ".bai")):
                path.unlink(missing_ok=True)
    result.aligned_pairs, result.distribution_pairs = aligned_pairs, used
    return result


def subsample_bam(
    bam: Path, out: Path, *, aligned_pairs: int, max_pairs: int, paired: bool = True
) -> float:
    """Write (and index) a BAM of about ``max_pairs`` of ``bam``'s aligned pairs, chosen
    by samtools' hash of the read name (mates stay together; the same pairs every run).

    The share aims 5 standard deviations below ``max_pairs``, so the subsample stays
    within it; pairs with neither mate aligned (single-end: unaligned reads) are left
    out. Returns the share."""
    target = max(1.0, max_pairs - 5 * max_pairs**0.5)
    fraction: float = min(1.0, target / max(1, aligned_pairs))
    pysam.view(
        "-u",  # uncompressed: a temporary file, read twice, deleted with the BAM's folder
        "--subsample",
        f"{fraction:.6f}",
        "--subsample-seed",
        str(SUBSAMPLE_SEED),
        *(["-G", "12"] if paired else ["-F", "4"]),  # both mates unmapped / read unmapped
        "-o",
        str(out),
        str(bam),
        catch_stdout=False,
    )
    pysam.index(str(out))
    return fraction


def count_pairs(bam: Path, *, paired: bool = True) -> int:
    """Read pairs in a BAM: its read-1 records (single-end: its primary records)."""
    flags = ["-f", "64"] if paired else ["-F", "0x900"]
    return int(str(pysam.view("-c", *flags, str(bam))).strip())


# Mates as one General Statistics row per sample (expandable into R1/R2 in the HTML);
# genejobs' read QC named for what it is.
MERGE_LABELS = {"Read 1": ["_R1"], "Read 2": ["_R2"]}


# MultiQC's FastQC plots are titled "FastQC: ..."; ours are genejobs' read QC.
READ_QC_PLOTS = {
    "fastqc_sequence_counts_plot": "Sequence Counts",
    "fastqc_per_base_sequence_quality_plot": "Mean Quality Scores",
    "fastqc_per_sequence_quality_scores_plot": "Per Sequence Quality Scores",
    "fastqc_per_sequence_gc_content_plot": "Per Sequence GC Content",
    "fastqc_per_base_n_content_plot": "Per Base N Content",
    "fastqc_sequence_length_distribution_plot": "Sequence Length Distribution",
    "fastqc_sequence_duplication_levels_plot": "Sequence Duplication Levels",
    "fastqc_overrepresented_sequences_plot": "Overrepresented sequences sample summary",
    "fastqc_top_overrepresented_sequences_table": "Top overrepresented sequences",
    "fastqc_adapter_content_plot": "Adapter Content",
    "fastqc-status-check-heatmap": "Status Checks",
}


def read_count_units(max_reads: int | None) -> dict[str, object]:
    """MultiQC shows read counts in millions by default: a test run's 3,000 reads read
    "0.0M". Choose the unit from the largest sample."""
    if max_reads is None or max_reads >= 10_000_000:
        return {}
    if max_reads >= 100_000:
        return {
            "read_count_multiplier": 0.001,
            "read_count_prefix": "K",
            "read_count_desc": "thousands",
        }
    return {"read_count_multiplier": 1, "read_count_prefix": "", "read_count_desc": ""}


def largest_read_count(qc_dir: Path) -> int | None:
    """The most reads of any read file, from the read QC's fastqc_data.txt files."""
    found = None
    for data in qc_dir.rglob("fastqc_data.txt"):
        for line in data.read_text(errors="replace").splitlines():
            if line.startswith("Total Sequences\t"):
                n = int(line.split("\t", 1)[1].strip() or 0)
                found = n if found is None else max(found, n)
                break
    return found


def multiqc_config(version: str, max_reads: int | None = None) -> dict[str, object]:
    """MultiQC settings for a job's QC report."""
    return read_count_units(max_reads) | {
        "custom_plot_config": {
            plot: {"title": f"Read QC (genejobs): {title}"} for plot, title in READ_QC_PLOTS.items()
        },
        "table_sample_merge": MERGE_LABELS,
        "module_order": [
            {
                "fastqc": {
                    "name": "Read QC (genejobs)",
                    "info": "was made by genejobs while it trimmed the reads, in FastQC's "
                    "data format (FastQC itself did not run).",
                }
            },
            "rseqc",
            "htseq",
        ],
        "software_versions": {"genejobs": {"genejobs": version}},
        "intro_text": "Read and alignment QC of this genejobs job's samples.",
        "show_analysis_paths": False,  # a temporary staging folder, meaningless to readers
    }


def one_row_per_sample(stats_txt: Path) -> None:
    """Keep only the per-sample rows of ``multiqc_general_stats.txt`` (MultiQC also lists
    the mates it merged, as '<sample> Read 1/2'; their values are in the sample's row)."""
    if not stats_txt.exists():
        return
    suffixes = tuple(f" {label}" for label in MERGE_LABELS)
    lines = stats_txt.read_text().splitlines(keepends=True)
    kept = lines[:1] + [ln for ln in lines[1:] if not ln.split("\t", 1)[0].endswith(suffixes)]
    stats_txt.write_text("".join(kept))


def multiqc_title(title: str) -> str:
    """The job's name as MultiQC may print it: MultiQC puts ``--title`` unescaped into its
    HTML and into a double-quoted JavaScript string, and the submitter chose the name.
    As entities, markup shows as text in both; a backslash cannot end the JS string."""
    return html.escape(title, quote=True).replace("\\", "&#92;")


def run_multiqc(qc_dir: Path, out_dir: Path, *, title: str, version: str = "") -> Path | None:
    """MultiQC over a folder of QC files; returns the report path, or None when it failed."""
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "genejobs_multiqc_config.yaml"
    config.write_text(
        yaml.safe_dump(multiqc_config(version or "unknown", largest_read_count(qc_dir)))
    )
    cmd = [
        sys.executable,
        "-m",
        "multiqc",
        str(qc_dir),
        "-o",
        str(out_dir),
        "--title",
        multiqc_title(title),
        "--config",
        str(config),
        "--filename",
        "multiqc_report.html",
        "--force",
        "--no-ansi",
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    config.unlink(missing_ok=True)
    report = out_dir / "multiqc_report.html"
    if done.returncode != 0 or not report.exists():
        log.warning("MultiQC failed: %s", done.stderr[-500:])
        return None
    for stats in out_dir.glob("*_data/multiqc_general_stats.txt"):
        one_row_per_sample(stats)
    return report
