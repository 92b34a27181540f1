"""The dashboard in a real headless Chromium, against a real uvicorn server on the embedded default
(``tests.browser.browser_site``: no worker). Jobs get their history the way a worker would write it
(``tests.api.ui.job_records.play_worker``). Screenshots of each step are saved under
``tests/artifacts/screenshots/`` (git-ignored) and their paths printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from domain.jobs.transitions import record_batch_progress, record_epoch
from service.db.models import Job
from service.db.session import get_sessionmaker
from service.settings import Settings
from tests.api.ui.job_records import WORKER, metrics_row, play_worker, succeed
from tests.browser.browser_site import (
    CHROMEDRIVER,
    CHROMIUM,
    WAIT_S,
    chromium,
    dashboard_server,
    needs_chromium,
    screenshot,
    text_of,
    wait_for,
)
from tests.browser.browser_site import sign_in as sign_in_at

pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402

pytestmark = needs_chromium
__all__ = ["CHROMEDRIVER", "CHROMIUM", "WAIT_S", "screenshot", "text_of", "wait_for"]  # for the other browser tests

XSS = "<script>window.pwned = 1</script>"


@dataclass
class Site:
    """The running server, its settings, alice's token, the seeded jobs by role and the seeded sweep."""

    url: str
    settings: Settings
    token: str
    jobs: dict[str, str]
    sweep: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with dashboard_server(tmp_path_factory.mktemp("dashboard"), "dashboard") as (url, settings, token):
        yield Site(url, settings, token, *seed_jobs(url, settings, token))


TEACHER_NAME = "resnet8 teacher for digits, ce"  # 30 characters: the job list keeps it on one or two lines
SWEEP_NAME = "digits students from teacher"  # its members: "<this> kd", "<this> sd-kd"


