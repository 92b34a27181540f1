"""The interactive training curves (api/ui/static/charts.js) in a real headless Chromium.

The same site as test_dashboard.py (its fixtures, seeded jobs and helpers): a finished job's page
and the compare page, their curves drawn in the browser from the metrics the server stored. Values
are checked against the stored metrics rows; zooming is read from each panel's ``data-x-min`` and
``data-x-max`` (the epochs at its left and right edges).
"""

from __future__ import annotations

import httpx
import pytest

from domain.jobs import job_reads
from service.db.session import get_sessionmaker
from service.tokens import create_token
from tests.browser.test_dashboard import (
    CHROMEDRIVER,
    CHROMIUM,
    TEACHER_NAME,
    Site,
    browser,
    chart_epochs,
    click,
    screenshot,
    sign_in,
    site,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver on PATH (apt-get install -y chromium chromium-driver)",
)
__all__ = ["browser", "site"]  # the fixtures, shared with test_dashboard.py

pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

TOOLTIP_SCRIPT = """
const tip = document.querySelector(arguments[0] + ' .chart-tip');
if (!tip || tip.hidden) return null;
return {title: tip.querySelector('strong').textContent,
        rows: [...tip.querySelectorAll('.chart-tip-row')].map(r => r.textContent)};
"""
X_RANGES_SCRIPT = """
return [...document.querySelectorAll(arguments[0] + ' svg.chart-panel')]
  .map(p => [Number(p.dataset.xMin), Number(p.dataset.xMax)]);
"""


def hover_point(driver: WebDriver, figure: str, curve: str, epoch: int) -> dict[str, object]:
    """Move the pointer onto the ``curve`` point at ``epoch`` and return the tooltip then shown."""
    point = driver.find_element(By.CSS_SELECTOR, f"{figure} g[data-curve='{curve}'] circle[data-epoch='{epoch}']")
    ActionChains(driver).move_to_element(point).perform()
    return wait_for(driver, lambda d: d.execute_script(TOOLTIP_SCRIPT, figure), "the tooltip")


def x_range(driver: WebDriver, figure: str) -> tuple[float, float]:
    """The epochs at the panels' left and right edges (every panel shows the same)."""
    ranges = {tuple(r) for r in driver.execute_script(X_RANGES_SCRIPT, figure)}
    assert len(ranges) == 1, ranges
    low, high = ranges.pop()
    return low, high


def drag_across(driver: WebDriver, figure: str, start: float, end: float) -> None:
    """Press, move and release across the first panel, from ``start`` to ``end`` of its width (0 to 1)."""
    panel = driver.find_element(By.CSS_SELECTOR, f"{figure} svg.chart-panel")
    width = panel.rect["width"]
    actions = ActionChains(driver).move_to_element_with_offset(panel, int((start - 0.5) * width), 0)
    actions.click_and_hold().move_by_offset(int((end - start) * width), 0).release().perform()


