"""Every page in a real browser on the sample workspace: no exception, filters in the URL, the SLA
drill-down, downloads that open; a screenshot of each page for the sample's SLA-collapse week."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser
RENDER_SECONDS = 60
COLLAPSE = "week=2026-W44"  # story 1: nw-manila email first-response attainment collapses (W43-W45)
# page path, query, what must be on screen once drawn
PAGES = {
    "weekly_review": ("", f"client=acme&site=nw-manila&channel=email&{COLLAPSE}", "div.bpo-tile-value"),
    "sla_trends": ("sla_trends", f"client=acme&site=nw-manila&{COLLAPSE}", ".js-plotly-plot .main-svg"),
    "vendors_sites": ("vendors_sites", f"client=acme&channel=email&{COLLAPSE}", ".js-plotly-plot .main-svg"),
    "quality": ("quality", f"client=acme&site=nw-manila&{COLLAPSE}", ".js-plotly-plot .main-svg"),
    "insights": ("insights_page", f"client=acme&site=nw-manila&channel=email&{COLLAPSE}", '[data-testid="stExpander"]'),
}


def settle(driver, css: str) -> None:
    """Wait until `css` is drawn and Streamlit is no longer running the script."""
    wait = WebDriverWait(driver, RENDER_SECONDS)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    time.sleep(0.5)  # plotly finishes its transitions
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))


def metrics(driver) -> dict[str, str]:
    """label -> value of every st.metric on screen."""
    out = {}
    for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        label = m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
        out[label] = m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
    return out


def no_exception(driver) -> None:
    shown = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert shown == [], shown[0].text[:2000] if shown else ""


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_opens_without_an_exception(server, driver, screenshots, page):
    path, query, css = PAGES[page]
    driver.get(f"{server}{path}?{query}")
    settle(driver, css)
    no_exception(driver)
    assert driver.find_element(By.TAG_NAME, "h1").text.strip()
    for key, value in (p.split("=") for p in query.split("&")):
        assert f"{key}={value}" in driver.current_url
    driver.save_screenshot(str(screenshots / f"{page}_sla_collapse.png"))


def pick(driver, label: str, option: str) -> None:
    """Choose `option` in the sidebar selectbox labelled `label`."""
    box = next(b for b in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stSelectbox"]')
               if b.text.splitlines()[0].strip() == label)
    box.find_element(By.CSS_SELECTOR, 'button[aria-label="Open"]').click()  # a react-aria combobox
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[role="option"]'))
    choice = next(o for o in driver.find_elements(By.CSS_SELECTOR, '[role="option"]') if o.text.strip() == option)
    choice.click()


def test_a_filter_change_changes_numbers_and_url_and_the_copied_url_reproduces_it(server, driver):
    driver.get(f"{server}sla_trends?client=acme&{COLLAPSE}")
    settle(driver, ".js-plotly-plot .main-svg")
    before = metrics(driver)
    pick(driver, "Site", "Northwind Manila")  # the sidebar shows names from bpo.toml
    WebDriverWait(driver, RENDER_SECONDS).until(lambda d: "site=nw-manila" in d.current_url)
    settle(driver, ".js-plotly-plot .main-svg")
    after = metrics(driver)
    assert after != before
    copied = driver.current_url
    assert "client=acme" in copied and "week=2026-W44" in copied
    driver.get("about:blank")
    driver.get(copied)
    settle(driver, ".js-plotly-plot .main-svg")
    assert metrics(driver) == after


def test_the_sla_drilldown_shows_the_tickets_behind_the_point(server, driver, screenshots):
    driver.get(f"{server}sla_trends?client=acme&site=nw-manila&{COLLAPSE}")
    settle(driver, '[data-testid="stDataFrame"]')
    ids = driver.find_element(By.CSS_SELECTOR, ".bpo-ticket-ids")
    listed = [t for t in ids.text.replace(",", " ").split() if t.startswith("T0")]
    assert len(listed) >= 5
    driver.execute_script("arguments[0].scrollIntoView()", ids)
    driver.save_screenshot(str(screenshots / "sla_trends_drilldown.png"))


def test_each_download_of_the_weekly_review_opens(server, driver, tmp_path):
    from pptx import Presentation
    from pypdf import PdfReader

    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    driver.get(f"{server}?client=acme&{COLLAPSE}")
    settle(driver, "div.bpo-tile-value")
    buttons = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDownloadButton"] button')
    assert len(buttons) == 4
    for button in buttons:
        driver.execute_script("arguments[0].scrollIntoView()", button)
        button.click()

    def done(_) -> bool:
        names = [p.name for p in tmp_path.iterdir()]
        return len(names) == 4 and not any(n.endswith(".crdownload") for n in names)

    WebDriverWait(driver, 120).until(done)
    files = {p.suffix: p for p in tmp_path.iterdir()}
    assert set(files) == {".pptx", ".pdf", ".html", ".md"}
    deck = Presentation(str(files[".pptx"]))
    assert deck.slides[0].shapes.title.text.startswith("Weekly review, 2026-W44") and len(deck.slides) > 8
    assert len(PdfReader(str(files[".pdf"])).pages) >= 2
    assert "<svg" in files[".html"].read_text() and files[".md"].read_text().startswith("# Weekly review")
    assert all(Path(p).stat().st_size > 1000 for p in files.values())


def plotly_points(driver) -> list[dict]:
    """Every point of the first Plotly chart: trace index, point index, trace name, x (date text) and customdata."""
    return driver.execute_script("""
        const gd = document.querySelector('.js-plotly-plot');
        const out = [];
        gd._fullData.forEach((t, i) => (t.x || []).forEach((x, j) => out.push(
            {trace: i, point: j, name: t.name, x: String(x), custom: (t.customdata || [])[j] || null})));
        return out;""")


def drill_heading(driver) -> str:
    """The line above the ticket list: '<Split> <value>, week of <date>: ...'."""
    return next(e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMarkdownContainer"] p')
                if ", week of " in e.text and "attainment" in e.text)


def test_clicking_a_point_on_the_sla_chart_lists_the_tickets_behind_it(server, driver, screenshots):
    from selenium.webdriver.common.action_chains import ActionChains

    driver.get(f"{server}sla_trends?client=acme&site=nw-manila&{COLLAPSE}")
    settle(driver, '[data-testid="stDataFrame"]')
    before = drill_heading(driver)
    assert "week of 26 Oct 2026" in before  # the review week, until a point is clicked
    # a point of another week: the first line's point three weeks before the review week
    target = next(p for p in plotly_points(driver) if p["custom"] and p["x"].startswith("2026-10-05"))
    element = driver.execute_script(
        "return document.querySelector('.js-plotly-plot').querySelectorAll('.scatterlayer .trace')[arguments[0]]"
        ".querySelectorAll('path.point')[arguments[1]];", target["trace"], target["point"])
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    ActionChains(driver).move_to_element(element).pause(0.3).click().perform()
    WebDriverWait(driver, RENDER_SECONDS).until(lambda d: "week of 05 Oct 2026" in drill_heading(d))
    settle(driver, '[data-testid="stDataFrame"]')
    heading = drill_heading(driver)
    assert heading.startswith(f"{target['custom'][0]}, week of 05 Oct 2026:") or \
        f" {target['custom'][0]}, week of 05 Oct 2026:" in heading
    driver.save_screenshot(str(screenshots / "sla_trends_click_drilldown.png"))
