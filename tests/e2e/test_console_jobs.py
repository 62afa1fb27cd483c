"""Reading and managing jobs in the console: the job page at desktop and phone sizes,
short ids in the address, notes in plain words, the list's filters, run again,
cancel and delete (each after a confirmation)."""

from __future__ import annotations

import json
import time

import pytest
from chromium import DESKTOP, PHONE, Shots, open_chrome, page_width, waiter
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from support.console import wait_status

pytestmark = pytest.mark.e2e


def _signed_in(d, world) -> None:
    d.get(world["console_link"])
    waiter(d).until(EC.presence_of_element_located((By.ID, "jobs")))


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_job_page_at_desktop_and_phone_sizes(console_server, finished_job, tmp_path, size):
    world, job_id = console_server, finished_job["job_id"]
    with open_chrome(tmp_path, size) as d:
        shots = Shots.for_test(d, tmp_path, f"job-page-{size[0]}")
        wait = waiter(d)
        _signed_in(d, world)
        row = wait.until(
            EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-job="{job_id}"]'))
        )
        assert "liver KO vs WT" in row.text
        assert page_width(d) <= size[0]
        shots("jobs-list")
        # a short id in the address opens the job; the address then holds the whole id
        d.get(f"{world['url']}/console#/jobs/{job_id[:8]}")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "h1 + .badge.s-FINISHED")))
        assert d.current_url.endswith(f"#/jobs/{job_id}")
        assert d.find_element(By.CSS_SELECTOR, "h1").text == "liver KO vs WT"
        wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-share-open]")))
        # library_type auto's choice is information, in plain words, not a warning
        notes = d.find_element(By.ID, "notes").text
        assert "genejobs read it from how reads fall on the gene strands" in notes, notes
        for box in d.find_elements(By.ID, "warnings"):  # pydeseq2's, if any: plain words first
            assert "the reads look" not in box.text
            for item in box.find_elements(By.TAG_NAME, "li"):
                assert not item.text.startswith(("UserWarning", "RuntimeWarning")), item.text
        # nothing wider than the window; on a phone the cards stack
        assert page_width(d) <= size[0], page_width(d)
        settings, results = d.find_elements(By.CSS_SELECTOR, ".grid2 > .card")
        stacked = results.location["y"] > settings.location["y"] + settings.size["height"] - 1
        assert stacked == (size is PHONE)
        report = d.find_element(By.CSS_SELECTOR, ".out-main [data-share-open]")
        assert report.location["x"] + report.size["width"] <= size[0]  # on screen
        shots("job-page")


def _twin_jobs(world, job_id: str, ids: list[str]) -> None:
    """Copies of a job's row under chosen ids (so that two ids share a prefix)."""
    from sqlalchemy import create_engine

    from genejobs.jobs.store.models import JobRow

    engine = create_engine(f"sqlite:///{world['root'] / 'home' / 'genejobs.db'}")
    with engine.begin() as c:
        row = dict(
            c.execute(JobRow.__table__.select().where(JobRow.job_id == job_id)).mappings().one()
        )
        for new in ids:
            c.execute(JobRow.__table__.insert().values(row | {"job_id": new, "table_claim": None}))
    engine.dispose()


def test_short_ids_that_fit_no_job_several_or_are_too_short_are_named(
    console_server, finished_job, tmp_path
):
    world = console_server
    twins = ["abcdef12-0000-4000-8000-000000000001", "abcdef34-0000-4000-8000-000000000002"]
    _twin_jobs(world, finished_job["job_id"], twins)
    with open_chrome(tmp_path) as d:
        _signed_in(d, world)
        d.get(f"{world['url']}/console#/jobs/abcdef")
        msg = waiter(d).until(EC.visibility_of_element_located((By.ID, "job-error")))
        assert "'abcdef' is ambiguous" in msg.text
        assert all(t in msg.text for t in twins)  # each named, with a link
        d.find_element(By.LINK_TEXT, twins[1]).click()
        waiter(d).until(EC.presence_of_element_located((By.CSS_SELECTOR, "h1 + .badge")))
        assert d.current_url.endswith(twins[1])
        d.get(f"{world['url']}/console#/jobs/abc")
        msg = waiter(d).until(EC.visibility_of_element_located((By.ID, "job-error")))
        assert "at least its first 6 characters" in msg.text
        d.get(f"{world['url']}/console#/jobs/ffffff00")
        d.refresh()
        msg = waiter(d).until(EC.visibility_of_element_located((By.ID, "job-error")))
        assert "No job in project default has an id starting 'ffffff00'" in msg.text


