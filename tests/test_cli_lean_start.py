"""A command loads only what it needs: start-up is most of a short command's time (issue 15, item 4).

Each command runs in a fresh interpreter, as a user runs it; afterwards the test lists which libraries and
which parts of the product that process had loaded. Nothing here is timed: the guard is the list of
modules, which does not depend on the machine's load. `benchmarks/kpi_cube.py --process` measures the time.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TICKETS = ROOT / "sample_data" / "examples" / "canonical_tickets.csv"

# The dashboard's, the charts', the statistics' and the exporters' libraries: none is needed to read KPIs.
HEAVY_LIBRARIES = {"streamlit", "plotly", "statsmodels", "scipy", "sklearn", "matplotlib", "pandas", "pyarrow",
                   "duckdb", "openpyxl", "pptx", "reportlab", "weasyprint", "prophet", "altair", "requests", "httpx"}
# The parts of the product above the KPI engine, and the API connectors' clients.
HEAVY_PARTS = ("dashboard", "sample_data", "insights.detection", "insights.analyses", "insights.review",
               "insights.export", "connectors.vendors", "connectors.http", "connectors.sync", "connectors.importer")
# CSV output neutralises formulas with the exporters' spreadsheet module: it (and its package) may load.
CSV_WRITER = {"insights.export", "insights.export.spreadsheet"}

PROBE = """
import json, sys
from insights.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as e:  # --help exits
    code = e.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def loaded_by(tmp_path: Path, *argv: str) -> set[str]:
    """The modules a fresh `bpo-insights ARGV` process had loaded when it finished (it must succeed)."""
    report = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", PROBE, str(report), *argv], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["code"] in (0, None), f"bpo-insights {' '.join(argv)} exited {result['code']}: {done.stderr}"
    return set(result["modules"])


def heavy(modules: set[str]) -> list[str]:
    libraries = {m.split(".")[0] for m in modules} & HEAVY_LIBRARIES
    parts = {p for p in HEAVY_PARTS if any(m == p or m.startswith(p + ".") for m in modules - CSV_WRITER)}
    return sorted(libraries | parts)


@pytest.fixture(scope="module")
def tickets(tmp_path_factory) -> Path:
    """The example canonical tickets, all of them acme's, handled by northwind at its one site."""
    with TICKETS.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = tmp_path_factory.mktemp("lean") / "tickets.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "client_id": "acme", "vendor_id": "northwind", "site_id": "northwind-main"} for r in rows)
    return out


def import_args(tickets: Path, ws: Path) -> list[str]:
    return ["import", str(tickets), "--preset", "canonical", "--client", "acme", "--vendor", "northwind",
            "--site", "northwind-main", "--workspace", str(ws)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tickets) -> Path:
    """A workspace made the way the README's walkthrough makes one: init, then import tickets."""
    from insights.cli import main

    ws = tmp_path_factory.mktemp("lean") / "ws"
    assert main(["init", str(ws), "--client", "acme", "--vendor", "northwind"]) == 0
    assert main(import_args(tickets, ws)) == 0
    return ws


@pytest.mark.parametrize("argv", [["--help"], ["kpis", "--help"], ["status", "--help"], ["report", "--help"]],
                         ids=lambda argv: " ".join(argv))
def test_help_loads_no_library_at_all(tmp_path, argv):
    modules = loaded_by(tmp_path, *argv)
    assert {m.split(".")[0] for m in modules} & {"polars", "sqlalchemy", *HEAVY_LIBRARIES} == set()


def test_import_help_still_lists_every_preset(tmp_path):
    """The presets' list is written when the help is shown (it reads the presets' files), not when any command
    starts; even then nothing beyond the mapping layer loads."""
    out = subprocess.run([sys.executable, "-m", "insights.cli", "import", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 0
    assert "presets (--preset NAME):" in out.stdout and "zendesk_tickets" in out.stdout
    modules = loaded_by(tmp_path, "import", "--help")
    assert heavy(modules) == [] and "sqlalchemy" not in {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_kpis_reads_the_tables_with_polars_alone(workspace, tmp_path, fmt):
    """No dashboard, statistics, exporter or SQL library: the KPIs come from Parquet through Polars."""
    out = ["--out", str(tmp_path / "k.parquet")] if fmt == "parquet" else []
    modules = loaded_by(tmp_path, "kpis", "--workspace", str(workspace), "--by", "site_id,channel", "--format", fmt, *out)
    assert "insights.metrics.kpis" in modules  # the probe saw the command run, not only its import
    assert heavy(modules) == []
    assert "sqlalchemy" not in {m.split(".")[0] for m in modules}  # state.db is not opened to read KPIs


def test_kpis_for_one_viewer_stays_lean(workspace, tmp_path):
    modules = loaded_by(tmp_path, "kpis", "--workspace", str(workspace), "--user", "admin", "--kpi", "csat",
                        "--grain", "month", "--from", "2025-01-01", "--to", "2025-12-31")
    assert heavy(modules) == []


@pytest.mark.parametrize("command", ["status", "import"])
def test_status_and_import_load_no_analysis_library(workspace, tickets, tmp_path, command):
    """They open state.db (SQLAlchemy), but never the dashboard, statistics or the review's layers."""
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)  # the import writes to it: each test its own copy
    argv = ["status", "--workspace", str(ws)] if command == "status" else import_args(tickets, ws)
    modules = loaded_by(tmp_path, *argv)
    assert heavy(modules) == ([] if command == "status" else ["connectors.importer"])


def test_the_lazy_names_of_the_packages_still_resolve():
    """Names that load on first use are still the package's public API (and unknown names still fail)."""
    import connectors.store as store
    import insights.metrics as metrics
    from connectors.store import audit, import_log
    from connectors.store.metadata import import_log as the_table
    from insights.metrics import compute_kpis
    from insights.metrics.kpis import compute_kpis as the_function

    assert compute_kpis is the_function and import_log is the_table
    assert callable(audit.record)
    for package in (store, metrics):
        with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
            package.no_such_name  # noqa: B018 - the lookup is the test
