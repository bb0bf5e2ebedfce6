"""One pass per review: the KPI cube answers every query of a review exactly as `compute_kpis` would.

A review (tiles, 52-week series with the prior-year line, MTD/QTD/YTD totals, per-channel lines) and
the engine's run for the same week (every segment level, daily volumes, the months judged by the month,
the driver search) read one `KpiCube`: the tickets table is passed over once per time column, not once
per query.  These tests hold the numbers to what one `compute_kpis` pass per query gives.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import fields, is_dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors.store import Scope, Workspace
from insights.catalog import load_catalog
from insights.detection import detect
from insights.metrics.cube import KpiCube
from insights.metrics.kpis import compute_kpis
from insights.review import build_review, review_cube
from insights.view import View
from sample_data.generator import generate

WEEK = date(2026, 10, 26)  # the sample's last weeks (DEFAULT_END 2026-11-01)
DIMS = ("client_id", "vendor_id", "site_id", "channel", "priority", "contact_reason")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    out = tmp_path_factory.mktemp("cube")
    generate(out, weeks=60, scale=0.1, seed=11)
    return Workspace.open(out)


@pytest.fixture(scope="module")
def ws_local(tmp_path_factory) -> Workspace:
    """The same sample with acme reporting in New York with Sunday weeks (bpo.toml), the other clients in UTC."""
    out = tmp_path_factory.mktemp("cube-local")
    generate(out, weeks=60, scale=0.1, seed=11)
    toml = (out / "bpo.toml").read_text()
    assert '[[client]]\nid = "acme"\n' in toml
    (out / "bpo.toml").write_text(toml.replace('[[client]]\nid = "acme"\n',
                                               '[[client]]\nid = "acme"\ntimezone = "America/New_York"\n'
                                               'week_start = "sunday"\n', 1))
    return Workspace.open(out)


class Query(NamedTuple):
    grain: str
    by: tuple[str, ...]
    start: date
    end: date


QUERIES = [
    pytest.param(Query("week", ("client_id",), date(2025, 10, 6), date(2026, 11, 1)), id="weekly-series"),
    pytest.param(Query("month", ("client_id",), date(2026, 10, 1), date(2026, 11, 1)), id="month-to-date"),
    pytest.param(Query("quarter", (), date(2026, 10, 1), date(2026, 11, 1)), id="quarter-to-date-pooled"),
    pytest.param(Query("window", ("client_id", "channel"), date(2026, 7, 1), date(2026, 10, 29)), id="window"),
    pytest.param(Query("day", ("client_id", "priority"), date(2026, 8, 5), date(2026, 11, 1)), id="days"),
    pytest.param(Query("week", ("client_id", "site_id", "channel"), date(2026, 3, 4), date(2026, 10, 28)),
                 id="pair-level-partial-weeks"),
    pytest.param(Query("week", ("vendor_id",), date(2025, 11, 3), date(2026, 11, 1)), id="across-clients"),
    pytest.param(Query("year", ("client_id", "contact_reason"), date(2026, 1, 1), date(2026, 11, 1)), id="year"),
]
SCOPES = [
    pytest.param(Scope.everything(), id="admin"),
    pytest.param(Scope.of(clients=["acme"], vendors=["northwind"]), id="one-vendor-of-a-brand"),
]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("q", QUERIES)
def test_every_query_inside_the_cube_equals_its_own_pass(ws, scope, q):
    catalog = load_catalog()
    kpis = list(catalog.kpis)  # ratios, sums, exact quantiles, distinct counts, derived KPIs, invoices, backlog
    cube = KpiCube(ws, scope, catalog=catalog, dims=DIMS, start=date(2025, 9, 1), end=date(2026, 11, 8),
                   kpis=tuple(kpis))
    expected = compute_kpis(ws, scope, kpis, grain=q.grain, by=q.by, start=q.start, end=q.end, catalog=catalog)
    got = cube.compute(kpis, grain=q.grain, by=q.by, start=q.start, end=q.end)
    assert expected.height > 0
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("q", QUERIES)
def test_with_a_client_in_its_own_calendar_every_query_equals_its_own_pass(ws_local, scope, q):
    """acme's days are New York days and its Sunday weeks are filed under the reference Monday, in the cube as in
    `compute_kpis`: the cells hold each client's local days, cut into each client's weeks."""
    catalog = load_catalog()
    kpis = list(catalog.kpis)
    cube = KpiCube(ws_local, scope, catalog=catalog, dims=DIMS, start=date(2025, 9, 1), end=date(2026, 11, 8),
                   kpis=tuple(kpis))
    expected = compute_kpis(ws_local, scope, kpis, grain=q.grain, by=q.by, start=q.start, end=q.end, catalog=catalog)
    got = cube.compute(kpis, grain=q.grain, by=q.by, start=q.start, end=q.end)
    assert expected.height > 0
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_local_days_differ_from_utc_days_so_the_calendar_check_can_fail(ws, ws_local):
    """The check above would pass unchanged if the cube ignored calendars only when the two samples agreed."""
    catalog = load_catalog()
    q = dict(grain="day", by=("client_id",), start=date(2026, 10, 1), end=date(2026, 10, 31), catalog=catalog)
    utc = compute_kpis(ws, Scope.of(clients=["acme"]), ["tickets_created"], **q)
    local = compute_kpis(ws_local, Scope.of(clients=["acme"]), ["tickets_created"], **q)
    assert utc["value"].to_list() != local["value"].to_list()


def test_a_query_outside_the_cube_is_a_counted_pass_with_the_same_numbers(ws):
    catalog = load_catalog()
    cube = KpiCube(ws, Scope.everything(), catalog=catalog, dims=("client_id",), start=date(2026, 6, 1),
                   end=date(2026, 11, 1), kpis=("csat",))
    got = cube.compute(["csat"], grain="week", by=("channel",), start=date(2026, 6, 1), end=date(2026, 11, 1))
    expected = compute_kpis(ws, Scope.everything(), ["csat"], grain="week", by=("channel",), start=date(2026, 6, 1),
                            end=date(2026, 11, 1), catalog=catalog)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    assert cube.passes["tickets"] == 2  # the cells, then the fallback for a dimension the cube does not hold
    assert any("outside the cube" in why for why in cube.fallbacks)


# --------------------------------------------------------------------------- the review, before and after


def _plain(x: Any) -> Any:
    """A review's content as plain values (floats to 10 significant digits) for a whole-object comparison."""
    if isinstance(x, float):
        return None if math.isnan(x) else float(f"{x:.10g}")
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, pl.DataFrame):
        return _plain(x.to_dicts())
    return x if isinstance(x, (str, int, bool, date)) or x is None else str(x)


