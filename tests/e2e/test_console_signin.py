"""A refused token is a sign-in screen that says so and where a token comes from
(not a page that keeps saying "loading…"); a good token signs in from there."""

from __future__ import annotations

import pytest
from chromium import DESKTOP, PHONE, Shots, open_chrome, page_width, waiter
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_refused_token_shows_the_sign_in_screen(console_server, tmp_path, size):
    world = console_server
    with open_chrome(tmp_path, size) as d:
        shots = Shots.for_test(d, tmp_path, f"signin-{size[0]}")
        wait = waiter(d)
        d.get(f"{world['url']}/console#token=gj_not_a_token&project=default")
        refused = wait.until(EC.visibility_of_element_located((By.ID, "refused")))
        assert "refused this token" in refused.text and "DLI.0013" in refused.text
        help_text = d.find_element(By.CSS_SELECTOR, ".token-help").text
        assert "genejobs token create --user" in help_text
        assert "~/.genejobs/token" in help_text and "genejobs demo --keep" in help_text
        assert not d.find_elements(By.XPATH, "//*[contains(text(), 'loading…')]")
        assert page_width(d) <= size[0]
        shots("token-refused")

        # a wrong token typed here is refused here, with the service's words
        d.find_element(By.ID, "token").send_keys("gj_still_wrong")
        d.find_element(By.ID, "signin-save").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "signin-error"), "DLI.0013"))
        # the right one signs in and lands on the jobs list
        box = d.find_element(By.ID, "token")
        box.clear()
        box.send_keys(world["token"])
        d.find_element(By.ID, "signin-save").click()
        wait.until(EC.presence_of_element_located((By.ID, "jobs")))
        assert d.execute_script("return localStorage.getItem('genejobs.token')") == world["token"]
        assert d.find_element(By.ID, "who").text == "project default"
        shots("signed-in")


def test_a_token_of_another_project_says_so(console_server, tmp_path):
    world = console_server
    with open_chrome(tmp_path) as d:
        d.get(f"{world['url']}/console#token={world['token']}&project=elsewhere")
        refused = waiter(d).until(EC.visibility_of_element_located((By.ID, "refused")))
        assert "not allowed on project 'elsewhere'" in refused.text
