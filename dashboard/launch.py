"""Start the Streamlit server for a workspace and a viewer (what `bpo-insights dashboard` runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")


def command(workspace: Path, *, port: int, user: str, headless: bool = True) -> list[str]:
    """The `streamlit run` command line that serves `dashboard/app.py` for `user` on `workspace`."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--", "--workspace", str(Path(workspace).resolve()), "--user", user,
    ]


def url(port: int) -> str:
    """Where the dashboard answers once started."""
    return f"http://127.0.0.1:{port}/"


def run(workspace: Path, *, port: int, user: str, headless: bool = True) -> int:
    """Serve the dashboard until it is stopped; returns Streamlit's exit code.

    Example: `run(Path("workspace"), port=8501, user="admin")` then open http://127.0.0.1:8501/.
    """
    env = {**os.environ, "BPO_WORKSPACE": str(Path(workspace).resolve()), "BPO_USER": user}
    sys.stderr.write(f"bpo-insights dashboard for '{user}' on {url(port)} (Ctrl+C to stop)\n")
    try:
        return subprocess.call(command(workspace, port=port, user=user, headless=headless), env=env)
    except KeyboardInterrupt:
        return 130
