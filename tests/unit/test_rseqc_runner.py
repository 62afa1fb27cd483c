"""The RSeQC runner: scripts run as if started alone; failures and timeouts are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genejobs.errors import CancelledError
from genejobs.pipeline import qc
from genejobs.pipeline.qc import run_rseqc


def _runner(jobs: list[dict[str, object]], *, threads: int = 2, timeout: float = 30) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "genejobs.pipeline.rseqc_runner", "--threads", str(threads)]
        + ["--timeout", str(timeout)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def _job(tmp: Path, name: str, code: str, *args: str) -> dict[str, object]:
    script = tmp / f"{name}.py"
    script.write_text(code)
    return {
        "name": name,
        "script": str(script),
        "args": list(args),
        "cwd": str(tmp),
        "stdout": str(tmp / f"{name}.out"),
        "stderr": str(tmp / f"{name}.err"),
    }


def test_a_script_sees_its_argv_and_cwd_and_its_children_write_to_its_files(tmp_path) -> None:
    code = (
        "import os, subprocess, sys\n"
        "print(' '.join(sys.argv[1:]), os.getcwd())\n"
        "sys.stdout.flush()\n"
        "subprocess.run(['echo', 'from a child process'], check=True)\n"
        "print('to stderr', file=sys.stderr)\n"
    )
    report = _runner([_job(tmp_path, "ok", code, "-i", "x.bam")])
    assert report["ok"]["returncode"] == 0 and report["ok"]["seconds"] >= 0
    out = (tmp_path / "ok.out").read_text()
    assert out == f"-i x.bam {tmp_path}\nfrom a child process\n"
    assert (tmp_path / "ok.err").read_text() == "to stderr\n"


def test_exit_statuses_are_those_of_a_separate_interpreter(tmp_path) -> None:
    jobs = [
        _job(tmp_path, "three", "import sys\nsys.exit(3)\n"),
        _job(tmp_path, "message", "import sys\nsys.exit('bad input')\n"),
        _job(tmp_path, "crash", "raise RuntimeError('boom')\n"),
    ]
    report = _runner(jobs, threads=1)
    assert {k: v["returncode"] for k, v in report.items()} == {
        "three": 3,
        "message": 1,
        "crash": 1,
    }
    assert (tmp_path / "message.err").read_text() == "bad input\n"
    assert "RuntimeError: boom" in (tmp_path / "crash.err").read_text()


def test_a_timeout_kills_the_module_and_what_it_started_but_not_the_others(tmp_path) -> None:
    hang = (
        "import pathlib, subprocess, time\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        "pathlib.Path('grandchild.pid').write_text(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    t0 = time.perf_counter()
    report = _runner(
        [_job(tmp_path, "hang", hang), _job(tmp_path, "quick", "print('done')\n")], timeout=1
    )
    assert time.perf_counter() - t0 < 20
    assert report["hang"]["returncode"] is None
    assert report["quick"]["returncode"] == 0
    grandchild = int((tmp_path / "grandchild.pid").read_text())
    for _ in range(100):  # killed, and reaped by init soon after
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the module's child process outlived the timeout")


@pytest.fixture
def fake_rseqc(tmp_path, monkeypatch) -> Path:
    """RSeQC's module names, with scripts that fail in the ways real modules do."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "bam_stat.py": "print('Total records: 10')\n",
        "infer_experiment.py": (
            "print('Fraction of reads explained by \"1++,1--,2+-,2-+\": 0.02')\n"
            "print('Fraction of reads explained by \"1+-,1-+,2++,2--\": 0.97')\n"
        ),
        "read_distribution.py": "import sys\nsys.exit('read_distribution.py: error: bad BED')\n",
        "junction_annotation.py": "import time\ntime.sleep(60)\n",
        "inner_distance.py": (
            "import sys\n"
            "open(sys.argv[sys.argv.index('-o') + 1] + '.inner_distance_freq.txt', 'w').write('1')\n"
            "print('Total read pairs used 10')\n"
            "sys.exit('inner_distance.py: error: Rscript executable not found: Rscript')\n"
        ),
    }
    for name, code in scripts.items():
        (bin_dir / name).write_text(code)
    monkeypatch.setattr(qc, "BIN", bin_dir)
    return tmp_path


