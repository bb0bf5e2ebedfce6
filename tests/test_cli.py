"""The command line is a contract: commands, output formats and exit codes (DESIGN §7)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from insights.cli import main


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "ws"
    assert main(["sample", "--out", str(out), "--weeks", "12", "--scale", "0.03"]) == 0
    return out


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "insights.cli", *args], capture_output=True, text=True)


def test_sample_writes_a_workspace_with_every_table(ws, capsys):
    assert (ws / "bpo.toml").exists()
    assert main(["status", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    for table in ("tickets", "contact_intervals", "qa_evaluations", "staffing_roster", "cost_invoices", "sla_targets", "events"):
        assert table in out


def test_kpis_as_json_are_ratios_of_sums_with_their_n(ws, capsys):
    assert main(["kpis", "--workspace", str(ws), "--kpi", "csat,tickets_created", "--by", "vendor_id", "--grain", "month",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    csat = [r for r in rows if r["kpi"] == "csat" and r["denominator"]]
    assert csat and all(0 <= r["value"] <= 1 and r["n"] == r["denominator"] for r in csat)
    assert {r["vendor_id"] for r in rows} <= {"northwind", "southpeak", "eastbay", "in_house"}


def test_kpis_to_parquet_and_narrowed_to_one_client(ws, tmp_path):
    out = tmp_path / "k.parquet"
    assert main(["kpis", "--workspace", str(ws), "--kpi", "tickets_created", "--by", "client_id", "--client", "acme",
                 "--format", "parquet", "--out", str(out)]) == 0
    assert pl.read_parquet(out)["client_id"].unique().to_list() == ["acme"]


def test_kpis_over_a_window_are_one_period(ws, capsys):
    assert main(["kpis", "--workspace", str(ws), "--kpi", "first_response_time_median,tickets_created", "--grain", "window",
                 "--from", "2026-10-05", "--to", "2026-11-01", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["period"], r["kpi"]) for r in rows} == {("2026-10-05", "first_response_time_median"),
                                                        ("2026-10-05", "tickets_created")}


@pytest.mark.parametrize(
    "args, code, message",
    [
        pytest.param(["kpis", "--kpi", "happiness"], 2, "unknown KPI\\(s\\): happiness", id="unknown-kpi"),
        pytest.param(["kpis", "--by", "weather"], 2, "cannot split by weather", id="unknown-dimension"),
        pytest.param(["kpis", "--from", "2026-13-01"], 2, "is not a date; use YYYY-MM-DD", id="bad-date"),
        pytest.param(["kpis", "--format", "parquet"], 2, "--format parquet needs --out FILE", id="parquet-needs-a-file"),
        pytest.param(["kpis", "--grain", "window", "--from", "2026-10-05"], 2,
                     "grain 'window' is one period from start to end: give both", id="a-window-needs-both-ends"),
        pytest.param(["import", "missing.csv", "--preset", "zendesk"], 2, "missing.csv", id="missing-file"),
        pytest.param(["import", "x.csv"], 2, "exactly one of --preset NAME or --mapping FILE", id="import-needs-a-layout"),
        pytest.param(["dashboard", "--user", "mallory"], 2, "user 'mallory' is not declared", id="unknown-viewer"),
    ],
)
def test_bad_input_exits_2_with_a_message_that_says_what_to_do(ws, args, code, message):
    res = run(*args[:1], "--workspace", str(ws), *args[1:])
    assert res.returncode == code, res.stderr
    assert re.search(message, res.stderr), res.stderr


def test_a_missing_workspace_says_how_to_create_one(tmp_path):
    res = run("status", "--workspace", str(tmp_path / "nowhere"))
    assert res.returncode == 2
    assert "bpo-insights sample --out" in res.stderr


DESIGN_FIELDS = {"id", "type", "kpi", "segment", "period", "observed", "expected", "baseline", "delta", "unit", "ci", "n",
                 "test", "p_value", "q_value", "impact", "confidence", "score", "headline", "meaning", "action",
                 "drivers", "evidence"}


def test_insights_as_json_are_design_records_of_the_viewers_clients(ws, capsys):
    from connectors.store import Scope, Workspace
    from insights.detection.engine import detect
    from insights.review import available_weeks

    assert main(["insights", "--workspace", str(ws), "--client", "acme", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    w = Workspace.open(ws)
    acme = Scope.everything().narrow(clients="acme")
    expected = detect(w, acme, week=available_weeks(w, acme)[0])
    assert [r["id"] for r in records] == [i.id for i in expected.insights]  # every ranked insight, same week
    assert all(set(r) == DESIGN_FIELDS for r in records)
    assert all(set(r["period"]) == {"start", "end"} and set(r["action"]) >= {"text", "owner", "verify_kpi"}
               for r in records)
    assert {r["segment"].get("client_id") for r in records} <= {"acme"}


def test_insights_as_markdown_are_the_reviews_top_list(ws, capsys):
    assert main(["insights", "--workspace", str(ws), "--week", "2026-W40", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Insights for the week of Mon 28 Sep 2026 (UTC)")


# --------------------------------------------------------------------------- the calendar periods are cut in


@pytest.fixture(scope="module")
def sunday_ws(tmp_path_factory) -> Path:
    """A sample reported in New York with Sunday weeks ([settings] timezone and week_start), long enough to forecast."""
    out = tmp_path_factory.mktemp("sunday") / "ws"
    assert main(["sample", "--out", str(out), "--weeks", "16", "--scale", "0.03"]) == 0
    toml = (out / "bpo.toml").read_text()
    (out / "bpo.toml").write_text(toml.replace('week_start = "monday"',
                                               'week_start = "sunday"\ntimezone = "America/New_York"'))
    return out


NEW_YORK = "periods are cut in the reporting calendar: America/New_York (Sunday weeks)"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_forecast_names_the_calendar_its_weeks_are_cut_in_as_kpis_does(sunday_ws, capsys, fmt):
    assert main(["kpis", "--workspace", str(sunday_ws), "--kpi", "tickets_created", "--format", "json"]) == 0
    assert NEW_YORK in capsys.readouterr().err
    assert main(["forecast", "--workspace", str(sunday_ws), "--weeks", "2", "--by", "client_id", "--format", fmt]) == 0
    printed = capsys.readouterr()
    assert NEW_YORK in printed.err and NEW_YORK not in printed.out  # stdout stays the data alone
    periods = ([r["period"] for r in json.loads(printed.out)["volume"]] if fmt == "json"
               else pl.read_csv(printed.out.encode())["period"].to_list())
    assert periods and {pl.Series([p]).str.to_date().dt.weekday()[0] for p in periods} == {7}  # Sundays


@pytest.mark.parametrize(("which", "says"), [
    pytest.param("sunday_ws", "Periods are cut in the reporting calendar: America/New\\_York (Sunday weeks)",
                 id="new-york-sunday-weeks"),
    pytest.param("ws", "Periods are cut in the reporting calendar: UTC (Monday weeks)", id="utc-monday-weeks"),
])
def test_the_forecast_report_names_its_calendar_under_its_title(request, capsys, which, says):
    path = request.getfixturevalue(which)
    capsys.readouterr()  # what making the sample printed
    assert main(["forecast", "--workspace", str(path), "--weeks", "1", "--by", "client_id"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["# Volume forecast", "", f"_{says}._"]
