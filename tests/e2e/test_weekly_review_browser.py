"""The weekly review in a real browser: a served dashboard, headless Chromium, numbers from build_review."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from connectors.store import Scope, Workspace
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


def test_tiles_show_the_to_date_totals_and_charts_mark_the_views_events(server, driver, workspace, screenshots):
    from datetime import timedelta

    from insights.review.events import event_label, events_in_window

    review = build_review(Workspace.open(workspace), Scope.everything(), filters={"client": "acme"})
    open_page(driver, server + "?client=acme", len(review.tiles))
    shown = {tile.get_attribute("data-kpi"): [c.text.replace("\n", " ") for c in
                                             tile.find_elements(By.CSS_SELECTOR, "[data-total]")]
             for tile in driver.find_elements(By.CSS_SELECTOR, "div.bpo-tile")}
    marks = {"good": " ✓", "bad": " ✗", "neutral": ""}
    assert shown == {t.kpi: [f"{x.label} {x.formatted}{marks[x.status] if x.value is not None else ''}"
                             for x in t.to_date] for t in review.tiles}
    periods = review.series("sla_first_response").get_column("period")
    events, total = events_in_window(review.events, periods.min(), periods.max() + timedelta(days=6))
    assert 1 <= events.height <= 5 and total >= events.height
    assert not any(c == "globex" for c in events.get_column("client_id").to_list())
    first_chart = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[0]
    labels = {e.text for e in first_chart.find_elements(By.CSS_SELECTOR, ".annotation-text") if e.text.startswith("◆")}
    assert labels == {f"◆ {event_label(n)}" for n in events.get_column("name").to_list()}
    driver.save_screenshot(str(screenshots / "weekly_review_acme_totals_events.png"))
