"""Alignment QC with RSeQC's own modules, in the file formats MultiQC reads.

RSeQC ships its modules as scripts; running them as subprocesses keeps their
exact output (which MultiQC parses) and isolates their memory use. Each module
that fails is recorded and skipped: one failing module does not sink the QC.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from genejobs.pipeline.records import LibraryType

log = logging.getLogger(__name__)
BIN = Path(sys.executable).parent

# (module, arguments after -i BAM, where stdout goes, where stderr goes)
MODULES: tuple[tuple[str, list[str], str | None, str | None], ...] = (
    ("bam_stat.py", [], "{s}.bam_stat.txt", None),
    ("infer_experiment.py", ["-r", "{bed}"], "{s}.infer_experiment.txt", None),
    ("read_distribution.py", ["-r", "{bed}"], "{s}.read_distribution.txt", None),
    (
        "junction_annotation.py",
        ["-r", "{bed}", "-o", "{out}/{s}"],
        None,
        "{s}.junction_annotation.log",
    ),
    ("inner_distance.py", ["-r", "{bed}", "-o", "{out}/{s}"], "{s}.inner_distance.log", None),
    ("geneBody_coverage.py", ["-r", "{bed}", "-o", "{out}/{s}"], None, "{s}.geneBody_coverage.log"),
)


@dataclass
class QcResult:
    sample: str
    files: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    strandedness: dict[str, float] = field(default_factory=dict)
    skipped_plots: list[str] = field(default_factory=list)  # PDFs not drawn: no R

    @property
    def observed_library_type(self) -> LibraryType | None:
        """What infer_experiment saw: ≥ 75% one way is stranded, else unstranded."""
        first = self.strandedness.get("1+-,1-+,2++,2--")
        second = self.strandedness.get("1++,1--,2+-,2-+")
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


def run_rseqc(
    bam: Path,
    bed: Path,
    out_dir: Path,
    sample: str,
    *,
    timeout_s: int = 1800,
    only: set[str] | None = None,
) -> QcResult:
    """Run each RSeQC module on a sorted, indexed BAM; outputs land in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = QcResult(sample)
    for script, args, stdout_name, stderr_name in MODULES:
        if only is not None and script not in only:
            continue
        fmt = {"bed": str(bed), "out": str(out_dir), "s": sample}
        cmd = [sys.executable, str(BIN / script), "-i", str(bam), *[a.format(**fmt) for a in args]]
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, cwd=out_dir
            )
        except subprocess.TimeoutExpired:
            result.failed[script] = f"timed out after {timeout_s} s"
            continue
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1][:300]
            if "Rscript" not in last:
                result.failed[script] = last
                log.warning("QC %s failed for %s: %s", script, sample, last)
                continue
            # These modules write their data files, then call R only to draw a PDF;
            # MultiQC reads the data, so the module counts as done without the PDF.
            result.skipped_plots.append(script)
        if stdout_name:
            path = out_dir / stdout_name.format(**fmt)
            path.write_text(done.stdout)
        if stderr_name:
            (out_dir / stderr_name.format(**fmt)).write_text(done.stderr)
        if script == "infer_experiment.py":
            result.strandedness = parse_infer_experiment(done.stdout)
    result.files = sorted(p for p in out_dir.iterdir() if p.is_file())
    return result


def run_multiqc(qc_dir: Path, out_dir: Path, *, title: str) -> Path | None:
    """MultiQC over a folder of QC files; returns the report path, or None when it failed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "multiqc",
        str(qc_dir),
        "-o",
        str(out_dir),
        "--title",
        title,
        "--filename",
        "multiqc_report.html",
        "--force",
        "--no-ansi",
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    report = out_dir / "multiqc_report.html"
    if done.returncode != 0 or not report.exists():
        log.warning("MultiQC failed: %s", done.stderr[-500:])
        return None
    return report