def _review(ws: Workspace, scope: Scope, filters: dict[str, str]) -> dict[str, Any]:
    r = build_review(ws, scope, week=WEEK, filters=filters)
    return {"tiles": _plain(r.tiles), "insights": [_plain(i.to_dict()) for i in r.insights],
            "notices": _plain(r.notices), "series": {k: _plain(v) for k, v in r.series_frames.items()}}


VIEWS = [
    pytest.param(Scope.everything(), {}, id="admin"),
    pytest.param(Scope.everything(), {"client": "acme"}, id="a-brand-in-its-own-calendar"),
    pytest.param(Scope.everything(), {"client": "acme", "channel": "email"}, id="one-channel-of-a-brand"),
    pytest.param(Scope.of(clients=["acme"], vendors=["northwind"]), {}, id="one-vendor-of-a-brand"),
]


@pytest.mark.parametrize("local", [False, True], ids=["utc", "acme-new-york-sunday"])
@pytest.mark.parametrize("scope, filters", VIEWS)
def test_the_review_from_the_cube_is_the_review_of_one_pass_per_query(ws, ws_local, monkeypatch, scope, filters, local):
    ws = ws_local if local else ws
    after = _review(ws, scope, filters)

    def one_pass_each(self, kpis=None, *, grain="week", by=(), start=None, end=None):  # the code before the cube
        return compute_kpis(self.ws, self.scope, kpis, grain=grain, by=by, start=start, end=end, catalog=self.catalog)

    monkeypatch.setattr(KpiCube, "compute", one_pass_each)
    before = _review(ws, scope, filters)
    assert after["insights"], "the sample's last weeks hold stories: a review without insights compares nothing"
    assert after == before


