"""Browser tests: a real dashboard server on a free port, driven by headless Chromium through Selenium."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,3200")

sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import tiny  # noqa: E402 - the hand-made workspace shared with the AppTest suite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import dashboard_command, free_port, running  # noqa: E402 - the browser suites' server and sign-in steps


@pytest.fixture(scope="session")
def browser_available() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} absent: run `make browser` (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """The sample operation (small: every KPI of the review has data), else the tiny workspace."""
    path = tmp_path_factory.mktemp("e2e") / "ws"
    try:
        from sample_data.generator import generate
    except ImportError:
        tiny.build(path)
    else:
        generate(path, weeks=60, scale=0.05, seed=7)
    return path


@pytest.fixture(scope="session")
def server(browser_available, workspace, tmp_path_factory) -> Iterator[str]:
    """The base URL of a dashboard served for `admin` on the tiny workspace."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "dashboard.log"
    with running(dashboard_command(workspace, port, "admin"), port, log, {**os.environ, "PYTHONUNBUFFERED": "1"}) as (url, _):
        yield url


@pytest.fixture(scope="session")
def provider() -> Iterator[str]:
    """A real OIDC provider on 127.0.0.1 (oidc-provider-mock) that only knows registered clients and demands a nonce."""
    import threading

    import werkzeug.serving
    from oidc_provider_mock import app

    server = werkzeug.serving.make_server("127.0.0.1", 0, app(require_client_registration=True, require_nonce=True),
                                          threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="session")
def driver(browser_available, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}")
    d = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    d.set_page_load_timeout(60)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


