"""Time from navigation to charts drawn, per dashboard page, cold and warm, and the server's peak memory.

    .venv/bin/python benchmarks/dashboard.py                    # the default sample (78 weeks, scale 1)
    .venv/bin/python benchmarks/dashboard.py --scale 20         # ~10M tickets (generation ~2 min, 5 GB)

Cold: a freshly started server (empty caches) opening the page; warm: the same URL opened again in a
new page load (Streamlit's caches hold the view).  "Drawn" means the page's own marker is on screen
(tiles, Plotly SVG, the insight list), Streamlit's running indicator is gone, and no exception is
shown.  Peak memory is the server process's VmHWM after all its loads.  Needs /usr/bin/chromium and
/usr/bin/chromedriver (Debian packages); runs offline.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium import webdriver  # noqa: E402
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
    driver.get("about:blank")
    t0 = time.perf_counter()
    driver.get(url)
    wait = WebDriverWait(driver, TIMEOUT, poll_frequency=0.05)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    elapsed = time.perf_counter() - t0
    if driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'):
        raise RuntimeError(f"{url} shows an exception")
    return elapsed


def run(workspace: Path, screenshots: Path | None) -> list[tuple[str, float, float, float]]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    rows = []
    try:
        for page, (path, query, css) in PAGES.items():
            proc, base = start(workspace)
            try:
                url = f"{base}{path}?{query}" if query else f"{base}{path}"
                cold = timed_load(driver, url, css)
                warm = min(timed_load(driver, url, css) for _ in range(3))
                if screenshots:
                    driver.save_screenshot(str(screenshots / f"bench_{path or 'weekly_review'}.png"))
                rows.append((page, cold, warm, peak_mib(proc.pid)))
            finally:
                stop(proc)
    finally:
        driver.quit()
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", type=Path, help="an existing workspace (default: generate the sample)")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--screenshots", type=Path, default=ROOT / "artifacts" / "screenshots")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bpo-bench-") as tmp:
        ws = args.workspace
        if ws is None:
            from sample_data.generator import generate

            ws = Path(tmp) / "ws"
            t = time.perf_counter()
            summary = generate(ws, scale=args.scale)
            print(f"sample: scale {args.scale}, {summary.rows['tickets']:,} tickets, "
                  f"generated in {time.perf_counter() - t:.0f} s")
        args.screenshots.mkdir(parents=True, exist_ok=True)
        rows = run(ws, args.screenshots)
    print("\n| page | cold (s) | warm (s) | server peak RSS (MiB) |\n|---|---:|---:|---:|")
    for page, cold, warm, mib in rows:
        print(f"| {page} | {cold:.2f} | {warm:.2f} | {mib:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
