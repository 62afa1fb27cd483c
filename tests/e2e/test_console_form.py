"""The create-job form: its state is the one source of truth.

JSON edited in step 3 is applied to the form or discarded (never half-kept); every
problem the service names is listed at once and beside its field, and a field that
is changed loses its error (a fixed step is no longer red); groups are renamed and
deleted; covariates, shrinkage and the fold-change threshold are form fields, with
the service's checks shown beside them. Screenshots at 1440x900 and 390x844.
"""

from __future__ import annotations

import json

import pytest
from chromium import DESKTOP, PHONE, Shots, open_chrome, page_width, waiter
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from support.console import REF, reads_request

pytestmark = pytest.mark.e2e


def _load_request(d, world, req) -> None:
    """Start the form from a request, as "Run again with changes" does."""
    d.get(world["console_link"])
    waiter(d).until(EC.presence_of_element_located((By.ID, "jobs")))
    d.execute_script(
        "state.draft = draftFromRequest(arguments[0]); state.step = 1; location.hash = '#/create';",
        req,
    )
    waiter(d).until(EC.presence_of_element_located((By.ID, "f-ref")))


def _set_json(d, text: str) -> None:
    box = d.find_element(By.ID, "json")
    d.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
        box,
        text,
    )


def _estimate(d) -> str:
    return waiter(d).until(EC.presence_of_element_located((By.ID, "estimate"))).text


def _request_shown(d) -> dict:
    return json.loads(d.find_element(By.ID, "json").get_attribute("value"))


def test_json_edits_are_applied_to_the_form_or_discarded(console_server, tmp_path):
    world = console_server
    with open_chrome(tmp_path) as d:
        shots = Shots.for_test(d, tmp_path, "form-json")
        wait = waiter(d)
        _load_request(d, world, reads_request(world, name="json edits"))
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        _estimate(d)
        box = d.find_element(By.ID, "json")
        assert box.get_attribute("readonly") is not None  # the form's request, shown
        d.find_element(By.ID, "json-edit").click()

        # the case: "ref": "hg38" typed into the JSON, then Next elsewhere
        req = _request_shown(d)
        req["ref"] = "hg38"
        _set_json(d, json.dumps(req, indent=2))
        d.find_element(By.CSS_SELECTOR, '[data-goto="1"]').click()
        note = wait.until(EC.visibility_of_element_located((By.ID, "json-note")))
        assert "Apply or discard" in note.text  # a clear choice, nothing silent
        assert d.find_element(By.CSS_SELECTOR, '.card[data-step="3"]')
        shots("json-edited-choice")
        d.find_element(By.ID, "json-apply").click()
        # applied: the form now says hg38 (beside its error), and goes where asked
        ref = wait.until(EC.presence_of_element_located((By.ID, "f-ref")))
        assert Select(ref).first_selected_option.get_attribute("value") == "hg38"
        assert "not on this server" in Select(ref).first_selected_option.text
        Select(d.find_element(By.ID, "f-ref")).select_by_value(REF)
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        _estimate(d)
        assert _request_shown(d)["ref"] == REF

        # a sample removed in step 2 stays removed; discarded JSON edits are gone
        d.find_element(By.CSS_SELECTOR, '[data-goto="2"]').click()
        wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-drop="0"]'))).click()
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        problems = wait.until(EC.visibility_of_element_located((By.ID, "problems")))
        assert "two samples per group" in problems.text  # the removal is what is checked
        shots("sample-removed-step3")
        req = _request_shown(d)
        assert sum(len(g["group_inputs"]) for g in req["inputs"]) == 3
        d.find_element(By.ID, "json-edit").click()
        _set_json(d, json.dumps(req | {"name": "never kept"}))
        d.find_element(By.ID, "json-discard").click()
        assert _request_shown(d).get("name") == "json edits"
        d.find_element(By.CSS_SELECTOR, '[data-goto="2"]').click()
        assert len(d.find_elements(By.CSS_SELECTOR, "tr[data-row]")) == 3

        # invalid JSON cannot be applied; the reason is shown
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        wait.until(EC.element_to_be_clickable((By.ID, "json-edit"))).click()
        _set_json(d, '{"name": ')
        d.find_element(By.ID, "json-apply").click()
        assert "not valid JSON" in d.find_element(By.ID, "json-error").text
        # fields the form has no control for ride along unchanged
        _set_json(d, json.dumps(req | {"quantifier": "genome"}, indent=2))
        d.find_element(By.ID, "json-apply").click()
        wait.until(EC.invisibility_of_element_located((By.ID, "json-note")))
        assert _request_shown(d)["quantifier"] == "genome"
        shots("json-applied")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_problem_at_once_and_a_fixed_step_is_no_longer_red(console_server, tmp_path, size):
    world = console_server
    with open_chrome(tmp_path, size) as d:
        shots = Shots.for_test(d, tmp_path, f"form-errors-{size[0]}")
        wait = waiter(d)
        bad = reads_request(world, library_type="fr-reverse", lfc_threshold=99)
        bad["inputs"][0]["group_inputs"][0]["files"][1] = "/nowhere/K1_R2.fastq.gz"
        _load_request(d, world, bad)
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        problems = wait.until(EC.visibility_of_element_located((By.ID, "problems")))
        assert page_width(d) <= size[0]
        shots("all-problems-listed")
        text = problems.text
        assert "Library type" in text and "Fold-change threshold" in text, text
        for step in (1, 2):
            assert "has-error" in d.find_element(
                By.CSS_SELECTOR, f'[data-goto="{step}"]'
            ).get_attribute("class")
        # step 1: the error beside the library type; fixing it clears step 1's red
        d.find_element(By.CSS_SELECTOR, '[data-goto="1"]').click()
        err = wait.until(
            EC.visibility_of_element_located(
                (By.CSS_SELECTOR, '[data-path="library_type"] .field-error')
            )
        )
        assert "must be one of" in err.text and "DLI.0001" in err.text
        shots("step1-field-error")
        Select(d.find_element(By.ID, "f-lt")).select_by_value("auto")
        assert not d.find_elements(By.CSS_SELECTOR, ".field-error")
        assert "has-error" not in d.find_element(By.CSS_SELECTOR, '[data-goto="1"]').get_attribute(
            "class"
        )
        assert "has-error" in d.find_element(By.CSS_SELECTOR, '[data-goto="2"]').get_attribute(
            "class"
        )
        # step 2: the threshold's error beside its field, the sample's under its row
        d.find_element(By.CSS_SELECTOR, '[data-goto="2"]').click()
        lfc_err = wait.until(
            EC.visibility_of_element_located(
                (By.CSS_SELECTOR, '[data-path="lfc_threshold"] .field-error')
            )
        )
        assert "lfc_threshold" in lfc_err.get_attribute("title")
        shots("step2-field-error")
        lfc = d.find_element(By.ID, "f-lfc")
        lfc.clear()
        lfc.send_keys("1")
        assert not d.find_elements(By.CSS_SELECTOR, '[data-path="lfc_threshold"] .field-error')
        assert not d.find_elements(By.CSS_SELECTOR, "#problems li")
        # the files are checked once the fields are right: named in the form's words,
        # under the sample's row
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        problems = wait.until(EC.visibility_of_element_located((By.ID, "problems")))
        wait.until(lambda drv: "read 2" in drv.find_element(By.ID, "problems").text)
        assert "sample K_rep1, read 2" in problems.text, problems.text
        d.find_element(By.CSS_SELECTOR, "[data-problem='0']").click()
        row_error = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "tr.error-row")))
        assert row_error.text.startswith("sample K_rep1, read 2")
        assert page_width(d) <= size[0]
        shots("step2-sample-error")


