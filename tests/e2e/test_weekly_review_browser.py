"""The weekly review in a real browser: a served dashboard, headless Chromium, numbers from build_review."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from connectors.workspace import Scope, Workspace
from insights.review import build_review

pytestmark = pytest.mark.browser
RENDER_SECONDS = 45


def open_page(driver, url: str, tiles: int) -> dict[str, str]:
    """Load `url`, wait for its `tiles` tiles and a drawn Plotly chart, return kpi -> the value each tile shows."""
    driver.get(url)
    wait = WebDriverWait(driver, RENDER_SECONDS)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "div.bpo-tile-value")) == tiles)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".js-plotly-plot .main-svg")))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    return {e.get_attribute("data-kpi"): e.text for e in driver.find_elements(By.CSS_SELECTOR, "div.bpo-tile-value")}


def expected(workspace, **filters) -> dict[str, str]:
    review = build_review(Workspace.open(workspace), Scope.everything(), filters=filters)
    return {t.kpi: t.formatted for t in review.tiles}


def test_the_weekly_review_shows_build_reviews_numbers_and_follows_the_url(server, driver, workspace, screenshots):
    want = expected(workspace)
    everything = open_page(driver, server, len(want))
    assert everything == want
    assert len(driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) >= 6
    driver.save_screenshot(str(screenshots / "weekly_review.png"))

    want = expected(workspace, client="acme", channel="chat")
    acme_chat = open_page(driver, server + "?client=acme&channel=chat", len(want))
    assert acme_chat == want
    assert acme_chat["tickets_created"] != everything["tickets_created"]
    assert "client=acme" in driver.current_url and "channel=chat" in driver.current_url
    driver.save_screenshot(str(screenshots / "weekly_review_acme_chat.png"))


def test_data_health_lists_the_tables(server, driver, screenshots):
    driver.get(server + "data_health")
    WebDriverWait(driver, RENDER_SECONDS).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stDataFrame"]')))
    assert "Data health" in driver.find_element(By.TAG_NAME, "h1").text
    driver.save_screenshot(str(screenshots / "data_health.png"))
