"""A repeat contact is the same customer coming back to the same brand: a contact with another brand of the
workspace (one person writing to two clients of one BPO) never turns a ticket into a repeat, so FCR and the repeat
rate of a client are the same number for its brand user, for the admin who sees every client and for each vendor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from connectors.store import Scope, Workspace
from insights.metrics.kpis import compute_kpis
from tests.insights._tiny import tiny

W = tiny.REVIEW_WEEK
KPIS = ["fcr", "repeat_contact_rate"]


def _acme(ws: Workspace, scope: Scope) -> dict[str, float]:
    out = compute_kpis(ws, scope, KPIS, grain="week", by=("client_id",), start=W, end=W + timedelta(days=6))
    return {r["kpi"]: r["value"] for r in out.filter(pl.col("client_id") == "acme").iter_rows(named=True)}


def test_the_same_person_writing_to_another_brand_is_not_a_repeat_for_either(tmp_path: Path) -> None:
    ws = tiny.build(tmp_path / "ws")
    before = _acme(ws, Scope.everything())
    assert before == {"fcr": 1.0, "repeat_contact_rate": 0.0}  # tiny's requesters never come back
    # every acme customer of the review week writes to globex an hour later, under the same (workspace-wide) hash
    acme = ws.read("tickets", Scope.of(["acme"])).filter(pl.col("created_at").dt.date().is_between(W, W + timedelta(days=6)))
    globex = acme.with_columns(pl.lit("globex").alias("client_id"), pl.lit("eastbay").alias("vendor_id"),
                               pl.lit("zz-globex-only-site").alias("site_id"),
                               ("x-" + pl.col("ticket_id")).alias("ticket_id"),
                               *[pl.col(c) + timedelta(hours=1) for c in ("created_at", "first_response_at",
                                                                           "resolved_at")])
    ws.upsert("tickets", globex)
    for viewer in (Scope.everything(), Scope.of(["acme"]), Scope.of(["acme"], ["northwind"]),
                   Scope.of(["acme", "globex"])):
        assert _acme(ws, viewer) == before, viewer  # a vendor's part of acme included: none of its tickets repeats
    # and the globex tickets are not repeats of each other or of acme's
    g = compute_kpis(ws, Scope.of(["globex"]), ["repeat_contact_rate"], grain="week", by=(), start=W,
                     end=W + timedelta(days=6))
    assert g["value"].to_list() == [0.0]
