"""The minimap2 index, built once per reference with the aligner's own preset.

The build runs in a child process (``python -m genejobs.references.index``): it is
minutes of C for a human genome, during which a Python signal handler would not
run, so an interrupted ``ref add`` could not stop it or clean up. The parent waits,
reports progress, and kills the child when it is itself interrupted. The child's
memory (the whole index, ~1 byte per genome base per minimizer density) is given
back when it exits.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ALIGNER_PRESET = "splice:sr"
# splice:sr's own minimizer settings. Extrapolated from bench/bench_human.py (README
# "Sizing"), building a GRCh38-sized index peaks at ~46 GiB with w=5 and ~26 GiB with
# w=10 (more than a 24 GB node), ~18 GiB with w=15, which counted as many pairs right
# against the simulator's truth; so genomes above 1 Gb get w=15.
PRESET_K, PRESET_W = 15, 5
LARGE_GENOME_BP = 1_000_000_000
LARGE_GENOME_W = 15


def choose_index_params(genome_bp: int) -> tuple[int, int]:
    """(k, w) for a genome: the preset's up to 1 Gb, a sparser window beyond, so a
    GRCh38-sized index stays well inside a 24 GB node (measured by bench_human.py)."""
    if genome_bp > LARGE_GENOME_BP:
        return PRESET_K, LARGE_GENOME_W
    return PRESET_K, PRESET_W


def build_index(
    fasta_path: Path,
    index_path: Path,
    *,
    preset: str = ALIGNER_PRESET,
    k: int | None = None,
    w: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Build ``index_path`` (.mmi) from FASTA in a child process; written under a
    temporary name, then renamed. ``progress`` gets the seconds spent, every few."""
    tmp = index_path.with_name(index_path.name + ".part")
    cmd = [sys.executable, "-m", "genejobs.references.index", str(fasta_path), str(tmp)]
    cmd += ["--preset", preset, "--parent", str(os.getpid())]
    if k is not None:
        cmd += ["-k", str(k)]
    if w is not None:
        cmd += ["-w", str(w)]
    started = time.monotonic()
    child = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            try:
                child.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                if progress is not None:
                    progress(time.monotonic() - started)
        error = child.stderr.read() if child.stderr else ""
    except BaseException:
        child.kill()
        child.wait()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if child.stderr:
            child.stderr.close()
    if child.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (error.strip().splitlines() or [f"exit status {child.returncode}"])[-1]
        raise RuntimeError(f"minimap2 could not build an index from {fasta_path}: {last}")
    os.replace(tmp, index_path)


def _die_with_parent(parent: int) -> None:
    """Be killed when the parent dies, even by SIGKILL (Linux), so a killed ``ref add``
    leaves no index build running."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return  # not Linux: a killed parent leaves the build to finish on its own
    if os.getppid() != parent:  # it died before prctl took effect
        raise SystemExit(1)


def _main() -> int:
    p = argparse.ArgumentParser(prog="python -m genejobs.references.index")
    p.add_argument("fasta")
    p.add_argument("out")
    p.add_argument("--preset", default=ALIGNER_PRESET)
    p.add_argument("-k", type=int)
    p.add_argument("-w", type=int)
    p.add_argument("--parent", type=int, default=0)
    a = p.parse_args()
    if a.parent:
        _die_with_parent(a.parent)
    import mappy

    extra = {name: v for name, v in (("k", a.k), ("w", a.w)) if v is not None}
    aligner = mappy.Aligner(a.fasta, preset=a.preset, fn_idx_out=a.out, **extra)
    if not aligner:
        print("mappy returned no index", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
