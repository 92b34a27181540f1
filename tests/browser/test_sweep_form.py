"""The sweep form in a real headless Chromium: from the sweep list to the form, the member count and
the estimate follow the choices as they are typed, a refusal comes back beside its field with the
choices kept, and the sweep submitted lands on its page listing its members. Against a real uvicorn
server on the embedded default, as ``test_dashboard.py`` (no worker: the members stay queued).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package, as ``test_dashboard.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from service.settings import Settings
from tests.api.ui.job_records import play_worker
from tests.browser.browser_site import (
    chromium,
    dashboard_server,
    needs_chromium,
    screenshot,
    sign_in,
    text_of,
    wait_for,
)

pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402

pytestmark = needs_chromium


@dataclass
class Site:
    url: str
    settings: Settings
    token: str
    teacher: str


def seed_teacher(url: str, settings: Settings, token: str) -> str:
    """A succeeded teacher, and a KD student of it whose epochs (1.5 s each) the estimate measures."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        jobs = []
        for body in ({"method": "ce", "name": "teacher"}, {"method": "kd", "name": "kd student"}):
            if jobs:
                body["teacher"] = {"job": jobs[0]}
            body |= {"dataset": "digits", "student": "resnet8", "hyperparameters": {"epochs": 2}}
            response = client.post("/v1/jobs", json=body)
            assert response.status_code == 201, response.text
            jobs.append(str(response.json()["id"]))
            play_worker(settings, jobs[-1], epochs_done=2, outcome="succeeded")
    return jobs[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with dashboard_server(tmp_path_factory.mktemp("sweep-form"), "sweep-form") as (url, settings, token):
        yield Site(url, settings, token, seed_teacher(url, settings, token))


@pytest.fixture(scope="module")
def browser(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("chromium-sweep-form"), window="1400,1000") as driver:
        sign_in(driver, site.url, site.token, page="/ui/sweeps", ready="new-sweep")
        yield driver


def fill(driver: WebDriver, field_id: str, value: str) -> None:
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(value)


def shows(driver: WebDriver, css: str, start: str) -> bool:
    return (text_of(driver, css) or "").startswith(start)


def test_fill_in_a_sweep_watch_it_counted_and_land_on_its_page(browser: WebDriver, site: Site) -> None:
    browser.find_element(By.ID, "new-sweep").click()
    wait_for(browser, lambda d: d.current_url.endswith("/ui/sweeps/new"), "the sweep form")
    # KD against SD-KD on resnet8, 240 epochs each: 2 × 240 × 1.5 s, said before anything is sent
    assert text_of(browser, "#member-count") == "2 jobs (at most 64 per sweep here)"
    assert text_of(browser, "#estimate-warning").startswith("A long sweep: about 12 min of training for 2 jobs")
    assert text_of(browser, "#submit-sweep") == "Start a ~12 min sweep of 2 jobs"
    screenshot(browser, "sweep-form-00-new")

    fill(browser, "f-hyperparameters-epochs", "1")
    wait_for(
        browser, lambda d: shows(d, "#estimate-text", "≈ 3 s on this service for 2 jobs × 1 epoch"), "the estimate"
    )
    assert not browser.find_element(By.ID, "estimate-warning").is_displayed()
    fill(browser, "f-seed", "0, 1")
    wait_for(browser, lambda d: shows(d, "#member-count", "4 jobs"), "4 members: 2 methods × 2 seeds")
    fill(browser, "f-beta", "1, 2")
    wait_for(browser, lambda d: shows(d, "#member-count", "6 jobs"), "6 members: β varies the SD-KD ones only")
    browser.find_element(By.ID, "f-student-resnet20").click()
    wait_for(browser, lambda d: shows(d, "#member-count", "12 jobs"), "12 members: and 2 students")
    assert text_of(browser, "#estimate-text") == "no measurement yet for resnet20 on digits (6 of its 12 jobs)"
    browser.find_element(By.ID, "f-student-resnet20").click()
    wait_for(browser, lambda d: shows(d, "#member-count", "6 jobs"), "6 members again")
    fill(browser, "f-name", "browser sweep")
    screenshot(browser, "sweep-form-01-filled")

    browser.find_element(By.ID, "submit-sweep").click()  # no teacher chosen for the user
    error = wait_for(browser, lambda d: text_of(d, "#f-teacher-error"), "the teacher's refusal")
    assert "distils from a teacher" in error
    assert browser.find_element(By.ID, "f-beta").get_attribute("value") == "1, 2"  # the choices kept
    assert browser.find_element(By.ID, "f-method-sd-kd").is_selected()
    assert text_of(browser, "#member-count") == "6 jobs (at most 64 per sweep here)"

    Select(browser.find_element(By.ID, "f-teacher")).select_by_value(f"job:{site.teacher}")
    browser.find_element(By.ID, "submit-sweep").click()
    wait_for(browser, lambda d: "/ui/sweeps/swp_" in d.current_url, "the new sweep's page")
    sweep_id = browser.current_url.rsplit("/", 1)[1]
    assert "browser sweep" in (text_of(browser, "h1") or "")
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.token}"}) as client:
        sweep = client.get(f"/v1/sweeps/{sweep_id}").json()
    listed = [
        row.get_attribute("data-job-id") for row in browser.find_elements(By.CSS_SELECTOR, "#members-table tbody tr")
    ]
    assert sorted(listed) == sorted(member["id"] for member in sweep["members"]) and len(listed) == 6
    screenshot(browser, "sweep-form-02-submitted")
