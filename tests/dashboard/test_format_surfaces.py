"""One number, one text: a KPI value reads the same on the tile, in a sentence and in every export, and a missing
value is '–' everywhere (never 'None', 'n/a' or 'nan')."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

import tiny
from connectors.store import Scope, Workspace
from dashboard import components
from insights import format
from insights.detection import narrative
from insights.catalog import load_catalog
from insights.export import render
from insights.review import build_review

ACME = Scope.of(["acme"], "*")
HANDLE_SECONDS = 252.0  # the review week's average handle time: 4 min 12 s
EMPTY_WORDS = re.compile(r"\b(None|n/a|N/A|nan|NaN)\b")


def _intervals() -> pl.DataFrame:
    """acme voice queue intervals for the review week and the one before: 10 calls a day, 252 s handle each."""
    rows = []
    for day in range(14):
        start = datetime.combine(tiny.REVIEW_WEEK - timedelta(days=7 - day), datetime.min.time(), timezone.utc)
        handle = HANDLE_SECONDS if day >= 7 else 240.0
        rows.append({"source_system": "csv", "source_instance": "tiny", "client_id": "acme", "vendor_id": "northwind",
                     "site_id": "nw-manila", "queue_id": "acme-voice", "channel": "voice", "direction": "inbound",
                     "interval_start": start + timedelta(hours=9), "interval_minutes": 30, "offered": 10,
                     "handled": 10, "handle_seconds": 10 * handle, "updated_at": tiny.T_INGEST,
                     "ingested_at": tiny.T_INGEST})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    ws: Workspace = tiny.build(tmp_path_factory.mktemp("format") / "ws")
    ws.upsert("contact_intervals", _intervals())
    return build_review(ws, ACME, week=tiny.REVIEW_WEEK, filters={"client": "acme"})


def test_one_handle_time_reads_the_same_on_the_tile_in_a_sentence_and_in_the_exports(review):
    tile = review.tile("aht")
    assert tile.value == pytest.approx(HANDLE_SECONDS)
    text = tile.formatted
    assert text == "4.2 min"
    aht = load_catalog().kpis["aht"]
    draft = {"type": "rate_change", "kpi": "aht", "segment": {"client_id": "acme"}, "unit": "seconds",
             "period": {"start": review.week, "end": review.week_end}, "observed": tile.value, "expected": 240.0,
             "delta": tile.value - 240.0, "ci": None, "n": tile.n, "baseline": "trailing 8 weeks", "impact": None,
             "drivers": [], "evidence": {"polarity": "bad"},
             "action": {"text": "Review call handling.", "owner": "ops", "verify_kpi": "aht", "verify_week": "2025-03-17"}}
    sentence = narrative.render(draft, aht.label, narrative.load_rules(), kpi=aht, names=review.names)["what"]
    assert f"rose to {text} in the week" in sentence
    assert f"({tile.formatted_vs_last_week} vs " in sentence  # the sentence's change is the tile's change
    assert f">{text}<" in components.tile_html(tile)
    markdown = render(review, "md").decode()
    assert f"| {aht.label} | {text} |" in markdown  # the box totals
    assert re.search(rf"\| {re.escape(aht.label)} \|( [^|]+ \|)* {re.escape(text)} \|\n", markdown)  # the last weeks
    html = render(review, "html").decode()
    assert f'<div class="v">{text}</div>' in html


def test_no_surface_writes_none_or_nan_for_a_missing_value(review):
    missing = [t for t in review.tiles if t.value is None]
    assert {"qa_score", "cost_per_contact"} <= {t.kpi for t in missing}  # tiny has no QA and no invoices
    surfaces = {
        "tiles": "".join(components.tile_html(t) for t in review.tiles),
        "markdown": render(review, "md").decode(),
        "html": render(review, "html").decode(),
    }
    for name, text in surfaces.items():
        assert not EMPTY_WORDS.search(text), (name, EMPTY_WORDS.search(text))
    assert all(t.formatted == format.EMPTY for t in missing)
    draft = {"type": "rate_change", "kpi": "qa_score", "segment": {}, "unit": "percent",
             "period": {"start": review.week, "end": review.week_end}, "observed": None, "expected": float("nan"),
             "delta": None, "ci": None, "n": 0, "baseline": "", "impact": None, "drivers": [], "evidence": {},
             "action": {"text": "x", "owner": "o", "verify_kpi": "qa_score", "verify_week": "2025-03-17"}}
    sentence = narrative.render(draft, "QA score", narrative.load_rules())["what"]
    assert not EMPTY_WORDS.search(sentence) and "–" in sentence


def test_labels_name_the_client_not_its_id(review):
    assert "client: Acme Home" in render(review, "md").decode()


def test_a_change_that_rounds_to_nothing_has_the_no_change_arrow_and_no_colour(review):
    """'±0.0 pts' under a ▼ in orange reads as a fall: the arrow and colour follow the figure shown."""
    from dataclasses import replace

    tile = replace(review.tile("sla_first_response"), vs_last_week=-0.0002, formatted_vs_last_week="±0.0 pts")
    html = components.tile_html(tile, compare="last_week")
    shown = re.search(r'data-compare="last_week"><span style="color:([^"]+)">(\S+) ±0.0 pts</span>', html)
    assert shown is not None and shown.group(2) == "▬"
    assert shown.group(1) == components.charts.GREY
