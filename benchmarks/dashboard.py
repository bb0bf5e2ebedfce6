"""Time from navigation to charts drawn, per dashboard page, cold and warm, and the server's peak memory.

    .venv/bin/python benchmarks/dashboard.py                    # the default sample (78 weeks, scale 1)
    .venv/bin/bpo-insights sample --out /tmp/ws10m --scale 20   # ~10M tickets (~1 min, 4.7 GB peak)
    .venv/bin/python benchmarks/dashboard.py --workspace /tmp/ws10m [--pages "Weekly review" Insights]

Each page gets its own freshly started server.  Cold: that server (empty caches) opening the page;
warm: the best of three further loads of the same URL (Streamlit's caches hold the view).  "Drawn"
means the page's own marker is on screen (tiles, Plotly SVG, the insight list), Streamlit's running
indicator is gone, and no exception is shown (a page not drawn within --timeout is reported as such).
Peak memory is the server process's VmHWM after all its loads.  Needs /usr/bin/chromium and
/usr/bin/chromedriver (Debian packages); runs offline.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from dashboard.launch import command  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,3200")
WEEK = "week=2026-W44"  # the sample's SLA-collapse week
PAGES = {  # page: (url path, query, css of what must be drawn)
    "Weekly review": ("", f"client=acme&{WEEK}", ".js-plotly-plot .main-svg"),
    "SLA trends": ("sla_trends", f"client=acme&site=nw-manila&{WEEK}", ".js-plotly-plot .main-svg"),
    "Vendors & sites": ("vendors_sites", f"client=acme&{WEEK}", ".js-plotly-plot .main-svg"),
    "Quality & coaching": ("quality", f"client=acme&site=nw-manila&{WEEK}", ".js-plotly-plot .main-svg"),
    "Workforce": ("workforce", f"client=acme&{WEEK}", ".js-plotly-plot .main-svg"),
    "Cost": ("cost", "client=acme", ".js-plotly-plot .main-svg"),
    "Pilots": ("pilots", "client=acme", ".js-plotly-plot .main-svg"),
    "Insights": ("insights_page", f"client=acme&{WEEK}", '[data-testid="stExpander"]'),
    "Data health": ("data_health", "", '[data-testid="stDataFrame"]'),
}
TIMEOUT = 300


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workspace: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(command(workspace, port=port, user="admin"), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the dashboard did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_load(driver, url: str, css: str) -> float:
    """Seconds until the page is drawn; inf when it is not drawn within TIMEOUT."""
    driver.get("about:blank")
    t0 = time.perf_counter()
    driver.get(url)
    wait = WebDriverWait(driver, TIMEOUT, poll_frequency=0.05)
    try:
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    except TimeoutException:
        return float("inf")
    elapsed = time.perf_counter() - t0
    if driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'):
        raise RuntimeError(f"{url} shows an exception")
    return elapsed


def run(workspace: Path, screenshots: Path | None, pages: list[str]) -> list[tuple[str, float, float, float]]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    rows = []
    try:
        for page in pages:
            path, query, css = PAGES[page]
            proc, base = start(workspace)
            try:
                url = f"{base}{path}?{query}" if query else f"{base}{path}"
                cold = timed_load(driver, url, css)
                warm = min(timed_load(driver, url, css) for _ in range(3))
                print(f"{page}: cold {cold:.2f} s, warm {warm:.2f} s", file=sys.stderr, flush=True)
                if screenshots:
                    driver.save_screenshot(str(screenshots / f"bench_{path or 'weekly_review'}.png"))
                rows.append((page, cold, warm, peak_mib(proc.pid)))
            finally:
                stop(proc)
    finally:
        driver.quit()
    return rows


def _s(seconds: float) -> str:
    return f"> {TIMEOUT}" if math.isinf(seconds) else f"{seconds:.2f}"


def tickets(workspace: Path) -> int:
    """Tickets in the workspace (every client)."""
    from connectors.store import Scope, Workspace

    return Workspace.open(workspace).scan("tickets", Scope.everything()).select(pl.len()).collect().item()


def main() -> int:
    global TIMEOUT
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", type=Path, help="an existing workspace (default: generate the sample)")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--screenshots", type=Path, default=ROOT / "artifacts" / "screenshots")
    p.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds a page may take (default %(default)s)")
    p.add_argument("--pages", nargs="*", choices=list(PAGES), default=list(PAGES), metavar="PAGE",
                   help=f"pages to time (default: all of {', '.join(PAGES)})")
    args = p.parse_args()
    TIMEOUT = args.timeout
    with tempfile.TemporaryDirectory(prefix="bpo-bench-") as tmp:
        ws = args.workspace
        if ws is None:
            from sample_data.generator import generate

            ws = Path(tmp) / "ws"
            t = time.perf_counter()
            summary = generate(ws, scale=args.scale)
            print(f"sample: scale {args.scale}, {summary.rows['tickets']:,} tickets, "
                  f"generated in {time.perf_counter() - t:.0f} s")
        else:
            print(f"workspace {ws}: {tickets(ws):,} tickets")
        args.screenshots.mkdir(parents=True, exist_ok=True)
        load0 = os.getloadavg()[0]
        rows = run(ws, args.screenshots, args.pages)
    print("\n| page | cold (s) | warm (s) | server peak RSS (MiB) |\n|---|---:|---:|---:|")
    for page, cold, warm, mib in rows:
        print(f"| {page} | {_s(cold)} | {_s(warm)} | {mib:,.0f} |")
    print(f"\nload average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d')}")
    if any(math.isinf(c) or math.isinf(w) for _, c, w, _ in rows):
        print(f"> {TIMEOUT} s: not drawn within the time-out (--timeout); see the page's screenshot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