def test_run_rseqc_reports_failures_timeouts_and_missing_plots(fake_rseqc: Path) -> None:
    out = fake_rseqc / "qc"
    only = {"bam_stat.py", "infer_experiment.py", "read_distribution.py"}
    only |= {"junction_annotation.py", "inner_distance.py"}
    bed = fake_rseqc / "a.bed"
    result = run_rseqc(fake_rseqc / "s.bam", bed, out, "S", only=only, threads=2, timeout_s=1)
    assert result.failed == {
        "read_distribution.py": "read_distribution.py: error: bad BED",
        "junction_annotation.py": "timed out after 1 s",
    }
    assert result.skipped_plots == ["inner_distance.py"]
    assert result.observed_library_type is not None
    assert result.observed_library_type.value == "fr-firststrand"
    assert (out / "S.bam_stat.txt").read_text() == "Total records: 10\n"
    assert (out / "S.inner_distance.log").read_text() == "Total read pairs used 10\n"
    assert not (out / "S.read_distribution.txt").exists()
    assert {p.name for p in result.files} == {
        "S.bam_stat.txt",
        "S.infer_experiment.txt",
        "S.inner_distance.log",
        "S.inner_distance_freq.txt",
    }
    assert set(result.seconds) == only


def test_every_module_fails_with_the_reason_when_the_runner_cannot_start(
    fake_rseqc: Path, monkeypatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    result = run_rseqc(fake_rseqc / "s.bam", fake_rseqc / "a.bed", fake_rseqc / "qc", "S")
    assert set(result.failed) == {m[0] for m in qc.MODULES}
    assert all(why.startswith("RSeQC runner failed") for why in result.failed.values())


def test_percentile_positions_answer_in_like_the_list_they_are() -> None:
    from genejobs.pipeline.rseqc_runner import _Positions

    items = [5, 9, 9, 40]
    positions = _Positions(items)
    assert positions == items and positions[-1] == 40 and len(positions) == 4
    assert all((x in positions) == (x in items) for x in range(50))
    assert sorted(positions) == items and list(reversed(positions)) == items[::-1]


def test_a_stopped_job_stops_its_long_qc_modules_and_what_they_started(fake_rseqc: Path) -> None:
    """junction_annotation.py (the fake) runs for a minute: a stop ends it at once."""
    (fake_rseqc / "bin" / "junction_annotation.py").write_text(
        "import pathlib, subprocess, time\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        "pathlib.Path('grandchild.pid').write_text(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    out = fake_rseqc / "qc"
    started = time.monotonic()

    def stop() -> None:
        if (out / "grandchild.pid").exists():
            raise CancelledError("the job was cancelled")

    with pytest.raises(CancelledError):
        run_rseqc(
            fake_rseqc / "s.bam",
            fake_rseqc / "a.bed",
            out,
            "S",
            only={"junction_annotation.py"},
            timeout_s=600,
            stop=stop,
        )
    assert time.monotonic() - started < 15
    grandchild = int((out / "grandchild.pid").read_text())
    for _ in range(100):  # killed with the module, and reaped by init soon after
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the module's child process outlived the stop")


def test_the_runner_sets_its_environment_in_its_own_process_only(tmp_path, monkeypatch) -> None:
    from genejobs.pipeline import rseqc_runner

    for name in rseqc_runner.RUNNER_ENV:
        monkeypatch.delenv(name, raising=False)
    importing = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, genejobs.pipeline.rseqc_runner; print(dict(os.environ))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not any(name in importing.stdout for name in rseqc_runner.RUNNER_ENV)
    code = (
        "import os\n"
        "from qcmodule import mystat\n"
        "names = " + repr(sorted(rseqc_runner.RUNNER_ENV)) + "\n"
        "print(*[os.environ.get(n) for n in names])\n"
        "print(type(mystat.percentile_list(list(range(200)))).__name__)\n"
    )
    report = _runner([_job(tmp_path, "env", code)])
    assert report["env"]["returncode"] == 0
    values, patched = (tmp_path / "env.out").read_text().splitlines()
    assert values.split() == [rseqc_runner.RUNNER_ENV[n] for n in sorted(rseqc_runner.RUNNER_ENV)]
    assert patched == "_Positions"  # the installed RSeQC is a checked one: patched


def test_an_unchecked_rseqc_version_is_left_unpatched() -> None:
    from genejobs.pipeline.rseqc_runner import speed_up_percentile_lookups

    assert speed_up_percentile_lookups("5.1.0") is False
    assert speed_up_percentile_lookups("50.0.1") is False
