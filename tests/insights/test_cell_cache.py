"""The review cube's ticket cells cached per row file: a review from cached cells is the review of one pass per
query, for every viewer and calendar; an import recomputes only the cells of the row files it rewrote; nothing is
cached when the cells would depend on the viewer, and a damaged cache file is dropped, never served."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors.store import Scope, Workspace
from insights.catalog import load_catalog
from insights.metrics.cube import KpiCube
from insights.metrics.kpis import compute_kpis, window_spec
from insights.review import build_review
from sample_data.generator import generate
from tests.insights.test_review_cube import _plain

WEEK = date(2026, 10, 26)
DIMS = ("client_id", "vendor_id", "site_id", "channel", "priority", "contact_reason")
START, END = date(2026, 3, 2), date(2026, 11, 8)
QUERIES = [("week", ("client_id",), date(2026, 4, 6), date(2026, 11, 1)),
           ("month", ("vendor_id", "channel"), date(2026, 4, 1), date(2026, 10, 31)),
           ("day", ("client_id", "priority"), date(2026, 9, 5), date(2026, 11, 1)),
           ("window", ("site_id",), date(2026, 6, 1), date(2026, 10, 29))]
SCOPES = [pytest.param(Scope.everything(), id="admin"), pytest.param(Scope.of(clients=["acme"]), id="a-brand"),
          pytest.param(Scope.of(clients=["acme"], vendors=["northwind"]), id="one-vendor-of-a-brand")]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cells") / "ws"
    generate(out, weeks=36, scale=0.05, seed=11)
    Workspace.open(out).install_windows("tickets", window_spec(load_catalog()))
    return out


@pytest.fixture
def ws(sample: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(sample, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


@pytest.fixture
def ws_local(ws: Workspace) -> Workspace:
    """acme reporting in New York with Sunday weeks: its cells are its local days, near a month's edge in two files."""
    toml = (ws.path / "bpo.toml").read_text()
    (ws.path / "bpo.toml").write_text(toml.replace('[[client]]\nid = "acme"\n', '[[client]]\nid = "acme"\n'
                                                   'timezone = "America/New_York"\nweek_start = "sunday"\n', 1))
    return Workspace.open(ws.path)


def cube(ws: Workspace, scope: Scope) -> KpiCube:
    catalog = load_catalog()
    return KpiCube(ws, scope, catalog=catalog, dims=DIMS, start=START, end=END, kpis=tuple(catalog.kpis))


def cache_files(ws: Workspace) -> dict[str, float]:
    return {p.relative_to(ws.path).as_posix(): p.stat().st_mtime_ns for p in (ws.path / "cache").rglob("*.parquet")}


@pytest.mark.parametrize("local", [False, True], ids=["utc", "acme-new-york-sunday"])
@pytest.mark.parametrize("scope", SCOPES)
def test_every_query_from_cached_cells_equals_its_own_pass(ws, ws_local, scope, local):
    ws = ws_local if local else Workspace.open(ws.path)
    catalog = load_catalog()
    kpis = list(catalog.kpis)
    for attempt in ("computed", "read back"):
        c = cube(ws, scope)
        for grain, by, start, end in QUERIES:
            got = c.compute(kpis, grain=grain, by=by, start=start, end=end)
            expected = compute_kpis(ws, scope, kpis, grain=grain, by=by, start=start, end=end, catalog=catalog)
            assert expected.height > 0
            assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
        assert c.cached, f"{attempt}: the ticket cells did not come from the cache"
        assert cache_files(ws)


@pytest.mark.parametrize("scope, filters", [(Scope.everything(), {"client": "acme"}),
                                            (Scope.of(clients=["acme"], vendors=["northwind"]), {})],
                         ids=["a-brand", "one-vendor-of-a-brand"])
def test_the_review_from_cached_cells_is_the_review_of_one_pass_per_query(ws, monkeypatch, scope, filters):
    def review() -> dict:
        r = build_review(ws, scope, week=WEEK, filters=filters)
        return {"tiles": _plain(r.tiles), "insights": [_plain(i.to_dict()) for i in r.insights],
                "series": {k: _plain(v) for k, v in r.series_frames.items()}}

    cached = review()
    assert cache_files(ws)

    def one_pass_each(self, kpis=None, *, grain="week", by=(), start=None, end=None):
        return compute_kpis(self.ws, self.scope, kpis, grain=grain, by=by, start=start, end=end, catalog=self.catalog)

    monkeypatch.setattr(KpiCube, "compute", one_pass_each)
    assert cached["tiles"] and cached == review()


def test_an_import_recomputes_only_the_cells_of_the_row_files_it_rewrote(ws):
    cube(ws, Scope.everything()).compute(["csat"], grain="week", by=("client_id",), start=START, end=END)
    before = cache_files(ws)
    rows = ws.read("tickets", Scope.everything()).sort("created_at")
    later = rows["updated_at"].max() + timedelta(hours=1)
    day = rows.filter(pl.col("created_at").dt.date() == date(2026, 10, 14))
    ws.upsert("tickets", day.with_columns(pl.col("ticket_id") + "-new", pl.lit(later).alias("updated_at")))
    c = cube(ws, Scope.everything())
    got = c.compute(["csat", "fcr", "first_response_time_median", "contacts_per_customer"], grain="week",
                    by=("client_id",), start=START, end=END)
    after = cache_files(ws)
    new = set(after) - set(before)
    assert new, "the rewritten month's cells were not computed"
    assert len({f.split("/")[-1].split(".")[0] for f in new}) == 1, "more than the rewritten month was recomputed"
    assert {f: t for f, t in after.items() if f in before} == {f: t for f, t in before.items() if f in after}
    expected = compute_kpis(ws, Scope.everything(), ["csat", "fcr", "first_response_time_median",
                                                      "contacts_per_customer"], grain="week", by=("client_id",),
                            start=START, end=END)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_no_cells_are_cached_when_the_repeat_flag_would_depend_on_the_viewer(ws):
    ws.install_windows("tickets", None)  # the flag computed per read: a vendor's rows are cut after the window
    c = cube(ws, Scope.of(clients=["acme"], vendors=["northwind"]))
    c.compute(["fcr"], grain="week", by=("client_id",), start=START, end=END)
    assert not c.cached and not cache_files(ws)


def test_a_damaged_cache_file_is_dropped_and_the_rows_are_read(ws):
    c = cube(ws, Scope.everything())
    first = c.compute(["csat", "first_response_time_p90"], grain="week", by=("client_id",), start=START, end=END)
    victim = sorted((ws.path / "cache").rglob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    c = cube(ws, Scope.everything())
    again = c.compute(["csat", "first_response_time_p90"], grain="week", by=("client_id",), start=START, end=END)
    assert not c.cached and c.passes["tickets"] >= 1
    assert_frame_equal(again, first)
    assert not victim.exists()
