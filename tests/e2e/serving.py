"""How the browser suites serve the dashboard and sign people in: one place for the server's life and the OIDC steps.

Imported by tests/e2e/conftest.py and the sign-in suites as `serving` (tests/e2e is on the path); fixtures stay in
the conftest, plain functions live here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
WAIT = 120  # a first visit under a loaded CI machine can take long; an upper bound, never a timing assertion
COOKIE_SECRET = "cookie-secret-for-the-test-only-" + "x" * 16
SECRET_ENV, COOKIE_ENV = "BPO_TEST_OIDC_SECRET", "BPO_TEST_COOKIE_SECRET"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def dashboard_command(workspace: Path, port: int, user: str) -> list[str]:
    """`bpo-insights dashboard ...` for `user` (loopback, no sign-in): the console script, else the module."""
    script = Path(sys.executable).with_name("bpo-insights")
    if script.exists():
        return [str(script), "dashboard", "--workspace", str(workspace), "--port", str(port), "--user", user]
    return [sys.executable, "-m", "insights.cli", "dashboard", "--workspace", str(workspace), "--port", str(port),
            "--user", user]


@contextlib.contextmanager
def running(cmd: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the dashboard command in its own process group until the block ends; yields (url, process)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_healthy(url, proc, log)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (it started streamlit)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# ------------------------------------------------------------------------------------------------ sign-in mode
def http(method: str, url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
    return json.loads(text) if text else {}


def register_client(provider: str, port: int) -> dict:
    """Register the dashboard on `port` with the provider like with any identity provider: {client_id, client_secret}."""
    return http("POST", f"{provider}/oauth2/clients",
                {"redirect_uris": [f"http://127.0.0.1:{port}/oauth2callback"],
                 "token_endpoint_auth_method": "client_secret_basic"})


def register_person(provider: str, sub: str, email: str, name: str) -> None:
    http("PUT", f"{provider}/users/{quote(sub)}", {"email": email, "email_verified": True, "name": name})


def auth_section(provider: str, port: int, client_id: str) -> str:
    """The [auth] section of bpo.toml for the dashboard on `port`: secrets only by the names of their variables."""
    return f"""
[auth]
server_metadata_url = "{provider}/.well-known/openid-configuration"
client_id = "{client_id}"
client_secret_env = "{SECRET_ENV}"
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret_env = "{COOKIE_ENV}"
"""


@contextlib.contextmanager
def signed_in_server(workspace: Path, port: int, base: Path, client_secret: str) -> Iterator[dict]:
    """`bpo-insights dashboard` in sign-in mode (no --user) with a private TMPDIR; yields url, tmp, log and pid."""
    private_tmp = base / "tmp"
    private_tmp.mkdir()
    log = base / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if k != "BPO_USER"}
    env.update({"PYTHONUNBUFFERED": "1", "TMPDIR": str(private_tmp), SECRET_ENV: client_secret, COOKIE_ENV: COOKIE_SECRET,
                "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])})
    cmd = [sys.executable, "-m", "insights.cli", "dashboard", "--workspace", str(workspace), "--port", str(port)]
    with running(cmd, port, log, env) as (url, proc):
        yield {"url": url, "ws": workspace, "tmp": private_tmp, "log": log, "pid": proc.pid, "secret": client_secret}


def button(driver, label: str):
    return WebDriverWait(driver, WAIT).until(
        lambda d: next(iter(d.find_elements(By.XPATH, f"//button[.//p[normalize-space()='{label}']]")), None))


def body(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def settled(driver) -> None:
    WebDriverWait(driver, WAIT).until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))


def sign_in(driver, served: dict, provider: str, person: dict) -> None:
    """From the dashboard's sign-in page through the provider's form and back."""
    driver.get(served["url"])
    button(driver, "Sign in").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.startswith(f"{provider}/oauth2/authorize"))
    driver.find_element(By.NAME, "sub").send_keys(person["sub"])
    driver.find_element(By.XPATH, "//button[normalize-space()='Authorize']").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.startswith(served["url"]))


def sign_out(driver, served: dict, provider: str) -> None:
    """The dashboard's Sign out button, then the provider's end-session page, back to the sign-in page."""
    button(driver, "Sign out").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.startswith(f"{provider}/oauth2/end_session"))
    driver.find_element(By.XPATH, "//button[normalize-space()='End session']").click()
    button(driver, "Sign in")
