"""Browser tests: a real dashboard server on a free port, driven by headless Chromium through Selenium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
STARTUP_SECONDS = 60
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,3200")

sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
import tiny  # noqa: E402 - the hand-made workspace shared with the AppTest suite


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_command(workspace: Path, port: int, user: str) -> list[str]:
    """`bpo-insights dashboard ...` when the console script has the command, else `streamlit run` via launch."""
    script = Path(sys.executable).with_name("bpo-insights")
    import insights.cli

    if script.exists() and hasattr(insights.cli, "cmd_dashboard"):
        return [str(script), "dashboard", "--workspace", str(workspace), "--port", str(port), "--user", user]
    from dashboard.launch import command

    return command(workspace, port=port, user=user)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the dashboard did not answer {url}_stcore/health within {STARTUP_SECONDS}s:\n"
                       f"{log.read_text()[-3000:]}")


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
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(dashboard_command(workspace, port, "admin"), cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (it started streamlit)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


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