def seed_jobs(url: str, settings: Settings, token: str) -> tuple[dict[str, str], str]:
    """Jobs and a sweep through the REST API, their history played in SQL (no training): a named,
    succeeded teacher, an SD-KD student of it, one job running, one queued, and a named sweep with a
    succeeded member and one in the middle of an epoch. (jobs by role, the sweep's id)"""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:

        def submit(**body: Any) -> str:
            body = {"dataset": "digits", "student": "resnet8", "method": "ce"} | body
            response = client.post("/v1/jobs", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        teacher = submit(name=TEACHER_NAME, hyperparameters={"epochs": 2})
        play_worker(settings, teacher, epochs_done=2, outcome="succeeded")
        student = submit(
            method="sd-kd", teacher={"job": teacher}, hyperparameters={"epochs": 2}, metadata={"note": XSS}
        )
        play_worker(settings, student, epochs_done=2, outcome="succeeded", sd=True)
        running = submit(method="kd", teacher={"job": teacher}, hyperparameters={"epochs": 3})
        play_worker(settings, running, epochs_done=1)
        queued = submit(hyperparameters={"epochs": 1})
        base = {
            "dataset": "digits",
            "student": "resnet8",
            "method": "kd",
            "teacher": {"job": teacher},
            "hyperparameters": {"epochs": 2},
        }
        sweep = client.post("/v1/sweeps", json={"name": SWEEP_NAME, "base": base, "grid": {"method": ["kd", "sd-kd"]}})
        assert sweep.status_code == 201, sweep.text
        done, in_epoch = (m["id"] for m in sweep.json()["members"])
    play_worker(settings, done, epochs_done=2, outcome="succeeded")
    play_worker(settings, in_epoch, epochs_done=1, sd=True, batch=(14, 23))
    jobs = {"teacher": teacher, "student": student, "running": running, "queued": queued}
    return jobs | {"member_done": done, "member_running": in_epoch}, str(sweep.json()["id"])


@pytest.fixture(scope="module")
def browser(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def click(driver: WebDriver, css: str) -> None:
    """Click the element ``css`` selects, finding it again if our JS swapped it meanwhile."""

    def clicked(d: WebDriver) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
            return True
        except StaleElementReferenceException:
            return False

    wait_for(driver, clicked, f"a click on {css}")


def attribute_of(driver: WebDriver, css: str, name: str) -> str | None:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
        css,
        name,
    )


def image_loaded(driver: WebDriver, css: str) -> bool:
    return bool(
        driver.execute_script(
            "const img = document.querySelector(arguments[0]);return !!img && img.complete && img.naturalWidth > 0;",
            css,
        )
    )


def chart_epochs(driver: WebDriver, figure: str) -> list[int]:
    """The epochs the val top-1 curves of the chart (charts.js) in ``figure`` have points at."""
    return sorted(
        {
            int(epoch)
            for epoch in driver.execute_script(
                "return [...document.querySelectorAll(arguments[0] + ' g[data-curve=val_top1] circle')]"
                ".map(c => c.dataset.epoch)",
                figure,
            )
        }
    )


def fetched_type(driver: WebDriver, link: str) -> str:
    """The Content-Type the page gets fetching the href of ``link`` (or the HTTP status when not OK)."""
    return str(
        driver.execute_async_script(
            "const done = arguments[1];"
            "fetch(document.querySelector(arguments[0]).href)"
            ".then(r => done(r.ok ? r.headers.get('content-type') : 'HTTP ' + r.status));",
            link,
        )
    )


def sign_in(driver: WebDriver, site: Site) -> None:
    sign_in_at(driver, site.url, site.token)


def test_sign_in_and_live_job_list(browser: WebDriver, site: Site) -> None:
    browser.delete_all_cookies()
    browser.get(site.url + "/ui")
    assert "/ui/login" in browser.current_url  # signed out: sent to the login form
    browser.find_element(By.ID, "token").send_keys("sdd_wrong-token")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert "not valid" in wait_for(browser, lambda d: text_of(d, "#token-error"), "the login error")
    sign_in(browser, site)

    for role, status in (("student", "succeeded"), ("running", "running"), ("queued", "queued")):
        row = f"tr[data-job-id='{site.jobs[role]}']"
        assert text_of(browser, f"{row} [data-field=status]") == status
    running = f"tr[data-job-id='{site.jobs['running']}']"
    assert text_of(browser, f"{running} .epoch-text") == "epoch 1/3"
    screenshot(browser, "01-job-list")

    with get_sessionmaker(site.settings)() as session:  # the worker is 30 batches into epoch 2
        assert record_batch_progress(session, site.jobs["running"], 2, 30, 57, WORKER)
    wait_for(browser, lambda d: text_of(d, f"{running} .batch-text") == "· batch 30/57", "the running row's batch")
    bar = browser.execute_script("return document.querySelector(arguments[0]).value", f"{running} progress")
    assert abs(bar - (1 + 30 / 57)) < 1e-6

    browser.get(f"{site.url}/ui/jobs/{site.jobs['running']}")  # its page: the batch on a line of its own
    assert text_of(browser, "#job-live .batch-text") == "batch 30/57 of epoch 2"
    boxes = browser.execute_script(FACT_OVERLAP_SCRIPT, "#job-live .progress", "#job-live dl.facts > div:nth-child(3)")
    assert boxes["progress_right"] <= boxes["next_left"] + 0.5, boxes
    screenshot(browser, "01-running-job-batch", "#job-live .summary")
    browser.get(site.url + "/ui")

    with get_sessionmaker(site.settings)() as session:  # the worker finishes epoch 2 meanwhile
        record_epoch(session, site.jobs["running"], metrics_row(2, 3))
    wait_for(browser, lambda d: text_of(d, f"{running} .epoch-text") == "epoch 2/3", "the running row to update")
    assert text_of(browser, f"{running} [data-field=val_top1]") == "60.00%"
    assert text_of(browser, f"{running} .batch-text") == ""


def test_job_page_shows_curves_and_events(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    browser.find_element(By.CSS_SELECTOR, f"a[href='/ui/jobs/{site.jobs['student']}']").click()
    wait_for(browser, lambda d: chart_epochs(d, "#curves") == [1, 2], "the curves to be drawn")
    events = text_of(browser, "#events")
    assert "started (attempt 1)" in events and "training finished" in events
    assert "test-worker" not in events  # the worker's host and process are the operators' business
    assert "checkpoint of epoch 2 stored" in events
    assert len(browser.find_elements(By.CSS_SELECTOR, "#checkpoints tbody tr")) == 2
    assert (attribute_of(browser, "#download-student", "href") or "").endswith("/student")
    assert XSS in text_of(browser, "#metadata")  # shown as text ...
    assert browser.execute_script("return window.pwned === undefined")  # ... and never run
    assert not browser.find_elements(By.ID, "cancel-button")
    # Without JS the server's SVG; it and a PNG are the downloads (charts.js is covered in test_charts.py).
    fallback = browser.execute_script("return document.querySelector('#curves noscript').textContent")
    assert f"/ui/jobs/{site.jobs['student']}/curves.svg?epoch=2" in fallback
    for fmt, media_type in (("svg", "image/svg+xml"), ("png", "image/png")):
        assert fetched_type(browser, f"#download-curves-{fmt}") == media_type
    screenshot(browser, "02-job-page")
    screenshot(browser, "02-job-curves", "#curves")


def test_running_job_page_refreshes_until_it_finishes(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    job_id = site.jobs["running"]
    browser.get(f"{site.url}/ui/jobs/{job_id}")
    assert text_of(browser, "#job-status") == "running" and browser.find_elements(By.ID, "cancel-button")
    wait_for(browser, lambda d: chart_epochs(d, "#curves"), "the running job's curves")
    click(browser, "#curves button[data-key='curve:val_top5']")  # hidden, and kept hidden as the chart grows

    last = metrics_row(3, 3)
    with get_sessionmaker(site.settings)() as session:  # the worker ends the job meanwhile
        record_epoch(session, job_id, last)
    succeed(site.settings, job_id, last)
    wait_for(browser, lambda d: text_of(d, "#job-status") == "succeeded", "the page to show succeeded")
    wait_for(browser, lambda d: chart_epochs(d, "#curves") == [1, 2, 3], "the curves of epoch 3")
    assert not browser.find_elements(By.CSS_SELECTOR, "#curves g[data-curve='val_top5']")
    assert attribute_of(browser, "#curves button[data-key='curve:val_top5']", "aria-pressed") == "false"
    assert "epoch=3" in (attribute_of(browser, "#download-curves-svg", "href") or "")
    assert browser.find_elements(By.ID, "download-student") and not browser.find_elements(By.ID, "cancel-button")
    assert "training finished" in text_of(browser, "#events")


def test_cancel_a_queued_job(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    browser.get(f"{site.url}/ui/jobs/{site.jobs['queued']}")
    assert text_of(browser, "#job-status") == "queued"
    click(browser, "#cancel-button")
    wait_for(browser, lambda d: text_of(d, "#job-status") == "cancelled", "the job to show cancelled")
    assert "Cancelled before it started" in text_of(browser, ".notice")
    assert not browser.find_elements(By.ID, "cancel-button")
    with get_sessionmaker(site.settings)() as session:
        job = session.get(Job, site.jobs["queued"])
        assert job is not None and job.status == "cancelled"
    screenshot(browser, "03-cancelled")


def test_compare_two_jobs(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    for role in ("teacher", "student"):
        browser.find_element(By.CSS_SELECTOR, f"input[type=checkbox][value='{site.jobs[role]}']").click()
    browser.find_element(By.ID, "compare-button").click()
    wait_for(browser, lambda d: "/ui/compare" in d.current_url, "the comparison page")
    wait_for(browser, lambda d: chart_epochs(d, "#compare-figure") == [1, 2], "the overlaid curves")
    table = text_of(browser, "#compare-table")
    assert TEACHER_NAME in table and site.jobs["student"] in table and "sd-kd" in table  # the name, else the id
    screenshot(browser, "04-compare")
    screenshot(browser, "04-compare-curves", "#compare-figure")


def test_submit_form_shows_errors_then_creates_a_job(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    browser.get(site.url + "/ui/submit")
    browser.find_element(By.CSS_SELECTOR, "#hyperparameters summary").click()
    method = Select(browser.find_element(By.ID, "f-method"))
    warmup = browser.find_element(By.ID, "f-hyperparameters-warmup_epochs")
    assert method.first_selected_option.get_attribute("value") == "sd-kd" and warmup.get_attribute("value") == "0"
    method.select_by_value("sd-dkd")  # our JS swaps in the method's defaults
    assert warmup.get_attribute("value") == "20"
    method.select_by_value("sd-kd")
    assert warmup.get_attribute("value") == "0"

    def fill(field_id: str, value: str) -> None:
        field = browser.find_element(By.ID, field_id)
        field.clear()
        field.send_keys(value)

    fill("f-beta", "-1")
    fill("f-hyperparameters-epochs", "1")
    browser.find_element(By.ID, "submit-job").click()
    error = wait_for(browser, lambda d: text_of(d, "#f-beta-error"), "the beta error")
    assert "greater than or equal to 0" in error
    assert browser.find_element(By.ID, "f-beta").get_attribute("value") == "-1"  # input kept
    assert browser.find_element(By.ID, "f-hyperparameters-epochs").get_attribute("value") == "1"
    screenshot(browser, "05-submit-error")

    assert text_of(browser, "#f-teacher-error")  # no teacher is chosen for the user
    fill("f-beta", "2")
    Select(browser.find_element(By.ID, "f-teacher")).select_by_value(f"job:{site.jobs['teacher']}")
    browser.find_element(By.ID, "submit-job").click()
    wait_for(browser, lambda d: "/ui/jobs/job_" in d.current_url, "the new job's page")
    assert text_of(browser, "#job-status") == "queued"
    assert "sd-kd" in text_of(browser, ".lead")
    screenshot(browser, "06-submitted")


def test_running_sweep_page_refreshes_until_every_member_finishes(browser: WebDriver, site: Site) -> None:
    base = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": {"job": site.jobs["teacher"]}}
    request = {"base": base | {"hyperparameters": {"epochs": 2}}, "grid": {"method": ["kd", "sd-kd"]}}
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.token}"}, timeout=30) as client:
        created = client.post("/v1/sweeps", json=request)
    assert created.status_code == 201, created.text
    sweep_id, (kd, sd_kd) = created.json()["id"], [m["id"] for m in created.json()["members"]]
    play_worker(site.settings, kd, epochs_done=1)  # one member running, the other queued

    sign_in(browser, site)
    browser.get(f"{site.url}/ui/sweeps/{sweep_id}")
    assert text_of(browser, "#sweep-status") == "running" and browser.find_elements(By.ID, "cancel-sweep-button")
    wait_for(browser, lambda d: image_loaded(d, "#sweep-curves"), "the running sweep's curves")

    last = metrics_row(2, 2)
    with get_sessionmaker(site.settings)() as session:  # the worker ends the running member meanwhile
        record_epoch(session, kd, last)
    succeed(site.settings, kd, last)
    play_worker(site.settings, sd_kd, epochs_done=2, outcome="succeeded", sd=True)
    wait_for(browser, lambda d: text_of(d, "#sweep-status") == "succeeded", "the sweep page to show succeeded")
    assert "epoch=4" in (attribute_of(browser, "#sweep-curves", "src") or "")
    wait_for(browser, lambda d: image_loaded(d, "#sweep-curves"), "the curves of every epoch")
    assert attribute_of(browser, "#sweep-live", "data-terminal") == "true"
    assert not browser.find_elements(By.ID, "cancel-sweep-button")
    assert "4/4 epochs" in (text_of(browser, "#sweep-live .epoch-text") or "")
    screenshot(browser, "07-sweep-finished")


OVERFLOW_SCRIPT = """
const page = document.documentElement;
const wide = [...document.querySelectorAll('.table-wrap, main, body')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`);
return {page: page.scrollWidth - page.clientWidth, wide: wide};
"""
VISIBLE_SCRIPT = """
const cell = document.querySelector(arguments[0]);
if (!cell) return null;
const box = cell.getBoundingClientRect();
return box.width > 0 && box.left >= 0 && box.right <= document.documentElement.clientWidth;
"""
JOB_COLUMN_SCRIPT = """
const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
const cells = [...document.querySelectorAll('#jobs-table td.job-cell')];
const cut = [...document.querySelectorAll('#jobs-table code.job-id')]
  .filter(c => c.getBoundingClientRect().right > c.closest('td').getBoundingClientRect().right + 1)
  .map(c => c.textContent);
return {narrowest_rem: Math.min(...cells.map(c => c.getBoundingClientRect().width)) / rem, cut_ids: cut};
"""
FACT_OVERLAP_SCRIPT = """
const parts = [...document.querySelector(arguments[0]).children].map(s => s.getBoundingClientRect().right);
return {progress_right: Math.max(...parts), next_left: document.querySelector(arguments[1]).getBoundingClientRect().left};
"""
OVERLAP_SCRIPT = """
const row = document.querySelector(arguments[0]);
const top1 = row.querySelector('[data-field=val_top1]');
const parts = [...row.querySelectorAll('[data-field=progress] span')].map(s => s.getBoundingClientRect().right);
return {progress_right: Math.max(...parts), top1_left: top1.getBoundingClientRect().left};
"""


def test_the_form_estimates_the_training_time_as_its_choices_change(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    browser.get(site.url + "/ui/submit")
    # digits, resnet8, sd-kd, 240 epochs: every distilled epoch seeded here took 1.5 s
    first = text_of(browser, "#estimate-text") or ""
    assert re.fullmatch(r"≈ 6 min on this service \(measured over \d+ epochs of 2 jobs\)", first), first
    measured = first[first.index("(measured") :]  # the server's words, which our JS must say again
    assert text_of(browser, "#submit-job") == "Start a ~6 min job"
    assert not browser.find_element(By.ID, "estimate-warning").is_displayed()
    epochs = browser.find_element(By.ID, "f-hyperparameters-epochs")  # in sight, not in the collapsed part
    epochs.clear()
    epochs.send_keys("20")  # our JS estimates again as the epochs are typed
    wait_for(browser, lambda d: text_of(d, "#estimate-text").startswith("≈ 30 s on this service"), "the estimate")
    assert text_of(browser, "#submit-job") == "Start a ~30 s job"
    assert text_of(browser, "#estimate-text") == f"≈ 30 s on this service {measured}"  # as the server says it
    epochs.send_keys("0")  # 200 epochs × 1.5 s: 5 min, no warning yet
    epochs.send_keys("0")  # 2000 epochs: 50 min
    wait_for(browser, lambda d: text_of(d, "#submit-job") == "Start a ~50 min job", "the long job's button")
    warning = browser.find_element(By.ID, "estimate-warning")
    assert warning.is_displayed() and warning.text.startswith("A long job: about 50 min of training for 2000 epochs")
    screenshot(browser, "07-submit-long-job", "#submit-row")
    Select(browser.find_element(By.ID, "f-student")).select_by_value("resnet20")
    wait_for(
        browser, lambda d: text_of(d, "#estimate-text") == "no measurement yet for resnet20 on digits", "no estimate"
    )
    assert text_of(browser, "#submit-job") == "Start a 2000-epoch job" and "may take hours" in warning.text
    epochs.clear()
    assert text_of(browser, "#estimate-text") == "give the number of epochs for an estimate"
    assert text_of(browser, "#submit-job") == "Submit job" and not warning.is_displayed()
    screenshot(browser, "07-submit-estimate", "#estimate")


def test_clone_a_job_from_its_page(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    browser.get(f"{site.url}/ui/jobs/{site.jobs['student']}")
    click(browser, "#clone-button")
    wait_for(browser, lambda d: "/ui/submit?from=" in d.current_url, "the form filled in from the job")
    assert text_of(browser, "#cloning").startswith(f"Cloning {site.jobs['student']}")
    assert Select(browser.find_element(By.ID, "f-method")).first_selected_option.get_attribute("value") == "sd-kd"
    assert browser.find_element(By.ID, "f-hyperparameters-epochs").get_attribute("value") == "2"
    assert text_of(browser, "#estimate-text").startswith("≈ 3 s on this service")  # 2 epochs × 1.5 s
    assert browser.execute_script("return window.pwned === undefined")  # its metadata is text in the form
    screenshot(browser, "07-clone-form")


TEXT_OVERLAP_SCRIPT = """
const skipped = 'noscript, script, style, template, title, option, progress, .visually-hidden, .skip';
const boxes = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const element = node.parentElement, text = node.textContent.trim();
  if (!text || !element || element.closest(skipped)) continue;
  if (!element.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
  let rects;
  if (element instanceof SVGElement) rects = [element.getBoundingClientRect()];
  else { const range = document.createRange(); range.selectNodeContents(node); rects = [...range.getClientRects()]; }
  for (const r of rects) if (r.width > 0 && r.height > 0) boxes.push({element, text, r});
}
const named = b => `"${b.text.slice(0, 40)}" <${b.element.tagName.toLowerCase()}` +
  `${b.element.id ? '#' + b.element.id : ''}${[...b.element.classList].map(c => '.' + c).join('')}>`;
const overlaps = [];
for (let i = 0; i < boxes.length; i++) {
  for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.element.contains(b.element) || b.element.contains(a.element)) continue;  // itself or an ancestor
    const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
    const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
    if (w > 1 && h > 1) overlaps.push(`${named(a)} overlaps ${named(b)} by ${w.toFixed(1)} x ${h.toFixed(1)} px`);
  }
}
return {texts: boxes.length, overlaps: overlaps.slice(0, 10)};
"""
TABLE_SCROLL_SCRIPT = """
return [...document.querySelectorAll('table')].filter(t => t.checkVisibility()).flatMap(table => {
  let box = table.parentElement;
  while (box !== document.body && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
  return box.scrollWidth > box.clientWidth + 1 ? [`table#${table.id}: ${box.scrollWidth} > ${box.clientWidth} px`] : [];
});
"""
NAME_LINES_SCRIPT = """
return [...document.querySelectorAll(arguments[0])].filter(e => e.textContent.trim().length >= 30).map(e =>
  [e.textContent.trim(), e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)]);
"""


@pytest.mark.parametrize("width", [1400, 1920])
def test_pages_fit_the_window_without_overlapping_text(browser: WebDriver, site: Site, width: int) -> None:
    """As a person sees each page: nothing scrolls sideways, no text is drawn over another, names fit."""
    sign_in(browser, site)
    browser.set_window_size(width, 1000)
    try:
        ids = ",".join(site.jobs[role] for role in ("teacher", "student", "running"))
        pages = {  # page: (path, what to wait for before looking)
            "jobs": ("/ui", "#jobs-table"),
            "compare": (f"/ui/compare?ids={ids}", "#compare-figure svg.chart-panel"),
            "job": (f"/ui/jobs/{site.jobs['student']}", "#curves svg.chart-panel"),
            "running-job": (f"/ui/jobs/{site.jobs['member_running']}", "#curves svg.chart-panel"),
            "sweep": (f"/ui/sweeps/{site.sweep}", "#members-table"),
        }
        for name, (path, drawn) in pages.items():
            browser.get(site.url + path)
            wait_for(browser, lambda d, css=drawn: d.find_elements(By.CSS_SELECTOR, css), f"{name} page")
            shot = screenshot(browser, f"08-width-{width}-{name}")
            overflow = browser.execute_script(OVERFLOW_SCRIPT)
            assert overflow == {"page": 0, "wide": []}, (name, overflow, shot)
            texts = browser.execute_script(TEXT_OVERLAP_SCRIPT)
            assert texts["texts"] > 20 and texts["overlaps"] == [], (name, width, texts["overlaps"], shot)
            assert browser.execute_script(TABLE_SCROLL_SCRIPT) == [], (name, width, shot)
            if name == "running-job":
                assert text_of(browser, "#job-live .batch-text") == "batch 14/23 of epoch 2"
            if name == "sweep":  # a member's name (30 characters or more) on one or two lines
                lines = browser.execute_script(NAME_LINES_SCRIPT, "#members-table .job-name")
                assert lines and all(n <= 2 for _, n in lines), (width, lines, shot)
        browser.get(site.url + "/ui")
        wait_for(browser, lambda d: d.find_elements(By.ID, "jobs-table"), "the job list")
        for job_id in site.jobs.values():
            for field in ("status", "val_top1"):
                css = f"tr[data-job-id='{job_id}'] [data-field={field}]"
                assert browser.execute_script(VISIBLE_SCRIPT, css), (width, css)
        # The job column keeps room for a name (16rem): one of 30 characters takes one or two lines,
        # and every id fits its cell on one line.
        column = browser.execute_script(JOB_COLUMN_SCRIPT)
        assert column["narrowest_rem"] >= 16 and column["cut_ids"] == [], (width, column)
        lines = browser.execute_script(NAME_LINES_SCRIPT, "#jobs-table .job-name")
        assert TEACHER_NAME in dict(lines) and all(n <= 2 for _, n in lines), (width, lines)
        # The running row's progress text ("· batch 14/23") ends before its top-1 cell begins.
        row = f"tr[data-job-id='{site.jobs['member_running']}']"
        assert text_of(browser, f"{row} .batch-text") == "· batch 14/23"
        boxes = browser.execute_script(OVERLAP_SCRIPT, row)
        assert boxes["progress_right"] <= boxes["top1_left"], boxes
    finally:
        browser.set_window_size(1366, 900)