def test_groups_covariates_and_statistics_in_step_two(console_server, tmp_path):
    world = console_server
    with open_chrome(tmp_path) as d:
        shots = Shots.for_test(d, tmp_path, "form-step2")
        wait = waiter(d)
        _load_request(d, world, reads_request(world, name="covariates"))
        d.find_element(By.ID, "forward").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr[data-row]")))
        # rename group K to KO: samples and the comparison follow
        name = d.find_element(By.CSS_SELECTOR, '[data-rename="0"]')
        name.send_keys(Keys.END, Keys.BACKSPACE, "KO\n")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-comp="KO|W"]')))
        groups = {
            Select(s).first_selected_option.text
            for s in d.find_elements(By.CSS_SELECTOR, "select[data-group]")
        }
        assert groups == {"KO", "W"}
        # a new empty group is deleted at once
        d.find_element(By.ID, "new-group").send_keys("spare")
        d.find_element(By.ID, "add-group").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-delgroup="2"]'))).click()
        wait.until(lambda drv: len(drv.find_elements(By.CSS_SELECTOR, "[data-rename]")) == 2)

        # a batch covariate, confounded with the group: the service's check beside it
        d.find_element(By.ID, "new-cov").send_keys("batch")
        d.find_element(By.ID, "add-cov").click()
        cells = wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "input.cov"))
        assert len(cells) == 4
        rows = d.find_elements(By.CSS_SELECTOR, "tr[data-row]")
        for row in rows:
            group = Select(row.find_element(By.CSS_SELECTOR, "select")).first_selected_option.text
            cell = row.find_element(By.CSS_SELECTOR, "input.cov")
            cell.send_keys("b1" if group == "KO" else "b2")
        d.find_element(By.ID, "f-shrink").click()
        lfc = d.find_element(By.ID, "f-lfc")
        lfc.clear()
        lfc.send_keys("0.5")
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        cov_err = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#problems")))
        assert "confounded" in cov_err.text, cov_err.text
        d.find_element(By.CSS_SELECTOR, '[data-goto="2"]').click()
        beside = wait.until(
            EC.visibility_of_element_located(
                (By.CSS_SELECTOR, '[data-path="covariates"] .field-error')
            )
        )
        assert "confounded with group" in beside.text
        shots("covariate-confounded")
        # one sample of each group per batch: a design that can be fitted
        for k, cell in enumerate(d.find_elements(By.CSS_SELECTOR, "input.cov")):
            cell.clear()
            cell.send_keys(f"b{k % 2 + 1}")
        assert not d.find_elements(By.CSS_SELECTOR, '[data-path="covariates"] .field-error')
        d.find_element(By.CSS_SELECTOR, '[data-goto="3"]').click()
        assert "every check passed" in _estimate(d)
        req = _request_shown(d)
        assert req["shrink"] is True and req["lfc_threshold"] == 0.5
        covs = [s["covariates"]["batch"] for g in req["inputs"] for s in g["group_inputs"]]
        assert sorted(covs) == ["b1", "b1", "b2", "b2"]
        assert [g["group_name"] for g in req["inputs"]] == ["KO", "W"]
        shots("step3-covariates-valid")


def test_help_is_written_for_people_not_for_the_api(console_server, tmp_path):
    with open_chrome(tmp_path) as d:
        _load_request(d, console_server, reads_request(console_server))
        for step in (1, 2, 3):
            d.find_element(By.CSS_SELECTOR, f'[data-goto="{step}"]').click()
            card = waiter(d).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, f'.card[data-step="{step}"]'))
            )
            help_text = " ".join(h.text for h in card.find_elements(By.CSS_SELECTOR, ".help, h2"))
            assert "GET " not in help_text and "POST " not in help_text, help_text
            assert "/gene/" not in help_text, help_text
