"""The cached data layer: keys hold the viewer's scope and the data version, never serve a stale or foreign answer."""

from __future__ import annotations

import polars as pl

import tiny
from connectors.store import Scope
from dashboard import data

ACME, EVERYTHING = Scope.of(["acme"], "*"), Scope.everything()


def created(review) -> float | None:
    return review.tile("tickets_created").value


def test_the_cache_is_keyed_by_the_viewers_scope(tiny_ws):
    version = data.data_version(tiny_ws)
    admin = data.review(tiny_ws, EVERYTHING, (), None, version)
    acme = data.review(tiny_ws, ACME, (), None, version)
    assert (created(admin), created(acme)) == (63, 42)


def test_an_import_changes_the_version_and_the_answer(tmp_path):
    ws = tiny.build(tmp_path / "w")
    before = data.data_version(ws)
    assert created(data.review(ws, ACME, (), None, before)) == 42
    extra = tiny.tickets().filter(pl.col("client_id") == "acme").tail(6).with_columns(
        pl.col("ticket_id") + "-again")
    ws.upsert("tickets", extra)
    after = data.data_version(ws)
    assert after != before
    assert created(data.review(ws, ACME, (), None, after)) == 48


def test_filter_choices_come_only_from_the_scopes_data(tiny_ws):
    version = data.data_version(tiny_ws)
    assert data.dimension_values(tiny_ws, ACME, version) == {
        "client": ["acme"], "vendor": ["northwind", "southpeak"], "site": ["nw-manila", "sp-austin"],
        "channel": ["chat", "email", "voice"], "language": [],  # tiny's tickets record no language
    }
    assert "zz-globex-only-site" in data.dimension_values(tiny_ws, EVERYTHING, version)["site"]


def test_the_store_summary_reads_as_days_and_freshness():
    from datetime import datetime, timezone

    from dashboard.components import table_summary_frame

    now = datetime(2025, 3, 10, 12, tzinfo=timezone.utc)
    summary = pl.DataFrame({
        "table": ["tickets", "events"], "rows": [10, 0],
        "first": ["2025-03-01 09:00:00+00:00", None], "last": ["2025-03-09 18:00:00+00:00", None],
        "last_ingested": [datetime(2025, 3, 10, 6, tzinfo=timezone.utc), None],
    })
    assert table_summary_frame(summary, now).rows() == [
        ("tickets", 10, "2025-03-01", "2025-03-09", "2025-03-10 06:00 UTC", "6 h ago"),
        ("events", 0, None, None, None, "never"),
    ]
