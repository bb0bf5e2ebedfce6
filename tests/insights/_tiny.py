"""The dashboard suite's hand-made workspace (tests/dashboard/tiny.py), importable from here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import tiny  # noqa: E402,F401 - re-exported

__all__ = ["tiny"]