def test_list_rerun_cancel_and_delete(console_server, finished_job, tmp_path):
    world, job_id = console_server, finished_job["job_id"]
    http, data = world["http"], world["data"]
    with open_chrome(tmp_path) as d:
        shots = Shots.for_test(d, tmp_path, "jobs-manage")
        wait = waiter(d)
        _signed_in(d, world)

        # "run again with changes" loads the request into the form; the estimate is the
        # finished job's measured speed, and its samples come from the cache
        d.get(f"{world['url']}/console#/jobs/{job_id}")
        wait.until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-rerun="{job_id}"]'))
        ).click()
        name = wait.until(EC.presence_of_element_located((By.ID, "f-name")))
        assert name.get_attribute("value") == "liver KO vs WT (again)"
        assert d.find_element(By.ID, "f-output").get_attribute("value") == f"{data}/out"
        d.find_element(By.ID, "forward").click()
        assert len(wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "tr[data-row]"))) == 4
        d.find_element(By.ID, "forward").click()
        estimate = wait.until(EC.presence_of_element_located((By.ID, "estimate"))).text
        assert "≈" in estimate and "finished job" in estimate, estimate
        assert "4 / 4" in estimate, estimate
        cache = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#dry-samples td:nth-child(4)")]
        assert cache == ["reused (done before)"] * 4, cache
        shots("step3-rerun-estimate")

        # that second job is cancelled from its page after confirming
        d.find_element(By.ID, "submit").click()
        wait.until(lambda drv: "#/jobs/" in drv.current_url and job_id not in drv.current_url)
        other = d.current_url.rsplit("/", 1)[1]
        wait.until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-cancel="{other}"]'))
        ).click()
        alert = wait.until(EC.alert_is_present())
        assert other in alert.text
        alert.accept()
        wait_status(http, other, ("CANCELLED", "FINISHED"), timeout_s=120)
        WebDriverWait(d, 30).until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR, "h1 + .badge.s-CANCELLED, h1 + .badge.s-FINISHED")
            )
        )
        shots("cancelled-after-confirm")

        # the list: names, an expanded row that survives the live refresh, filters
        d.get(f"{world['url']}/console#/jobs")
        row = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'tr[data-job="{job_id}"]')))
        assert "liver KO vs WT" in row.text and "FINISHED" in row.text
        row.find_elements(By.TAG_NAME, "td")[1].click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'[data-panel="{job_id}"]')))
        time.sleep(3.5)  # one refresh later the row is still open
        assert d.find_elements(By.CSS_SELECTOR, f'[data-panel="{job_id}"]')
        shots("jobs-list-expanded")
        d.find_element(By.ID, "f-text").send_keys("(again)")
        wait.until(lambda drv: not drv.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job_id}"]'))
        assert d.find_elements(By.CSS_SELECTOR, f'tr[data-job="{other}"]')
        Select(d.find_element(By.ID, "f-status")).select_by_value("FAILED")
        wait.until(lambda drv: not drv.find_elements(By.CSS_SELECTOR, f'tr[data-job="{other}"]'))

        # an ended job is deleted with its outputs after a confirmation naming them
        d.get(f"{world['url']}/console#/jobs/{other}")
        wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-purge="{other}"]'))).click()
        alert = wait.until(EC.alert_is_present())
        stored_output = json.loads(http.get(f"/jobs/{other}").json()["request"])["output"]
        assert stored_output in alert.text and f"/{other}/" in alert.text, alert.text
        alert.accept()
        wait.until(lambda drv: drv.current_url.endswith("#/jobs"))
        assert http.get(f"/jobs/{other}").status_code == 404
