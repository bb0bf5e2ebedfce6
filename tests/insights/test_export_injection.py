"""Exports and CLI outputs show text from data as typed: no link, image or tag in the Markdown or HTML review, and
no formula in any CSV or XLSX (issue 12, "Injection"; the hostile labels are in tests/dashboard/hostile.py)."""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import hostile  # noqa: E402
import tiny  # noqa: E402
from connectors.store import Scope, Workspace  # noqa: E402
from insights.cli import main  # noqa: E402
from insights.export import render  # noqa: E402
from insights.export.spreadsheet import neutralise, safe_frame, to_csv, to_xlsx  # noqa: E402
from insights.review import build_review  # noqa: E402

ATTACKS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "  =1+1", "\t=1",
           "\r=1", " @SUM(1)"]
# a cell a spreadsheet would run: a formula prefix, after spaces or not (a number written by us is not a formula)
FORMULA = re.compile(r"^[ \u00a0]*[=+\-@\t\r]")


@pytest.fixture(scope="module")
def hostile_ws(tmp_path_factory) -> Workspace:
    return hostile.build(tmp_path_factory.mktemp("hostile") / "ws")


@pytest.fixture(scope="module")
def review(hostile_ws):
    return build_review(hostile_ws, Scope.everything().narrow(clients=["acme"]), week=tiny.REVIEW_WEEK)


def formulas(cells) -> list[str]:
    """The text cells a spreadsheet would run as formulas."""
    out = []
    for cell in cells:
        if not isinstance(cell, str) or not FORMULA.match(cell):
            continue
        try:
            float(cell)
        except ValueError:
            out.append(cell)
    return out


def test_the_markdown_review_shows_every_label_as_typed(review):
    text = render(review, "md").decode("utf-8")
    assert "evil.example/p.png" in text  # the event's name is there (in the insight), as text
    assert not hostile.markdown_hazards(text), hostile.markdown_hazards(text)


def test_the_html_review_escapes_every_label(review):
    text = render(review, "html").decode("utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert not re.search(r"<\s*(img|a|script|iframe)\b", text, re.IGNORECASE)


@pytest.mark.parametrize("args", [
    pytest.param(["insights", "--client", "acme", "--week", "2025-W10", "--format", "md"], id="insights"),
    pytest.param(["forecast", "--weeks", "1", "--by", "client_id,site_id,queue", "--format", "md"], id="forecast"),
])
def test_cli_markdown_shows_every_label_as_typed(hostile_ws, capsys, args):
    assert main([args[0], "--workspace", str(hostile_ws.path), *args[1:]]) == 0
    text = capsys.readouterr().out
    assert "evil.example" in text and not hostile.markdown_hazards(text), hostile.markdown_hazards(text)


@pytest.mark.parametrize("value", ATTACKS)
def test_one_rule_neutralises_a_formula_in_every_writer(value):
    assert neutralise(value) == "'" + value
    frame = pl.DataFrame({"label": [value, "acme-support"], "n": [-1.5, 2.0]})
    assert safe_frame(frame)["label"].to_list() == ["'" + value, "acme-support"]
    assert not formulas(c for row in csv.reader(io.StringIO(to_csv(frame).decode("utf-8-sig"))) for c in row)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(to_xlsx(frame))).active
    assert sheet["A2"].value == "'" + value and sheet["A2"].data_type == "s" and sheet["B2"].value == -1.5


@pytest.mark.parametrize("args", [
    pytest.param(["kpis", "--kpi", "tickets_created,sla_first_response", "--by", "site_id,queue,contact_reason",
                  "--grain", "month", "--format", "csv"], id="kpis"),
    pytest.param(["forecast", "--weeks", "2", "--by", "client_id,site_id,queue", "--format", "csv"], id="forecast"),
])
def test_cli_csv_never_holds_a_formula(hostile_ws, capsys, args):
    assert main([args[0], "--workspace", str(hostile_ws.path), *args[1:]]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    cells = [c for row in rows for c in row]
    assert any(c.startswith("'@SUM(1) http://evil.example/site") for c in cells)  # the site is there, made inert
    assert not formulas(cells), formulas(cells)
