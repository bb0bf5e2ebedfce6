"""Workforce, Cost and Pilots in a real browser: served by `bpo-insights dashboard`, numbers from `insights/`."""

from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from connectors.store import Scope, Workspace
from insights.analyses.pilots import evaluate_pilot, load_pilots
from insights.analyses.pricing import reconcile_invoices
from insights.analyses.staffing import StaffingTarget, plan_staffing

pytestmark = pytest.mark.browser
RENDER_SECONDS = 60
MAX_SCREENSHOT_HEIGHT = 9000


def open_page(driver, url: str, title: str, charts: int) -> str:
    """Load `url`, wait until its title, `charts` drawn Plotly charts and an idle app; return the page's text."""
    driver.get(url)
    wait = WebDriverWait(driver, RENDER_SECONDS)
    wait.until(lambda d: any(h.text == title for h in d.find_elements(By.TAG_NAME, "h1")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= charts)
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    return driver.find_element(By.TAG_NAME, "body").text


def save_whole_page(driver, path) -> None:
    """Screenshot the whole scrolling page: grow the window to the content's height, then restore it."""
    size = driver.get_window_size()
    height = driver.execute_script('return document.querySelector(\'[data-testid="stMain"]\').scrollHeight')
    driver.set_window_size(size["width"], min(int(height) + 120, MAX_SCREENSHOT_HEIGHT))
    WebDriverWait(driver, RENDER_SECONDS).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    time.sleep(1.0)  # Plotly redraws to the new width/height on the resize event
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])


def metric(driver, label: str) -> str:
    """The value a st.metric with `label` shows, waiting for it: the page's last section can still be drawing."""
    def value(d):
        for m in d.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
            if m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text == label:
                return m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text or False
        return False
    try:
        return WebDriverWait(driver, RENDER_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(value)
    except TimeoutException:
        raise AssertionError(f"no metric labelled {label!r} after {RENDER_SECONDS} s") from None


def test_workforce_cost_and_pilots_pages_in_the_browser(server, driver, workspace, screenshots):
    ws = Workspace.open(workspace)
    everything = Scope.everything()

    text = open_page(driver, server + "workforce", "Workforce", 6)
    for section in ("Volume: forecast vs actual", "SLA at risk in the week of", "Staffing gap by weekday and interval",
                    "Occupancy and burnout risk", "Attrition", "What-if: agents for one interval"):
        assert section in text
    plan = plan_staffing(calls=100, aht=180, interval_minutes=30, target=StaffingTarget(0.8, 20), shrinkage=0.3)
    assert (metric(driver, "Agents on the phones"), metric(driver, "FTE to schedule")) == (
        f"{plan.agents:,}", f"{plan.fte:,.1f}")
    save_whole_page(driver, screenshots / "workforce.png")

    open_page(driver, server + "cost", "Cost", 3)
    rec = reconcile_invoices(ws, everything)
    assert metric(driver, "Invoice lines checked") == f"{rec.lines.height:,}"
    assert metric(driver, "Lines flagged") == f"{rec.flagged.height:,}"
    save_whole_page(driver, screenshots / "cost.png")

    text = open_page(driver, server + "pilots", "Pilots", 1)
    name = sorted(load_pilots(ws, everything))[0]
    report = evaluate_pilot(ws, everything, name)
    assert report.effects[0].verdict in text
    save_whole_page(driver, screenshots / "pilots.png")
