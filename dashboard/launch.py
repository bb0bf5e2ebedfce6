"""Start the Streamlit server for a workspace (what `bpo-insights dashboard` and `demo` run).

Two modes, and nothing in between:

- **sign-in** (bpo.toml has `[auth]`, no `--user`): people sign in through the OpenID Connect provider; the
  launcher writes Streamlit's `[auth]` secrets (client secret and cookie secret read from the environment
  variables `[auth]` names) to a 0600 file in a private temporary folder, points `secrets.files` at it and
  removes it when the server stops. The secrets are never printed or logged.
- **local** (`--user NAME`): one viewer for whoever reaches the port, so the server listens on loopback only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from connectors.errors import ConfigError
from connectors.store import AuthConfig
from dashboard.access import LOCAL_ONLY, is_loopback

APP = Path(__file__).with_name("app.py")
LOCAL_ADDRESS = "127.0.0.1"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
MIN_COOKIE_SECRET = 32
SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def command(workspace: Path, *, port: int, user: str | None, address: str = LOCAL_ADDRESS, headless: bool = True,
            secrets_file: Path | None = None, auth: AuthConfig | None = None) -> list[str]:
    """The `streamlit run` command line that serves `dashboard/app.py` on `workspace`.

    With `user`: local mode for that viewer. Without: sign-in mode, reading `[auth]` from `secrets_file`.
    """
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--server.address", address,
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        # identities come from the signed cookie only, never from request headers a client could forge
        "--server.trustedUserHeaders", "{}",
        "--server.enableCORS", "true",
        "--server.enableXsrfProtection", "true",
    ]
    hosts = list(LOCAL_HOSTS)
    if secrets_file is not None:
        cmd += ["--secrets.files", str(secrets_file)]
    if auth is not None:
        public = urlparse(auth.redirect_uri.replace("{port}", str(port)))
        if public.hostname and public.hostname not in hosts:
            hosts.append(public.hostname)
        # the browser's websocket comes from the address people sign in at (behind a proxy that rewrites Host too)
        cmd += ["--server.corsAllowedOrigins", f"{public.scheme}://{public.netloc}"]
    for host in hosts:  # DNS rebinding: a websocket naming any other host is refused
        cmd += ["--server.allowedHosts", host]
    cmd += ["--", "--workspace", str(Path(workspace).resolve())]
    if user:
        cmd += ["--user", user]
    return cmd


def url(port: int, address: str = LOCAL_ADDRESS) -> str:
    """Where the dashboard answers once started."""
    host = LOCAL_ADDRESS if address in ("0.0.0.0", "::", "") else address
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def check_local(user: str | None, address: str) -> None:
    """`--user` on anything but loopback is a configuration error (exit 2) that says what to do."""
    if user and not is_loopback(address):
        raise ConfigError(f"--address {address} with --user {user} (or BPO_USER): {LOCAL_ONLY}")


def auth_secrets(auth: AuthConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Streamlit's `[auth]` section: bpo.toml's settings plus the two secrets from their environment variables."""
    problems = []
    client_secret = environ.get(auth.client_secret_env, "")
    cookie_secret = environ.get(auth.cookie_secret_env, "")
    if not client_secret:
        problems.append(f"environment variable {auth.client_secret_env} ([auth] client_secret_env) is not set; export "
                        "the client secret the identity provider issued for this app")
    if not cookie_secret:
        problems.append(f"environment variable {auth.cookie_secret_env} ([auth] cookie_secret_env) is not set; export "
                        f"a random secret of {MIN_COOKIE_SECRET}+ characters ({SECRET_HINT}), the same on every replica")
    elif len(cookie_secret) < MIN_COOKIE_SECRET:
        problems.append(f"environment variable {auth.cookie_secret_env} holds {len(cookie_secret)} characters; the cookie "
                        f"secret needs at least {MIN_COOKIE_SECRET} ({SECRET_HINT})")
    if problems:
        raise ConfigError("sign-in cannot start: " + "; ".join(problems))
    return {"redirect_uri": auth.redirect_uri, "cookie_secret": cookie_secret, "client_id": auth.client_id,
            "client_secret": client_secret, "server_metadata_url": auth.server_metadata_url}


def write_secrets(folder: Path, values: Mapping[str, str]) -> Path:
    """`folder`/secrets.toml holding `[auth]`, readable by this account only (0600, created so, never widened)."""
    path = folder / "secrets.toml"
    text = "[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())  # a JSON string is a TOML string
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _stop(signum, frame):  # noqa: ARG001 - a signal handler's signature
    raise KeyboardInterrupt


def run(workspace: Path, *, port: int, user: str | None, address: str = LOCAL_ADDRESS, headless: bool = True,
        auth: AuthConfig | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Serve the dashboard until it is stopped; returns Streamlit's exit code.

    Example: `run(Path("workspace"), port=8501, user="admin")` then open http://127.0.0.1:8501/.
    """
    environ = os.environ if environ is None else environ
    check_local(user, address)
    if not user and auth is None:
        raise ConfigError("the dashboard needs a way in: declare [auth] in bpo.toml so people sign in, or pass --user NAME "
                          "(a [[user]] of bpo.toml) to serve one viewer on this machine")
    env = {k: v for k, v in environ.items() if k not in ("BPO_USER",)}
    env["BPO_WORKSPACE"] = str(Path(workspace).resolve())
    if user:
        env["BPO_USER"] = user
    private = None
    try:
        secrets_file = None
        if not user and auth is not None:
            values = auth_secrets(auth, environ)
            private = Path(tempfile.mkdtemp(prefix="bpo-dashboard-"))  # 0700: this account only
            secrets_file = write_secrets(private, values)
            del values
        who = f"'{user}' (local mode)" if user else "people who sign in"
        sys.stderr.write(f"bpo-insights dashboard for {who} on {url(port, address)} (Ctrl+C to stop)\n")
        cmd = command(workspace, port=port, user=user, address=address, headless=headless, secrets_file=secrets_file,
                      auth=None if user else auth)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _stop) if main else None  # a stopped server still removes its secrets
        try:
            proc = subprocess.Popen(cmd, env=env)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                return 130
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
