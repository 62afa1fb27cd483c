"""The suite's one browser driver: Selenium with Debian's chromium and chromium-driver.

Every browser test (the console and the report) opens Chromium through ``open_chrome``
and keeps its screenshots through ``Shots``: one PNG per step, numbered, in
``GENEJOBS_SCREENSHOTS`` or pytest's tmp folder, each path printed (``pytest -s``
shows them; they stay after the run as the test's artifacts).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
DESKTOP = (1440, 900)
PHONE = (390, 844)


def require_chromium() -> None:
    """Chromium and its driver, or a failure in CI (a skip only on a laptop without them)."""
    if CHROMIUM and CHROMEDRIVER:
        return
    if os.environ.get("CI"):
        pytest.fail("chromium/chromedriver missing: scripts/ensure-chromium.sh installs them")
    pytest.skip("chromium and chromedriver are installed by scripts/ensure-chromium.sh")


@contextmanager
def open_chrome(profile: Path, size: tuple[int, int] = DESKTOP) -> Iterator[Any]:
    """A headless Chromium of this window size (a phone size also emulates touch and a
    device pixel ratio of 1, so the CSS width is exactly the size asked for)."""
    require_chromium()
    downloads = profile / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile / 'profile'}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def waiter(driver: Any, timeout_s: float = 30) -> WebDriverWait:
    """A wait that looks elements up again when a live view re-renders them."""
    return WebDriverWait(driver, timeout_s, ignored_exceptions=(StaleElementReferenceException,))


def page_width(driver: Any) -> int:
    """How wide the page is laid out (more than the window: it scrolls sideways)."""
    return int(
        driver.execute_script(
            "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
    )


class Shots:
    """One PNG per step, numbered in order, kept as the test's artifacts."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver, self.folder, self.n = driver, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_test(cls, driver: Any, tmp_path: Path, name: str) -> Shots:
        root = os.environ.get("GENEJOBS_SCREENSHOTS")
        return cls(driver, Path(root) / name if root else tmp_path / "screenshots")

    def __call__(self, name: str, full: bool = True) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        if full:  # the whole page, not only the window (Chrome DevTools' own capture)
            size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
                    | {"scale": 1},
                },
            )
            path.write_bytes(base64.b64decode(shot["data"]))
        else:
            self.driver.save_screenshot(str(path))
        assert path.stat().st_size > 5_000, path
        print(f"screenshot: {path}")
        return path


class Page:
    """A Chromium tab for reading a page from the tests' side: open it, evaluate
    expressions in it (promises awaited), wait for one to hold, type, screenshot.
    The report's tests use it; the console's use the driver directly."""

    def __init__(self, profile: Path, size: tuple[int, int] = DESKTOP) -> None:
        self._opened = open_chrome(profile, size)
        self.driver = self._opened.__enter__()

    def open(self, url: str) -> None:
        self.driver.get(url)

    def js(self, expression: str) -> Any:
        return self.driver.execute_script(f"return ({expression});")

    def wait_for(self, expression: str, timeout_s: float = 60) -> Any:
        return WebDriverWait(self.driver, timeout_s, poll_frequency=0.05).until(
            lambda _: self.js(expression), message=f"page never satisfied: {expression}"
        )

    def type_text(self, text: str) -> None:
        self.driver.switch_to.active_element.send_keys(text)

    def key(self, key: str) -> None:
        from selenium.webdriver.common.keys import Keys

        self.driver.switch_to.active_element.send_keys(getattr(Keys, key.upper()))

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        shots = Shots(self.driver, path.parent)
        made = shots(path.stem, full=full_page)
        made.replace(path)

    def close(self) -> None:
        self._opened.__exit__(None, None, None)