def test_the_insights_from_the_cube_are_those_of_one_pass_per_query(ws, monkeypatch):
    after = [_plain(i.to_dict()) for i in detect(ws, Scope.everything(), week=WEEK).insights]

    def one_pass_each(self, kpis=None, *, grain="week", by=(), start=None, end=None):
        return compute_kpis(self.ws, self.scope, kpis, grain=grain, by=by, start=start, end=end, catalog=self.catalog)

    monkeypatch.setattr(KpiCube, "compute", one_pass_each)
    assert after == [_plain(i.to_dict()) for i in detect(ws, Scope.everything(), week=WEEK).insights]


# --------------------------------------------------------------------------- passes


def test_a_review_passes_over_the_tickets_once_per_time_column(ws, monkeypatch):
    catalog = load_catalog()
    view = View.of(Scope.everything(), {"client": "acme"}, WEEK)
    cube = review_cube(ws, view.scope_for_read(), WEEK, catalog, view=view)
    scans: Counter[str] = Counter()
    scan = Workspace.scan

    def counted(self, table, *args, **kwargs):
        scans[table] += 1
        return scan(self, table, *args, **kwargs)

    monkeypatch.setattr(Workspace, "scan", counted)
    review = build_review(ws, Scope.everything(), week=WEEK, filters={"client": "acme"}, catalog=catalog, cube=cube)
    assert review.tiles and review.insights
    # tickets: cells by created_at and by ended_at; nothing about tickets falls back to a pass of its own
    assert cube.passes["tickets"] <= 3, cube.fallbacks
    assert not [why for why in cube.fallbacks if why.startswith("tickets")]
    # every read of the tickets table: the cube's, the days with activity, the empty-table notice, the data checks
    # (one pass per compute_kpis query read it 30-40 times)
    assert scans["tickets"] <= 6, scans


def test_the_cube_is_read_once_for_a_review_of_any_week_inside_it(ws):
    catalog = load_catalog()
    view = View.of(Scope.everything(), {}, WEEK)
    cube = review_cube(ws, view.scope_for_read(), WEEK, catalog, view=view)
    build_review(ws, Scope.everything(), week=WEEK, catalog=catalog, cube=cube)
    first = Counter(cube.passes)
    build_review(ws, Scope.everything(), week=WEEK - timedelta(weeks=3), catalog=catalog, cube=cube)
    again = Counter(cube.passes) - first
    # the second review re-reads only what cells cannot hold: invoice lines spread over their days (a few rows)
    assert first["tickets"] >= 1
    assert set(again) <= {"cost_invoices"}, cube.fallbacks


# --------------------------------------------------------------------------- a warehouse


def test_with_a_warehouse_the_cube_asks_the_warehouse_and_builds_no_cells(tmp_path):
    """`[store] url`: the measures run inside the warehouse, one query each; the cube reads no Parquet."""
    from insights.cli import main

    path = tmp_path / "ws"
    generate(path, weeks=4, scale=0.03, seed=7)
    (path / "bpo.toml").write_text((path / "bpo.toml").read_text()
                                   + f'\n[store]\nurl = "duckdb:///{tmp_path / "w.duckdb"}"\ntable_prefix = "bpo_"\n')
    assert main(["store", "load", "--workspace", str(path)]) == 0
    ws = Workspace.open(path)
    assert ws.warehouse is not None
    catalog = load_catalog()
    cube = KpiCube(ws, Scope.everything(), catalog=catalog, dims=DIMS, start=date(2026, 9, 1), end=date(2026, 11, 8),
                   kpis=("csat", "fcr"))
    query = dict(grain="week", by=("client_id",), start=date(2026, 10, 5), end=date(2026, 11, 1))
    got = cube.compute(["csat", "fcr", "first_response_time_p90"], **query)
    expected = compute_kpis(ws, Scope.everything(), ["csat", "fcr", "first_response_time_p90"], catalog=catalog,
                            **query)
    assert expected.height > 0
    assert_frame_equal(got, expected)
    assert cube.passes == Counter({"warehouse": 1}) and not cube._cells
