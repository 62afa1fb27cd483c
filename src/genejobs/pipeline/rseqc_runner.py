"""Run RSeQC's module scripts in one pre-imported process, a forked child per module.

Each RSeQC script started as its own interpreter spends ~0.2 s importing numpy,
pysam and bx-python before reading a single alignment; on demo-sized samples that
is a large share of QC. This runner imports them once, then forks a child per
module that runs the installed script's own code (``runpy``) with its ``argv``,
its working folder and its stdout/stderr on files at the file-descriptor level,
so what the script writes (and what the R it starts prints) lands exactly as if
it ran as a subprocess. A child is a separate process, so a module's memory and
crashes stay its own, and a timeout kills it (and its R) without the others.

Forking is safe here: the runner starts no threads, and ``main`` holds BLAS to
one thread before numpy is imported (in this process only: importing the module
changes nothing). Used by ``genejobs.pipeline.qc``:

    python -m genejobs.pipeline.rseqc_runner --threads 2 --timeout 1800 < jobs.json

stdin is a JSON list of ``{"name", "script", "args", "cwd", "stdout", "stderr"}``;
stdout gets one JSON object ``{name: {"returncode", "seconds", "cpu_seconds"}}``
(``returncode`` null: timed out).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# Set by ``main`` in the runner process (inherited by the modules and their R).
RUNNER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # The modules' R plot scripts use only these; R then skips loading ``methods``,
    # ``utils`` and ``datasets`` (about half of each Rscript's start-up).
    "R_DEFAULT_PACKAGES": "grDevices,graphics,stats",
}
# RSeQC release series (major.minor) whose ``qcmodule.mystat.percentile_list`` and
# geneBody_coverage's use of it were read for ``speed_up_percentile_lookups``;
# checked on 5.0.6. With another version the modules run unpatched (slower).
CHECKED_RSEQC: tuple[str, ...] = ("5.0",)

POLL_S = 0.005
# What RSeQC's QC scripts import; loaded once here, shared by every forked child.
PRELOAD = (
    "numpy",
    "pysam",
    "bx.intervals.intersection",
    "bx.bitset",
    "bx.bitset_builders",
    "qcmodule.SAM",
    "qcmodule.BED",
    "qcmodule.bam_cigar",
    "qcmodule.getBamFiles",
    "qcmodule.mystat",
)


def preload() -> None:
    """Import what the modules need; a missing one is the module's error to report."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


class _Positions(list[int]):
    """A list of positions whose ``in`` is a set lookup, not a scan.

    geneBody_coverage asks ``position in positions`` (RSeQC's 100 percentile
    positions of a transcript, a list) for every covered base of the transcript's
    span; the scan was most of that module's time. Same elements, same order,
    same answers: every output stays byte-identical.
    """

    def __init__(self, items: list[int]) -> None:
        super().__init__(items)
        self._set = frozenset(items)

    def __contains__(self, item: object) -> bool:
        return item in self._set


def rseqc_version() -> str | None:
    """The installed RSeQC's version, or None when it is not installed."""
    try:
        return version("RSeQC")
    except PackageNotFoundError:
        return None


def speed_up_percentile_lookups(installed: str | None = None) -> bool:
    """Make ``qcmodule.mystat.percentile_list`` return ``_Positions`` (see there).

    Only for the RSeQC versions in ``CHECKED_RSEQC`` (``installed`` defaults to the
    installed one); returns whether the patch is in place.
    """
    installed = installed or rseqc_version()
    if installed is None or not any(
        installed == s or installed.startswith(f"{s}.") for s in CHECKED_RSEQC
    ):
        return False
    try:
        from qcmodule import mystat
    except ImportError:
        return False
    original = mystat.percentile_list
    if getattr(original, "_genejobs", False):
        return True

    def percentile_list(values: Any) -> Any:
        found = original(values)
        return _Positions(found) if isinstance(found, list) else found

    percentile_list._genejobs = True  # type: ignore[attr-defined]  # marks our wrapper: patch once
    mystat.percentile_list = percentile_list
    return True


def _exit_code(exc: SystemExit) -> int:
    """The exit status the interpreter would give for ``sys.exit(code)``."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_child(job: dict[str, Any]) -> int:
    """In the forked child: point fds 1/2 at the job's files and run its script."""
    os.setpgid(0, 0)  # its own group, so a timeout also kills the Rscript it starts
    os.chdir(job["cwd"])
    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # lives as long as the child
    sys.stderr = open(2, "w", closefd=False)
    sys.argv = [job["script"], *job["args"]]
    try:
        runpy.run_path(job["script"], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # report any crash as the script would
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def run_jobs(jobs: list[dict[str, Any]], *, threads: int, timeout_s: float) -> dict[str, Any]:
    """Fork up to ``threads`` children at once, in the given order; wait for all."""
    pending = list(jobs)
    running: dict[int, tuple[str, float]] = {}  # pid -> (name, start)
    results: dict[str, Any] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        while pending or running:
            while pending and len(running) < max(1, threads):
                job = pending.pop(0)
                pid = os.fork()
                if pid == 0:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    code = 1
                    try:
                        code = run_child(job)
                    finally:
                        os._exit(code)
                try:  # also here, so that a kill cannot come before the child's own call
                    os.setpgid(pid, pid)
                except OSError:
                    pass
                running[pid] = (job["name"], time.perf_counter())
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            now = time.perf_counter()
            if pid:
                name, start = running.pop(pid)
                results[name] = {
                    "returncode": os.waitstatus_to_exitcode(status),
                    "seconds": round(now - start, 3),
                    # CPU of the module and the R it ran: steadier than wall time on a busy host
                    "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                }
                continue
            for pid, (name, start) in list(running.items()):
                if now - start > timeout_s:
                    _kill(pid)
                    os.waitpid(pid, 0)
                    del running[pid]
                    results[name] = {
                        "returncode": None,
                        "seconds": round(now - start, 3),
                        "cpu_seconds": None,
                    }
            time.sleep(POLL_S)
    finally:
        for pid in running:
            _kill(pid)
    return results


def _kill(pid: int) -> None:
    """SIGKILL the child's process group (it and any R it started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800)
    a = p.parse_args(argv)
    for name, value in RUNNER_ENV.items():
        os.environ.setdefault(name, value)
    jobs = json.load(sys.stdin)
    # A stopped job's QC terminates the runner: unwind, so run_jobs kills its modules.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    preload()
    if not speed_up_percentile_lookups():
        print(
            f"RSeQC {rseqc_version()} is not in {CHECKED_RSEQC}: geneBody_coverage runs unpatched",
            file=sys.stderr,
        )
    results = run_jobs(jobs, threads=a.threads, timeout_s=a.timeout)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
