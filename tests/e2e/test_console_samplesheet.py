"""Step 2 of the console with lane-split Illumina files and a sample sheet, in real Chromium.

Real processes: ``genejobs serve`` (SQLite, local Dask cluster) on simulated reads split
into two lanes per sample with Illumina's names. In the browser: pairing finds the lanes
as runs and lists every file it could not use with the reason; a sheet uploaded with a
mistake shows its problems by row and column; the fixed sheet makes the samples, which
are edited; step 3's dry run shows a truncated lane as a file problem. The console's
pairing answers the same cases as the CLI's (``tests/data/pairing_cases.json``). Over
HTTP, a sheet given by URI is dry-run and submitted, and its job (two lanes per sample)
counts exactly what a job given the same reads as one file per read counts. Screenshots are kept under the
test's tmp folder (``GENEJOBS_SCREENSHOTS`` names another).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from chromium import Shots
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from service import serve

from genejobs.config import Settings
from genejobs.references.registry import registry_for
from genejobs.sim import SimConfig, simulate

pytestmark = pytest.mark.e2e
REF, GTF = "sim1", "sim1.annotation.gtf"
STRANDEDNESS = {
    "fr-unstranded": "unstranded",
    "fr-firststrand": "reverse",
    "fr-secondstrand": "forward",
}
CASES = Path(__file__).parents[1] / "data" / "pairing_cases.json"


def _split_lanes(src: Path, dest: list[Path]) -> None:
    """The records of one FASTQ.gz dealt into len(dest) files in turn (as lanes are)."""
    lines = gzip.decompress(src.read_bytes()).decode().splitlines(keepends=True)
    records = ["".join(lines[i : i + 4]) for i in range(0, len(lines), 4)]
    for k, path in enumerate(dest):
        path.write_bytes(gzip.compress("".join(records[k :: len(dest)]).encode()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sheet")
    data = root / "data"
    manifest = simulate(
        data / "sim",
        SimConfig(n_genes=60, pairs_per_sample=400, samples_per_group=2, groups=("K", "W")),
    )
    run = data / "run"
    run.mkdir()
    # the simulator's K_rep1 ... W_rep2 as a facility names them: K1 ... W2, S1 ... S4
    ours = ("K1", "K2", "W1", "W2")
    for n, (sample, (r1, r2)) in enumerate(
        zip(ours, (manifest.reads[k] for k in sorted(manifest.reads)), strict=True), start=1
    ):
        for mate, src in ((1, r1), (2, r2)):
            lanes = [run / f"{sample}_S{n}_L00{k}_R{mate}_001.fastq.gz" for k in (1, 2)]
            _split_lanes(Path(src), lanes)
    # a lane whose read 2 never arrived, and a truncated upload
    shutil.copy(run / "W2_S4_L001_R1_001.fastq.gz", run / "W2_S4_L003_R1_001.fastq.gz")
    good = (run / "W2_S4_L002_R2_001.fastq.gz").read_bytes()
    (run / "W2cut_L002_R2_001.fastq.gz").write_bytes(good[: len(good) // 2])
    env = dict(os.environ)
    env.update(
        GENEJOBS_HOME=str(root / "home"),
        GENEJOBS_ALLOWED_ROOTS=str(data),
        GENEJOBS_DASK_WORKERS="1",
        GENEJOBS_THREADS_PER_WORKER="1",
    )
    registry_for(Settings.from_env(env)).add(
        REF, Path(manifest.genome), [(GTF, Path(manifest.gtf))], beds=(str(manifest.bed),)
    )
    with serve(root, env) as served:
        http = httpx.Client(
            base_url=f"{served.url}/v2.0/default/gene",
            headers={"X-Auth-Token": served.token},
            timeout=60,
        )
        yield {"data": data, "run": run, "manifest": manifest, "http": http, "served": served}


def sheet(run: Path, strandedness: str, *, cut: bool = False, mistake: bool = False) -> str:
    rows = ["sample,fastq_1,fastq_2,strandedness,condition"]
    for sample, n in (("K1", 1), ("K2", 2), ("W1", 3), ("W2", 4)):
        for lane in (1, 2):
            r1, r2 = (run / f"{sample}_S{n}_L00{lane}_R{m}_001.fastq.gz" for m in (1, 2))
            if cut and sample == "W2" and lane == 2:
                r2 = run / "W2cut_L002_R2_001.fastq.gz"
            rows.append(f"{sample},{r1},{r2},{strandedness},{sample[0]}")
    if mistake:
        rows[3] = rows[3][: -len(",K")] + ",9K"  # row 4: a group name
        rows[5] = rows[5].replace("_R2_001.fastq.gz", "_R2_001.bam")  # row 6: not FASTQ
    return "\n".join(rows) + "\n"


def test_lanes_orphans_and_a_sheet_in_step_2(server, browser, tmp_path):  # noqa: F811
    d, run, m = browser, server["run"], server["manifest"]
    served = server["served"]
    wait = WebDriverWait(d, 30, ignored_exceptions=(StaleElementReferenceException,))
    shots = Shots(d, Path(os.environ.get("GENEJOBS_SCREENSHOTS") or tmp_path / "screenshots"))
    d.get(f"{served.url}/console#token={served.token}&project=default")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#jobs")))

    # the console's pairing gives the CLI's answers
    cases = json.loads(CASES.read_text())["cases"]
    got = d.execute_script("return arguments[0].map(c => pairFiles(c.files, c.single_end))", cases)
    for case, answer in zip(cases, got, strict=True):
        assert [
            {"name": s["name"], "group": s["group"], "runs": s["runs"]} for s in answer["samples"]
        ] == case["samples"], case["name"]
        assert [[o["uri"], o["reason"]] for o in answer["orphans"]] == case["orphans"]

    # step 2: browse to the lane-split files and pair them
    d.find_element(By.LINK_TEXT, "Create job").click()
    wait.until(EC.element_to_be_clickable((By.ID, "forward"))).click()
    prefix = wait.until(EC.presence_of_element_located((By.ID, "prefix")))
    prefix.clear()
    prefix.send_keys(f"{run}/")
    d.find_element(By.ID, "browse").click()
    pair = wait.until(EC.element_to_be_clickable((By.ID, "pair")))
    assert pair.text == "Pair 18 FASTQ files"
    pair.click()
    rows = wait.until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, "tr[data-row]")))
    assert len(rows) == 4
    assert "2 runs, paired" in rows[0].text and "K1_S1_L002_R1_001.fastq.gz" in rows[0].text
    orphans = d.find_element(By.ID, "orphans").text
    assert "2 files not used" in orphans
    assert (
        "W2_S4_L003_R1_001.fastq.gz: read 1 without its read 2 (lane 3): no "
        "'W2_S4_L003_R2_001.fastq.gz'" in orphans
    )
    assert "W2cut_L002_R2_001.fastq.gz: read 2 without its read 1 (lane 2)" in orphans
    shots("step2-lanes-paired-orphans-listed")

    # a sheet with mistakes, uploaded: its problems name row and column
    strand = STRANDEDNESS[m.library_type]
    bad = tmp_path / "bad.csv"
    bad.write_text(sheet(run, strand, mistake=True))
    d.find_element(By.CSS_SELECTOR, "#sheet summary").click()
    d.find_element(By.ID, "sheet-file").send_keys(str(bad))
    problems = wait.until(EC.visibility_of_element_located((By.ID, "sheet-problems"))).text
    assert "samplesheet row 4, column condition: '9K' must start with a letter" in problems
    assert "samplesheet row 6, column fastq_2:" in problems and ".bam' must be a FASTQ" in problems
    # a sheet with problems leaves the paired samples as they were
    assert d.find_element(By.ID, "sheet-summary").text.startswith("The samples below are unchanged")
    assert len(d.find_elements(By.CSS_SELECTOR, "tr[data-row]")) == 4
    shots("step2-sheet-problems")

    # the fixed sheet (pasted) makes the samples: each sample's lanes are its runs
    good = sheet(run, strand, cut=True)
    box = d.find_element(By.ID, "sheet-text")
    d.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
        box,
        good,
    )
    d.find_element(By.ID, "sheet-read").click()
    wait.until(EC.invisibility_of_element_located((By.ID, "sheet-problems")))
    summary = wait.until(EC.visibility_of_element_located((By.ID, "sheet-summary"))).text
    assert summary.startswith("4 samples in 2 groups from the sheet")
    assert f"library type {m.library_type}" in summary
    rows = wait.until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, "tr[data-row]")))
    assert [
        r.find_element(By.CSS_SELECTOR, "input.sname").get_attribute("value") for r in rows
    ] == [
        "K1",
        "K2",
        "W1",
        "W2",
    ]
    assert all("2 runs, paired" in r.text for r in rows)
    # edit one: a new name
    name = rows[0].find_element(By.CSS_SELECTOR, "input.sname")
    name.clear()
    name.send_keys("K1a")
    d.execute_script("arguments[0].dispatchEvent(new Event('change'))", name)
    shots("step2-samples-from-the-sheet")
    d.set_window_size(390, 844)  # a phone: the sheet box and the leftovers fit its width
    width = d.execute_script("return window.innerWidth")
    for box in ("sheet", "sheet-text"):
        right = d.execute_script(
            f"return document.getElementById('{box}').getBoundingClientRect().right"
        )
        assert right <= width, (box, right, width)
    shots("step2-sheet-on-a-phone")
    d.set_window_size(1400, 1000)

    # step 3: the dry run reads each file's head; the truncated lane is named
    d.find_element(By.ID, "forward").click()
    title = wait.until(EC.visibility_of_element_located((By.ID, "read-problems-title"))).text
    assert title.startswith("1 file problem")
    checks = d.find_element(By.ID, "read-checks").text
    assert "sample 'W2', run 2, read 2" in checks and "W2cut_L002_R2_001.fastq.gz" in checks
    assert "is truncated" in checks
    request = json.loads(d.find_element(By.ID, "json").get_attribute("value"))
    k1 = request["inputs"][0]["group_inputs"][0]
    assert k1["sample_name"] == "K1a" and len(k1["runs"]) == 2
    assert request["library_type"] == m.library_type
    shots("step3-dry-run-file-problem")


def _finished(http: httpx.Client, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        detail = http.get(f"/jobs/{job_id}").json()
        if detail["status"] in ("FINISHED", "FAILED", "CANCELLED"):
            assert detail["status"] == "FINISHED", detail["message"]
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(1)


def _counts(http: httpx.Client, job_id: str) -> dict[str, list[str]]:
    text = http.get(f"/jobs/{job_id}/outputs/counts.csv").text
    rows = list(csv.reader(io.StringIO(text)))
    return {name: [r[i] for r in rows[1:]] for i, name in enumerate(rows[0])}


def test_a_sheet_by_uri_runs_end_to_end_and_counts_as_one_file_per_read(server):
    http, run, m = server["http"], server["run"], server["manifest"]
    (run / "sheet.csv").write_text(sheet(run, STRANDEDNESS[m.library_type]))
    body = {
        "job_type": "RNA_DIFF_EXPR",
        "samplesheet": {"uri": f"{run}/sheet.csv"},
        "ref": REF,
        "gtf": GTF,
        "output": f"{server['data']}/out",
    }
    dry = http.post("/jobs", params={"dry_run": "true"}, json=body)
    assert dry.status_code == 200, dry.text
    got = dry.json()
    assert got["reads_ok"] is True, got["read_problems"]
    assert [(s["sample_name"], len(s["runs"])) for s in got["samples"]] == [
        ("K1", 2),
        ("K2", 2),
        ("W1", 2),
        ("W2", 2),
    ]
    assert all(c["reads_checked"] > 0 for s in got["samples"] for c in s["checks"])
    r = http.post("/jobs", json=body)
    assert r.status_code == 201, r.text
    lanes = r.json()["job_id"]
    stored = json.loads(http.get(f"/jobs/{lanes}").json()["request"])
    assert "samplesheet" not in stored and stored["library_type"] == m.library_type
    assert stored["inputs"][1]["group_inputs"][1]["runs"][1] == [
        f"{run}/W2_S4_L002_R1_001.fastq.gz",
        f"{run}/W2_S4_L002_R2_001.fastq.gz",
    ]
    # the same reads as one file per read, in the contract's own shape
    whole = {**body, "library_type": m.library_type}
    del whole["samplesheet"]
    names = dict(zip(sorted(m.reads), ("K1", "K2", "W1", "W2"), strict=True))
    whole["inputs"] = [
        {
            "group_name": g,
            "group_inputs": [
                {"sample_name": names[k], "files": m.reads[k]} for k in sorted(m.reads) if k[0] == g
            ],
        }
        for g in ("K", "W")
    ]
    r = http.post("/jobs", json=whole)
    assert r.status_code == 201, r.text
    one_file = r.json()["job_id"]
    _finished(http, lanes)
    _finished(http, one_file)
    by_lanes, by_file = _counts(http, lanes), _counts(http, one_file)
    assert {"K1", "K2", "W1", "W2"} <= set(by_lanes)
    for sample in ("K1", "K2", "W1", "W2"):
        assert by_lanes[sample] == by_file[sample], sample
        assert sum(int(c) for c in by_lanes[sample]) > 0
