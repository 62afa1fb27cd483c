"""The layer rules of docs/design (pyproject's import-linter contracts) hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), "import-linter is not installed in this environment"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    # the contracts of pyproject.toml were really checked (at least the layers one)
    assert "layers KEPT" in report, report
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken\.", report), report
