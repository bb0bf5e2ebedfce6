"""PDF: the HTML export printed by headless Chromium (`--print-to-pdf`), offline.

Chromium is looked up as $BPO_CHROMIUM, then chromium, chromium-browser, google-chrome on PATH;
without it the error names the fix (install Debian's chromium, or export HTML and print it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from insights.export import ExportError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 120
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000")


def find_chromium() -> Path:
    """The Chromium binary to print with, or an ExportError naming how to get one."""
    env = os.environ.get("BPO_CHROMIUM")
    if env:
        if Path(env).exists():
            return Path(env)
        raise ExportError(f"BPO_CHROMIUM={env} does not exist; point it at a Chromium binary or unset it")
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ExportError("PDF export needs Chromium to print the HTML: install it (Debian: apt-get install chromium) "
                      "or set BPO_CHROMIUM to its path; or export --format html and print that page")


def html_to_pdf(html: str, *, chromium: Path | None = None) -> bytes:
    """Print an HTML document to PDF bytes with headless Chromium (no network needed: the HTML is self-contained)."""
    binary = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="bpo-pdf-") as tmp:
        page, out = Path(tmp) / "review.html", Path(tmp) / "review.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [str(binary), *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={out}",
               page.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise ExportError(f"Chromium ({binary}) did not finish printing the PDF within {TIMEOUT_SECONDS}s; "
                              f"export --format html and print it instead") from None
        if not out.exists() or out.stat().st_size == 0:
            tail = proc.stderr.decode(errors="replace")[-800:]
            raise ExportError(f"Chromium ({binary}) wrote no PDF (exit {proc.returncode}): {tail}")
        return out.read_bytes()
