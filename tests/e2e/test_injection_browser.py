"""In a real browser, text from data stays text: the hostile workspace's event name (a Markdown image, an <img>
with onerror, a Markdown link) and site id (a URL and an <a href>) fetch nothing and link nowhere (issue 12)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
from serving import dashboard_command, free_port, running  # noqa: E402

import hostile  # noqa: E402

pytestmark = pytest.mark.browser
RENDER_SECONDS = 60
EVIL = "evil.example"


@pytest.fixture(scope="module")
def hostile_server(browser_available, tmp_path_factory):
    ws = hostile.build(tmp_path_factory.mktemp("hostile") / "ws")
    port = free_port()
    log = tmp_path_factory.mktemp("hostile-server") / "dashboard.log"
    with running(dashboard_command(ws.path, port, "admin"), port, log, {**os.environ, "PYTHONUNBUFFERED": "1"}) as (url, _):
        yield url


def links_and_fetches(driver) -> dict[str, list[str]]:
    """Every link, image and network request on the page that points at the attacker's host."""
    return driver.execute_script("""
        const evil = arguments[0];
        const href = a => a.getAttribute('href') || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '';
        return {
          links: [...document.querySelectorAll('a')].map(href).filter(h => h.includes(evil)),
          images: [...document.querySelectorAll('img, image')].map(i => i.getAttribute('src') || href(i))
                    .filter(s => s.includes(evil) || s === 'x'),
          fetches: performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes(evil)),
        };""", EVIL)


@pytest.mark.parametrize("page, query", [
    pytest.param("", "?client=acme&week=2025-W10", id="weekly-review"),
    pytest.param("insights", "?client=acme&week=2025-W10", id="insights"),
    pytest.param("sla_trends", "?client=acme&week=2025-W10", id="sla-trends"),
])
def test_the_attackers_text_is_shown_and_nothing_is_fetched_or_linked(hostile_server, driver, screenshots, page, query):
    driver.get(hostile_server + page + query)
    wait = WebDriverWait(driver, RENDER_SECONDS)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "h1")))
    wait.until(lambda d: EVIL in d.find_element(By.TAG_NAME, "body").text)
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    assert links_and_fetches(driver) == {"links": [], "images": [], "fetches": []}
    driver.save_screenshot(str(screenshots / f"injection_{page or 'weekly_review'}.png"))
