"""A job built, followed and read entirely in the console (real Chromium, real serve).

The browser signs in through the console link serve printed, builds the job through
the three steps (files found by browsing, pairs made by name, groups and the
comparison picked), sees the dry-run estimate, submits, watches the job finish,
opens the report and MultiQC and downloads the table, which must equal the file in
storage. Screenshots of each step are kept (see chromium.Shots).
"""

from __future__ import annotations

import time

import pytest
from chromium import DESKTOP, Shots, open_chrome, waiter
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from support.console import GTF, REF

pytestmark = pytest.mark.e2e
JOB_NAME = "K vs W in the browser"


def test_a_job_built_in_three_steps_and_submitted(console_server, tmp_path):
    world = console_server
    http, data, m = world["http"], world["data"], world["manifest"]
    with open_chrome(tmp_path, DESKTOP) as d:
        wait = waiter(d)
        shots = Shots.for_test(d, tmp_path, "build-job")

        # sign in through the fragment: the token never reaches the server's logs
        d.get(world["console_link"])
        wait.until(EC.presence_of_element_located((By.ID, "jobs")))
        assert d.execute_script("return localStorage.getItem('genejobs.token')") == world["token"]
        assert "token=" not in d.current_url
        assert d.execute_script("return document.querySelector('link[rel=icon]').href").endswith(
            "/console/static/favicon.svg"
        )
        assert http.get(f"{world['url']}/console/static/favicon.svg").status_code == 200

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
        wait.until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-folder$="/reads/"]'))
        ).click()
        pair = wait.until(EC.element_to_be_clickable((By.ID, "pair")))
        assert pair.text == "Pair 8 FASTQ files"
        pair.click()
        rows = wait.until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, "tr[data-row]")))
        names = [
            r.find_element(By.CSS_SELECTOR, "input.sname").get_attribute("value") for r in rows
        ]
        assert sorted(names) == sorted(s for ss in m.groups.values() for s in ss)
        groups = {
            r.find_element(By.CSS_SELECTOR, "input.sname").get_attribute("value"): Select(
                r.find_element(By.CSS_SELECTOR, "select")
            ).first_selected_option.text
            for r in rows
        }
        assert groups == {s: g for g, ss in m.groups.items() for s in ss}
        assert d.find_element(By.CSS_SELECTOR, '[data-comp="K|W"]').is_selected()
        assert not d.find_element(By.CSS_SELECTOR, '[data-comp="W|K"]').is_selected()
        shots("step2-samples-paired")

        # step 3: the dry run passed; with QC nothing comes from the cache, and says why
        d.find_element(By.ID, "forward").click()
        estimate = wait.until(EC.presence_of_element_located((By.ID, "estimate"))).text
        assert "every check passed" in estimate and "0 / 4" in estimate, estimate
        cache = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#dry-samples td:nth-child(4)")]
        assert cache == ["not cached: will be aligned (QC jobs always are)"] * 4, cache
        shots("step3-review")

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
                c.text
                for c in drv.find_elements(By.CSS_SELECTOR, "table.sample-table td:nth-child(8)")
            ]
        )
        assert len(rrna) == 4 and all(v.endswith("%") for v in rrna), rrna  # assignment.csv
        shots("job-page-finished")

        # the report opens at its share link (a real URL, in a new tab), MultiQC in a new
        # tab; both in an opaque origin
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
        shared = wait.until(
            EC.visibility_of_element_located((By.CSS_SELECTOR, ".share-link input"))
        )
        assert "/share/v1." in shared.get_attribute("value")
        assert "valid 7 days" in d.find_element(By.CSS_SELECTOR, "[data-share-copy]").text
        shots("job-page-share-link")

        # the table downloads under the job's name, byte for byte the file in storage
        d.find_element(By.CSS_SELECTOR, f'.out-main [data-download="{job_id}.csv"]').click()
        target = d.downloads / "K_vs_W_in_the_browser.csv"
        WebDriverWait(d, 30).until(lambda _: target.exists() and target.stat().st_size > 0)
        time.sleep(0.3)
        assert target.read_bytes() == (data / "out" / f"{job_id}.csv").read_bytes()
