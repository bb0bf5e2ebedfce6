"""A writer in its own process, killed like kill -9 at a named step of the store (`connectors.store.tables.crash_point`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from connectors.store import tables as store_tables

ROOT = Path(__file__).resolve().parents[2]


def run_writer(script: str, workspace: Path, tmp_path: Path, *, crash_at: str | None = None) -> int:
    """Run `script` (Python taking the workspace path as its argument); returns its exit code (137: killed)."""
    path = tmp_path / "writer.py"
    path.write_text(script)
    env = {k: v for k, v in os.environ.items() if k != store_tables.CRASH_HOOK}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    if crash_at:
        env[store_tables.CRASH_HOOK] = crash_at
    return subprocess.run([sys.executable, str(path), str(workspace)], env=env, timeout=300).returncode
