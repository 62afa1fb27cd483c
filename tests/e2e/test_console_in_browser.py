"""The console as a lab uses it, in real Chromium (Debian's chromium + chromium-driver).

Real processes: ``genejobs serve`` (SQLite, local Dask cluster) on simulated reads
in an allowed local folder. The browser signs in through the URL fragment, builds
a job through the three steps (files found by browsing, pairs made by name, groups
and the comparison picked), sees the dry-run estimate, is shown a field-level
error for a wrong library type, submits, cancels another job after confirming,
watches its job finish, opens the report and MultiQC and downloads the table,
which must equal the file in storage. A screenshot of each step is saved under
the test's tmp folder (``GENEJOBS_SCREENSHOTS`` names another folder).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from service import serve

from genejobs.config import Settings
from genejobs.references.registry import registry_for
from genejobs.sim import SimConfig, simulate

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

REF, GTF = "sim1", "sim1.annotation.gtf"
JOB_NAME = "K vs W in the browser"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("console")
    data = root / "data"
    manifest = simulate(
        data / "sim",
        SimConfig(n_genes=120, pairs_per_sample=2000, samples_per_group=2, groups=("K", "W")),
    )
    env = dict(os.environ)
    env.update(
        GENEJOBS_HOME=str(root / "home"),
        GENEJOBS_ALLOWED_ROOTS=str(data),
        GENEJOBS_DASK_WORKERS="1",
        GENEJOBS_THREADS_PER_WORKER="2",
    )
    registry_for(Settings.from_env(env)).add(
        REF, Path(manifest.genome), [(GTF, Path(manifest.gtf))], beds=(str(manifest.bed),)
    )
    with serve(root, env) as served:
        url, token = served.url, served.token
        # serve's one line: its address and a console link that signs the browser in
        assert served.proc.stdout is not None
        banner = served.proc.stdout.readline().strip()
        link = banner.rsplit("console: ", 1)[1]
        assert link == f"{url}/console#token={token}&project=default", banner
        http = httpx.Client(
            base_url=f"{url}/v2.0/default/gene", headers={"X-Auth-Token": token}, timeout=30
        )
        yield {
            "root": root,
            "data": data,
            "manifest": manifest,
            "http": http,
            "url": url,
            "token": token,
            "console_link": link,
            "proc": served.proc,
        }


def _wait_status(http, job_id, statuses, timeout_s=180):
    deadline = time.monotonic() + timeout_s
    while True:
        detail = http.get(f"/jobs/{job_id}").json()
        if detail["status"] in statuses:
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.5)


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium/chromedriver missing: scripts/ensure-chromium.sh installs them")
        pytest.skip("chromium and chromedriver are installed by scripts/ensure-chromium.sh")
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": True,
        },
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


class Shots:
    """One PNG per step, in order, kept as the test's artifacts."""

    def __init__(self, driver, folder: Path) -> None:
        self.driver, self.folder, self.n = driver, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

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
        assert path.stat().st_size > 10_000, path
        return path


def _estimate(d) -> str:
    return (
        WebDriverWait(d, 30, ignored_exceptions=(StaleElementReferenceException,))
        .until(EC.presence_of_element_located((By.ID, "estimate")))
        .text
    )


