"""The Coverage page in a real browser: the weekday × hour heatmaps and the language table, numbers from
`insights.analyses.coverage`, and the language filter followed from the URL (screenshots in artifacts/screenshots)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from connectors.store import Scope, Workspace
from insights import format
from insights.analyses.coverage import NOT_RECORDED, coverage
from insights.review import available_weeks

pytestmark = pytest.mark.browser
RENDER_SECONDS = 90


def open_page(driver, url: str) -> str:
    """Load `url`, wait for the Coverage title, a drawn heatmap and an idle app; return the page's text."""
    driver.get(url)
    wait = WebDriverWait(driver, RENDER_SECONDS)
    wait.until(lambda d: any(h.text == "Coverage" for h in d.find_elements(By.TAG_NAME, "h1")))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]'))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    return driver.find_element(By.TAG_NAME, "body").text


def metric(driver, label: str) -> str:
    for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        if m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text == label:
            return m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text
    raise AssertionError(f"no metric labelled {label!r}")


def show_tab(driver, name: str) -> None:
    tabs = driver.find_elements(By.XPATH, f"//*[@role='tab'][contains(normalize-space(.), '{name}')]")
    assert tabs, [t.get_attribute("outerHTML")[:200] for t in driver.find_elements(By.XPATH, "//*[@role='tab']")]
    tab = tabs[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", tab)
    tab.click()
    WebDriverWait(driver, RENDER_SECONDS).until(lambda d: tab.get_attribute("aria-selected") == "true")
    time.sleep(1.0)  # Plotly draws the chart of a tab when it is shown


def test_the_coverage_heatmap_and_the_language_filter_in_the_browser(server, driver, workspace, screenshots):
    ws = Workspace.open(workspace)
    everything = Scope.everything()
    week = available_weeks(ws, everything, {})[0]
    start, end = week - timedelta(weeks=3), week + timedelta(days=6)
    cov = coverage(ws, everything, start=start, end=end)

    text = open_page(driver, server + "coverage")
    assert f"in the client's reporting calendar: {cov.calendar}" in text
    assert metric(driver, "Tickets and contacts") == format.count(cov.cells.get_column("volume").sum())
    for section in ("By weekday and hour", "By language", "Grey cells are thin"):
        assert section in text
    show_tab(driver, "First-response SLA")
    heatmap = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[1].text
    assert f"hour of day ({cov.calendar})" in heatmap
    driver.save_screenshot(str(screenshots / "coverage.png"))
    show_tab(driver, "Volume")
    driver.save_screenshot(str(screenshots / "coverage_volume.png"))

    language = next(x for x in cov.languages.get_column("language") if x not in ("en", NOT_RECORDED))
    only = coverage(ws, everything, start=start, end=end, filters={"language": language})
    text = open_page(driver, server + f"coverage?language={language}")
    assert metric(driver, "Tickets and contacts") == format.count(only.cells.get_column("volume").sum())
    assert metric(driver, "Tickets and contacts") != format.count(cov.cells.get_column("volume").sum())
    assert format.filters({"language": language}, format.Names.of(ws.config)) in text  # the caption names the filter
    assert f"language={language}" in driver.current_url  # kept in the link
    driver.save_screenshot(str(screenshots / "coverage_language.png"))
