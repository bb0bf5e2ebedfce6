"""In a real browser, text from data stays text: the hostile workspace's event name (a Markdown image, an <img>
with onerror, a Markdown link) and site id (a URL and an <a href>) fetch nothing and link nowhere (issue 12)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# the suite's server helpers, loaded by path ('conftest' may name the dashboard suite's module in a whole-suite run)
_spec = importlib.util.spec_from_file_location("e2e_helpers", Path(__file__).with_name("conftest.py"))
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)  # type: ignore[union-attr]
sys.path.insert(0, str(e2e.ROOT / "tests" / "dashboard"))
import hostile  # noqa: E402

pytestmark = pytest.mark.browser
RENDER_SECONDS = 60
EVIL = "evil.example"


@pytest.fixture(scope="module")
def hostile_server(browser_available, tmp_path_factory):
    ws = hostile.build(tmp_path_factory.mktemp("hostile") / "ws")
    port = e2e.free_port()
    log = tmp_path_factory.mktemp("hostile-server") / "dashboard.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(e2e.dashboard_command(ws.path, port, "admin"), cwd=e2e.ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        e2e.wait_healthy(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


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