def test_a_job_built_watched_and_read_in_the_console(server, browser, tmp_path):
    world, d = server, browser
    http, data = world["http"], world["data"]
    # the console re-renders a view when data arrives: look elements up again until stable
    wait = WebDriverWait(d, 30, ignored_exceptions=(StaleElementReferenceException,))
    shots = Shots(d, Path(os.environ.get("GENEJOBS_SCREENSHOTS") or tmp_path / "screenshots"))
    m = world["manifest"]

    # sign in through the fragment: the token never reaches the server's logs
    d.get(world["console_link"])
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#jobs td.empty a")))
    assert d.execute_script("return localStorage.getItem('genejobs.token')") == world["token"]
    assert "token=" not in d.current_url
    shots("jobs-signed-in")

    # step 1: basic settings from the references endpoint
    d.find_element(By.LINK_TEXT, "Create job").click()
    ref = wait.until(EC.presence_of_element_located((By.ID, "f-ref")))
    assert Select(ref).first_selected_option.get_attribute("value") == REF
    assert Select(d.find_element(By.ID, "f-gtf")).first_selected_option.text == GTF
    d.find_element(By.ID, "f-name").send_keys(JOB_NAME)
    Select(d.find_element(By.ID, "f-lt")).select_by_value(m.library_type)
    Select(d.find_element(By.ID, "f-adapter")).select_by_value(m.adapter)
    d.find_element(By.ID, "f-qc").click()
    bed = wait.until(EC.visibility_of_element_located((By.ID, "f-bed")))
    assert bed.get_attribute("value") == str(m.bed)  # the reference's registered BED
    output = d.find_element(By.ID, "f-output")
    assert output.get_attribute("value") == f"{data}/out"  # the default: an allowed root
    shots("step1-basic-settings")

    # step 2: browse to the reads, pair them, groups and comparison
    d.find_element(By.ID, "forward").click()
    prefix = wait.until(EC.presence_of_element_located((By.ID, "prefix")))
    assert prefix.get_attribute("value") == f"{data}/"
    d.find_element(By.ID, "browse").click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-folder$="/sim/"]'))).click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-folder$="/reads/"]'))).click()
    pair = wait.until(EC.element_to_be_clickable((By.ID, "pair")))
    assert pair.text == "Pair 8 FASTQ files"
    pair.click()
    rows = wait.until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, "tr[data-row]")))
    names = [r.find_element(By.CSS_SELECTOR, "input.sname").get_attribute("value") for r in rows]
    assert sorted(names) == sorted(s for ss in m.groups.values() for s in ss)
    groups = {
        r.find_element(By.CSS_SELECTOR, "input.sname").get_attribute("value"): Select(
            r.find_element(By.CSS_SELECTOR, "select")
        ).first_selected_option.text
        for r in rows
    }
    assert groups == {s: g for g, ss in m.groups.items() for s in ss}
    comparison = d.find_element(By.CSS_SELECTOR, '[data-comp="K|W"]')
    assert comparison.is_selected()  # default: every group against the first
    assert not d.find_element(By.CSS_SELECTOR, '[data-comp="W|K"]').is_selected()
    shots("step2-samples-paired")

    # step 3: the dry run passed; no job has finished here yet, so no speed is known
    d.find_element(By.ID, "forward").click()
    estimate = _estimate(d)
    assert "every check passed" in estimate and "not known yet" in estimate, estimate
    assert "0 / 4" in estimate  # QC needs this run's BAMs: nothing comes from the cache

    # a wrong library type typed into the JSON is shown beside its field, in step 1
    box = d.find_element(By.ID, "json")
    text = box.get_attribute("value").replace(m.library_type, "fr-reverse")
    d.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
        box,
        text,
    )
    d.find_element(By.ID, "check").click()
    error = wait.until(
        EC.visibility_of_element_located(
            (By.CSS_SELECTOR, '[data-path="library_type"] .field-error')
        )
    )
    assert error.text.startswith("library_type: must be one of"), error.text
    assert "DLI.0001" in error.text
    shots("field-error-library-type")
    Select(d.find_element(By.ID, "f-lt")).select_by_value(m.library_type)
    assert not d.find_elements(By.CSS_SELECTOR, ".field-error")
    d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
    _estimate(d)
    assert '"fr-reverse"' not in d.find_element(By.ID, "json").get_attribute("value")

    # submit: the job page follows it to the end
    d.find_element(By.ID, "submit").click()
    wait.until(lambda drv: "#/jobs/" in drv.current_url)
    job_id = d.current_url.rsplit("/", 1)[1]
    assert http.get(f"/jobs/{job_id}").json()["name"] == JOB_NAME
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "table.sample-table")))
    shots("job-page-running")
    WebDriverWait(d, 240).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "h1 + .badge.s-FINISHED"))
    )
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-share-open]")))
    assert d.find_element(By.CSS_SELECTOR, "h1").text == JOB_NAME
    rrna = wait.until(
        lambda drv: [
            c.text for c in drv.find_elements(By.CSS_SELECTOR, "table.sample-table td:nth-child(8)")
        ]
    )
    assert len(rrna) == 4 and all(v.endswith("%") for v in rrna), rrna  # from assignment.csv
    shots("job-page-finished")

    # the report opens at its share link (a real URL, in a new tab), MultiQC in a new tab
    main = d.current_window_handle
    for selector, marker, name in (
        ("[data-share-open]", "<svg", "report"),
        ('[data-open="qc/multiqc_report.html"]', "MultiQC", "multiqc"),
    ):
        before = set(d.window_handles)
        d.find_element(By.CSS_SELECTOR, f".out-main {selector}").click()
        wait.until(lambda drv, b=before: len(set(drv.window_handles) - b) == 1)
        d.switch_to.window((set(d.window_handles) - before).pop())
        if name == "report":
            wait.until(lambda drv: "/share/v1." in drv.current_url)
            assert d.current_url.endswith(f"/{job_id}/report.html")
        else:
            frame = wait.until(EC.presence_of_element_located((By.TAG_NAME, "iframe")))
            assert "allow-same-origin" not in frame.get_attribute("sandbox")
            d.switch_to.frame(frame)
        WebDriverWait(d, 30).until(lambda drv, mk=marker: mk in drv.page_source)
        # the output runs in an opaque origin: it cannot read the console's stored token
        # (its localStorage is a page-local stand-in), and the page finished loading
        assert d.execute_script("return window.origin") == "null"
        assert d.execute_script("return localStorage.getItem('genejobs.token')") is None
        WebDriverWait(d, 30).until(
            lambda drv: (
                not [
                    e
                    for e in drv.find_elements(By.CSS_SELECTOR, ".mqc_loading_warning")
                    if e.is_displayed()
                ]
            )
        )
        shots(name, full=False)
        d.close()
        d.switch_to.window(main)

    # a share link to copy, valid for the days the button says
    d.find_element(By.CSS_SELECTOR, ".out-main [data-share-copy]").click()
    shared = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".share-link input")))
    assert "/share/v1." in shared.get_attribute("value")
    assert "valid 7 days" in d.find_element(By.CSS_SELECTOR, "[data-share-copy]").text
    shots("job-page-share-link")

    # the table downloads, byte for byte the file in storage
    d.find_element(By.CSS_SELECTOR, f'.out-main [data-download="{job_id}.csv"]').click()
    target = d.downloads / f"{job_id}.csv"
    WebDriverWait(d, 30).until(lambda _: target.exists() and target.stat().st_size > 0)
    time.sleep(0.3)
    assert target.read_bytes() == (data / "out" / f"{job_id}.csv").read_bytes()

    # the runner cached every sample it aligned: a dry run without QC (which needs this
    # run's BAMs) says all four would be reused, with the same key the runner computed
    again = json.loads(http.get(f"/jobs/{job_id}").json()["request"])
    again.update(is_export_qc=False, output=f"{data}/out")
    again.pop("bed")
    dry = http.post("/jobs", params={"dry_run": "true"}, json=again).json()
    assert [s["cached"] for s in dry["samples"]] == [True] * 4, dry

    # "run again with changes" loads the request into the form; now the estimate is
    # the finished job's measured speed
    d.find_element(By.CSS_SELECTOR, f'[data-rerun="{job_id}"]').click()
    name = wait.until(EC.presence_of_element_located((By.ID, "f-name")))
    assert name.get_attribute("value") == f"{JOB_NAME} (again)"
    assert d.find_element(By.ID, "f-output").get_attribute("value") == f"{data}/out"
    d.find_element(By.ID, "forward").click()
    assert len(wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "tr[data-row]"))) == 4
    d.find_element(By.ID, "forward").click()
    estimate = _estimate(d)
    assert "≈" in estimate and "from the speed of 1 finished job" in estimate, estimate
    shots("step3-review-estimate")

    # that second job is cancelled from its page after confirming
    d.find_element(By.ID, "submit").click()
    wait.until(lambda drv: "#/jobs/" in drv.current_url and job_id not in drv.current_url)
    other = d.current_url.rsplit("/", 1)[1]
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-cancel="{other}"]'))).click()
    alert = wait.until(EC.alert_is_present())
    assert other in alert.text
    alert.accept()
    _wait_status(http, other, ("CANCELLED",), timeout_s=120)
    WebDriverWait(d, 30).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "h1 + .badge.s-CANCELLED"))
    )
    shots("cancelled-after-confirm")

    # the list: colours, names, an expanded row that survives the live refresh
    d.get(f"{world['url']}/console#/jobs")
    row = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'tr[data-job="{job_id}"]')))
    assert JOB_NAME in row.text and "FINISHED" in row.text
    row.find_elements(By.TAG_NAME, "td")[1].click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'[data-panel="{job_id}"]')))
    time.sleep(3.5)  # one refresh later the row is still open
    assert d.find_elements(By.CSS_SELECTOR, f'[data-panel="{job_id}"]')
    shots("jobs-list-expanded")

    # filters: by status, and by text (a sample's name finds both jobs, "again" one)
    Select(d.find_element(By.ID, "f-status")).select_by_value("CANCELLED")
    wait.until(lambda drv: not drv.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job_id}"]'))
    assert d.find_elements(By.CSS_SELECTOR, f'tr[data-job="{other}"]')
    Select(d.find_element(By.ID, "f-status")).select_by_value("")
    d.find_element(By.ID, "f-text").send_keys("(again)")
    wait.until(lambda drv: not drv.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job_id}"]'))
    assert d.find_elements(By.CSS_SELECTOR, f'tr[data-job="{other}"]')

    # an ended job is deleted with its outputs after a confirmation naming them
    d.get(f"{world['url']}/console#/jobs/{other}")
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-purge="{other}"]'))).click()
    alert = wait.until(EC.alert_is_present())
    stored_output = json.loads(http.get(f"/jobs/{other}").json()["request"])["output"]
    assert stored_output in alert.text and f"/{other}/" in alert.text, alert.text
    alert.accept()
    wait.until(lambda drv: drv.current_url.endswith("#/jobs"))
    assert http.get(f"/jobs/{other}").status_code == 404
