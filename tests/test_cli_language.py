"""`kpis --language`: ticket KPIs are narrowed to the language; a KPI read from a table that records no language
(interval reports, the roster, invoices, QA) is for every language, and stderr says so (exit 0, stdout the data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from insights.cli import main

WINDOW = ["--grain", "window", "--from", "2026-06-01", "--to", "2026-06-28", "--format", "json"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """The sample operation: Spanish and German tickets beside English ones, and interval reports with no language."""
    out = tmp_path_factory.mktemp("cli-language") / "ws"
    assert main(["sample", "--out", str(out), "--weeks", "40", "--scale", "0.05"]) == 0
    return out


def kpis(ws: Path, capsys, *args: str) -> tuple[dict[str, float], str]:
    assert main(["kpis", "--workspace", str(ws), *WINDOW, *args]) == 0
    out = capsys.readouterr()
    return {r["kpi"]: r["value"] for r in json.loads(out.out)}, out.err


def test_a_ticket_kpi_is_narrowed_to_the_language(ws, capsys):
    every, _ = kpis(ws, capsys, "--kpi", "tickets_created")
    spanish, err = kpis(ws, capsys, "--kpi", "tickets_created", "--language", "es")
    assert 0 < spanish["tickets_created"] < every["tickets_created"]
    assert "not split" not in err
    # the same count as the Spanish row of --by language
    assert main(["kpis", "--workspace", str(ws), *WINDOW, "--kpi", "tickets_created", "--by", "language"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert spanish["tickets_created"] == next(r["value"] for r in rows if r["language"] == "es")


def test_an_interval_kpi_is_for_every_language_and_stderr_says_so(ws, capsys):
    every, _ = kpis(ws, capsys, "--kpi", "service_level,aht")
    spanish, err = kpis(ws, capsys, "--kpi", "service_level,aht", "--language", "es")
    assert spanish == every and every["service_level"] is not None  # never emptied, never half-filtered
    assert err.splitlines()[0] == ("service_level and aht are not split by language: these figures are for every "
                                   "language, not only language es.")


def test_a_mixed_request_narrows_the_tickets_and_names_only_the_unsplit_kpis(ws, capsys):
    every, _ = kpis(ws, capsys, "--kpi", "tickets_created,service_level,qa_score")
    spanish, err = kpis(ws, capsys, "--kpi", "tickets_created,service_level,qa_score", "--language", "es")
    assert spanish["tickets_created"] < every["tickets_created"]
    assert spanish["service_level"] == every["service_level"] and spanish["qa_score"] == every["qa_score"]
    assert "service_level and qa_score are not split by language" in err and "tickets_created" not in err


def test_a_report_in_one_language_says_which_tiles_are_every_languages(ws, tmp_path, capsys):
    out = tmp_path / "review.md"
    assert main(["report", "--workspace", str(ws), "--format", "md", "--out", str(out), "--language", "es"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "are not split by language: these figures are for every language, not only language es." in text
    service_level = next(line for line in text.splitlines() if line.startswith("| Service level |"))
    created = next(line for line in text.splitlines() if line.startswith("| Tickets created |"))
    assert "(for every language: not split by language)" in service_level
    assert "not split" not in created
    every = tmp_path / "every.md"
    assert main(["report", "--workspace", str(ws), "--format", "md", "--out", str(every)]) == 0
    assert "not split by language" not in every.read_text(encoding="utf-8")
