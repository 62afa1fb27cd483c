"""Fixtures of the end-to-end level: the browser the report and console tests drive."""

from __future__ import annotations

import pytest
from browser import CHROMIUM

from support.tools import missing


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; use as ``pytest.mark.usefixtures("chromium")``."""
    if CHROMIUM is None:
        missing("Chromium", "scripts/ensure-chromium.sh installs it (make test runs it)")
    assert CHROMIUM is not None
    return CHROMIUM
