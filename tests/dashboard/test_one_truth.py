"""One number, one truth: a KPI for a segment and week reads the same on every surface, for every viewer.

For a set of KPI × segment × week cells of the tiny workspace, the value computed by `kpis` (the
CLI's JSON), the Weekly review tile, the Vendors & sites scorecard (a one-week window), the Markdown
and HTML exports and the insight records are equal, for the admin, the acme brand manager and the
Northwind account manager wherever the viewer sees the segment whole (DESIGN, "Consistency tests").
"""
from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

import tiny
from connectors.store import Scope, Workspace
from insights.analyses.scorecard import scorecard
from insights.catalog import load_catalog
from insights.cli import main
from insights.export import render
from insights.review import build_review

WEEK = tiny.REVIEW_WEEK
ADMIN, ACME, NORTHWIND = "admin", "acme-manager", "northwind-am"
SCOPES = {ADMIN: Scope.everything(), ACME: Scope.of(["acme"], "*"), NORTHWIND: Scope.of(["*"], ["northwind"])}
KPIS = ("tickets_created", "sla_first_response", "sla_resolution", "csat", "fcr", "first_response_time_median")

# (segment as review filters, the viewers who see it whole)
SEGMENTS = [
    pytest.param({"client": "acme", "vendor": "northwind"}, (ADMIN, ACME, NORTHWIND), id="acme-northwind"),
    pytest.param({"client": "acme", "vendor": "northwind", "channel": "email"}, (ADMIN, ACME, NORTHWIND),
                 id="acme-northwind-email"),
    pytest.param({"client": "acme"}, (ADMIN, ACME), id="acme-whole"),
]
COLUMN = {"client": "client_id", "vendor": "vendor_id", "site": "site_id", "channel": "channel"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return tiny.build(tmp_path_factory.mktemp("one-truth") / "ws")


def _cli_kpis(ws: Workspace, user: str, segment: dict[str, str], capsys) -> dict[str, float | None]:
    by = ",".join(COLUMN[k] for k in segment)
    args = ["kpis", "--workspace", str(ws.path), "--grain", "week", "--by", by, "--kpi", ",".join(KPIS),
            "--from", WEEK.isoformat(), "--to", (WEEK + timedelta(days=6)).isoformat(), "--format", "json"]
    if user != ADMIN:
        args += ["--user", user]
    capsys.readouterr()
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows if isinstance(rows, list) else rows["rows"]
    mine = [r for r in rows if all(r[COLUMN[k]] == v for k, v in segment.items())]
    return {r["kpi"]: r["value"] for r in mine}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("segment, viewers", SEGMENTS)
def test_kpis_tile_and_exports_agree_for_every_viewer_who_sees_the_segment(ws, segment, viewers, capsys):
    catalog = load_catalog()
    seen: dict[str, dict[str, float | None]] = {}
    for user in viewers:
        cli = _cli_kpis(ws, user, segment, capsys)
        review = build_review(ws, SCOPES[user], week=WEEK, filters=segment)
        tiles = {t.kpi: t for t in review.tiles}
        md = render(review, "md", catalog=catalog).decode()
        html = render(review, "html", catalog=catalog).decode()
        for kpi in KPIS:
            tile = tiles[kpi]
            assert _same(tile.value, cli.get(kpi)), f"{user} {kpi}: tile {tile.value} vs kpis {cli.get(kpi)}"
            if tile.value is not None:
                assert tile.formatted in md and tile.formatted in html, f"{user} {kpi}: {tile.formatted} not in the exports"
        for insight in review.insights:
            if insight.kpi in tiles and dict(insight.segment) == {COLUMN[k]: v for k, v in segment.items()} \
                    and insight.period.start == WEEK:
                assert _same(insight.observed, tiles[insight.kpi].value), f"{user} {insight.id}"
        seen[user] = {k: tiles[k].value for k in KPIS}
    first = seen[viewers[0]]
    for user in viewers[1:]:
        assert all(_same(first[k], seen[user][k]) for k in KPIS), f"{viewers[0]} {first} vs {user} {seen[user]}"


@pytest.mark.parametrize("user", [ADMIN, ACME, NORTHWIND])
def test_the_scorecard_of_one_week_reads_the_kpi_engines_values(ws, user, capsys):
    card = scorecard(ws, SCOPES[user], level="vendor", week=WEEK, weeks=1, filters={"client": "acme"})
    cli = _cli_kpis(ws, user, {"client": "acme", "vendor": "northwind"}, capsys)
    rows = card.frame.filter(card.frame["entity"] == "northwind")
    assert rows.height, "the scorecard lists Northwind for acme"
    for kpi in ("sla_first_response", "csat"):
        row = rows.filter(rows["kpi"] == kpi)
        assert row.height == 1 and _same(row["value"][0], cli[kpi]), f"{user} {kpi}: {row} vs {cli[kpi]}"