def test_hover_legend_and_zoom_on_a_finished_job(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    job_id = site.jobs["student"]
    with get_sessionmaker(site.settings)() as session:
        stored = {row["epoch"]: row for row in job_reads.job_metrics(session, job_id)}
    browser.get(f"{site.url}/ui/jobs/{job_id}")
    wait_for(browser, lambda d: chart_epochs(d, "#curves") == [1, 2], "the curves to be drawn")

    # Hover: the epoch and every visible series' value there, as stored.
    tip = hover_point(browser, "#curves", "val_top1", 2)
    assert tip["title"] == "epoch 2"
    assert f"val top-1: {stored[2]['val_top1']:.2f}%" in tip["rows"]
    assert f"val top-5: {stored[2]['val_top5']:.2f}%" in tip["rows"]
    assert f"complementary share: {100 * stored[2]['complementary_share']:.1f}%" in tip["rows"]
    screenshot(browser, "09-chart-hover")  # the window: an element's screenshot scrolls, and the tooltip goes

    # The legend: a click hides the series' path (and its value), another shows it again.
    top1 = "#curves g[data-curve='val_top1']"
    click(browser, "#curves button[data-key='curve:val_top1']")
    assert not browser.find_elements(By.CSS_SELECTOR, top1)
    assert browser.find_elements(By.CSS_SELECTOR, "#curves g[data-curve='val_top5'] path")
    tip = hover_point(browser, "#curves", "val_top5", 1)
    assert tip["title"] == "epoch 1" and not [row for row in tip["rows"] if row.startswith("val top-1:")]
    click(browser, "#curves button[data-key='curve:val_top1']")
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{top1} path")) == 1

    # A drag zooms every panel to its epochs; "Reset zoom" and a double-click show the whole run again.
    whole = x_range(browser, "#curves")
    assert browser.find_element(By.CSS_SELECTOR, "#curves .chart-reset").get_attribute("disabled")
    drag_across(browser, "#curves", 0.3, 0.7)
    low, high = x_range(browser, "#curves")
    assert whole[0] < low < high < whole[1] and high - low < 0.6 * (whole[1] - whole[0]), (whole, low, high)
    screenshot(browser, "09-chart-zoomed", "#curves")
    click(browser, "#curves .chart-reset")
    assert x_range(browser, "#curves") == whole
    drag_across(browser, "#curves", 0.5, 0.9)
    assert x_range(browser, "#curves") != whole
    ActionChains(browser).double_click(browser.find_element(By.CSS_SELECTOR, "#curves svg.chart-panel")).perform()
    assert x_range(browser, "#curves") == whole


def test_compare_draws_one_series_per_job_named_in_the_legend(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    ids = [site.jobs[role] for role in ("teacher", "student", "member_done")]
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.token}"}, timeout=30) as client:
        names = {job_id: client.get(f"/v1/jobs/{job_id}").json()["name"] for job_id in ids}
    assert names[site.jobs["student"]] is None and all(names[i] for i in ids if i != site.jobs["student"])
    browser.get(f"{site.url}/ui/compare?ids={','.join(ids)}")
    wait_for(browser, lambda d: chart_epochs(d, "#compare-figure") == [1, 2], "the overlaid curves")

    legend = browser.execute_script(
        "return [...document.querySelectorAll('#compare-figure button[data-key^=\"job:\"]')]"
        ".map(b => [b.dataset.key, b.textContent])"
    )
    assert dict(legend) == {f"job:{i}": names[i] or i for i in ids}  # the name, the id when unnamed
    top1 = browser.execute_script(
        "return [...document.querySelectorAll('#compare-figure g[data-curve=val_top1]')].map(g => g.dataset.job)"
    )
    assert sorted(top1) == sorted(ids)  # one val top-1 series per job
    tip = hover_point(browser, "#compare-figure", "val_top1", 2)
    assert {row.split(": ")[0] for row in tip["rows"] if "val top-1" in row} == {
        f"{names[i] or i} · val top-1" for i in ids
    }
    screenshot(browser, "09-compare-chart-hover")

    click(browser, f"#compare-figure button[data-key='job:{ids[0]}']")  # the job leaves every panel
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#compare-figure g[data-job]')].map(g => g.dataset.job)"
    )
    assert ids[0] not in shown and set(shown) == set(ids[1:])


def test_the_curves_data_is_the_signed_in_tenant_s_only(site: Site) -> None:
    """``metrics.json`` (job and comparison) answers the stored rows to the owner, 404 to another tenant,
    401 without a session."""
    job_id, other = site.jobs["student"], site.jobs["teacher"]
    with get_sessionmaker(site.settings)() as session:
        stored = job_reads.job_metrics(session, job_id)
        bob, _ = create_token(session, "bob")
        session.commit()
    paths = (f"/ui/jobs/{job_id}/metrics.json", f"/ui/compare/metrics.json?ids={job_id},{other}")
    for token, status in ((site.token, 200), (bob, 404), (None, 401)):
        cookies = {"sdd_ui_token": token} if token else {}
        with httpx.Client(base_url=site.url, cookies=cookies, timeout=30) as client:
            for path in paths:
                response = client.get(path)
                assert response.status_code == status, (path, status, response.text)
    with httpx.Client(base_url=site.url, cookies={"sdd_ui_token": site.token}, timeout=30) as client:
        data = client.get(paths[0]).json()["data"]
        assert data == [{"id": job_id, "label": job_id, "rows": stored}]  # unnamed: labelled by its id
        labels = [job["label"] for job in client.get(paths[1]).json()["data"]]
        assert sorted(labels) == sorted([job_id, TEACHER_NAME])
