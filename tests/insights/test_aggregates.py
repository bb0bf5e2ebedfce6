"""The store's daily aggregates: kept current by every upsert, in the same manifest swap as the rows, and equal
to a full recomputation (`compute_kpis` over every ticket) for every KPI they keep.

Counts are equal exactly; sums (handle seconds) to float rounding: Σ over days of Σ over a day's rows adds
the same numbers in another order (measured: ≤ 1e-15 relative).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from connectors.store import tables as store_tables
from connectors.store.aggregates import (DAY, DIM, TENANT, VALUE, AggregatesUnavailable, aggregate_rows,
                                         client_zones)
from insights.catalog import load_catalog
from insights.cli import main as cli
from insights.errors import KpiError
from insights.metrics.aggregates import aggregate_spec, kept_kpis, kpis_from_aggregates
from insights.metrics.kpis import compute_kpis
from sample_data.generator import generate
from tests.insights._writer import run_writer

EVERYONE = Scope.everything()
SPLITS = [(), ("client_id",), ("client_id", "channel"), ("vendor_id", "priority"), ("client_id", "site_id", "handled_by")]
SUMS = {"ticket_handle_time"}  # KPIs over a `sum` measure: equal to float rounding


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("agg") / "ws"
    generate(out, weeks=8, scale=0.03)
    toml = out / "bpo.toml"  # each client in its own calendar: local days, and Sunday weeks filed under Mondays
    toml.write_text(toml.read_text()
                    .replace('id = "acme"\n', 'id = "acme"\ntimezone = "America/Chicago"\n', 1)
                    .replace('id = "globex"\n', 'id = "globex"\ntimezone = "Asia/Manila"\nweek_start = "sunday"\n', 1))
    return out


@pytest.fixture
def ws(sample: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(sample, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def assert_equal_to_full_recomputation(ws: Workspace, scope: Scope = EVERYONE) -> int:
    """Every kept KPI, at day/week/month and each split: the aggregates' answer equals compute_kpis'. Returns rows compared."""
    compared = 0
    for by in SPLITS:
        for grain in ("day", "week", "month"):
            fast = kpis_from_aggregates(ws, scope, grain=grain, by=by)
            full = compute_kpis(ws, scope, fast["kpi"].unique().to_list(), grain=grain, by=by)
            keys = ["period", *by, "kpi"]
            assert fast.select(keys).sort(keys, nulls_last=True).equals(full.select(keys).sort(keys, nulls_last=True)), \
                f"{grain} by {by}: the aggregates have other periods or segments than the rows"
            both = fast.join(full, on=keys, nulls_equal=True, suffix="_full")
            for col in ("value", "numerator", "denominator", "n"):
                a, b = pl.col(col), pl.col(f"{col}_full")
                exact = both.filter(~pl.col("kpi").is_in(SUMS) & ~a.eq_missing(b))
                assert exact.height == 0, f"{grain} by {by}: {col} differs\n{exact.head()}"
                close = both.filter(pl.col("kpi").is_in(SUMS) & ~(a.eq_missing(b) | ((a - b).abs() <= 1e-9 * b.abs())))
                assert close.height == 0, f"{grain} by {by}: {col} of a sum differs\n{close.head()}"
            compared += both.height
    return compared


def stored_equals_recut(ws: Workspace) -> None:
    """The stored aggregates are exactly the cut of the rows the same manifest lists (nothing stale, nothing missing)."""
    spec, stored = ws.aggregates("tickets", EVERYONE)
    rows = ws.read("tickets", EVERYONE)
    recut = aggregate_rows(rows, spec, client_zones(ws.config))
    keys = [*TENANT, DAY, DIM, VALUE]
    got = stored.collect().group_by(keys).agg(pl.all().sum()).sort(keys, nulls_last=True)
    want = recut.sort(keys, nulls_last=True)
    assert got.select(keys).equals(want.select(keys))
    for c in want.columns:
        if c not in keys:
            if want.schema[c] == pl.Int64:
                assert got[c].equals(want[c]), c
            else:
                assert ((got[c] - want[c]).abs() <= 1e-9 * want[c].abs()).all(), c


def test_the_aggregates_answer_every_decomposable_kpi_as_a_full_recomputation_does(ws):
    assert cli(["store", "rebuild-aggregates", "--workspace", str(ws.path)]) == 0
    kept = [k for k, why in kept_kpis(load_catalog(), aggregate_spec(), ws.config.settings).items() if not why]
    assert {"tickets_created", "csat", "sla_first_response", "reopen_rate", "ticket_handle_time"} <= set(kept)
    assert assert_equal_to_full_recomputation(ws) > 1000
    # a vendor sees its own tickets' KPIs, the same as the rows give it
    vendor = ws.read("tickets", EVERYONE)["vendor_id"].drop_nulls().sort()[0]
    assert_equal_to_full_recomputation(ws, Scope(clients=None, vendors=frozenset({vendor})))


def test_every_upsert_keeps_the_aggregates_of_the_partitions_it_changed_current(ws):
    ws.rebuild_aggregates("tickets", aggregate_spec())
    rows = ws.read("tickets", EVERYONE).sort("ticket_id")
    later = rows["updated_at"].max() + timedelta(hours=1)
    # updates: a ticket solved, another moved to the previous month (its partition changes), new tickets
    changed = rows.head(200).with_columns(pl.lit("solved").alias("status"), pl.lit("chat").alias("channel"),
                                          pl.lit(later).alias("updated_at"))
    moved = rows.slice(200, 50).with_columns((pl.col("created_at") - timedelta(days=31)).alias("created_at"),
                                             pl.lit(later).alias("updated_at"))
    new = rows.slice(300, 300).with_columns(pl.col("ticket_id") + "-new", pl.lit(later).alias("updated_at"))
    result = ws.upsert("tickets", pl.concat([changed, moved, new]))
    assert (result.inserted, result.updated) == (300, 250)
    stored_equals_recut(ws)
    assert_equal_to_full_recomputation(ws)
    # the large-file path (a LazyFrame, one partition at a time) keeps them current too
    deleted = rows.slice(700, 40).with_columns(pl.lit("deleted").alias("status"),
                                               pl.lit(later + timedelta(hours=1)).alias("updated_at"))
    ws.upsert("tickets", deleted.lazy())
    stored_equals_recut(ws)
    assert_equal_to_full_recomputation(ws)
    # only the partitions an upsert rewrites are re-cut: one new ticket in the last month leaves the others' files
    before = aggregate_files(ws)
    last = rows.sort("created_at").tail(1).with_columns(pl.col("ticket_id") + "-one", pl.lit(later).alias("updated_at"))
    ws.upsert("tickets", last)
    after = aggregate_files(ws)
    month = last["created_at"].dt.strftime("%Y-%m")[0]
    assert after[month] != before[month]
    assert {p: f for p, f in after.items() if p != month} == {p: f for p, f in before.items() if p != month}
    stored_equals_recut(ws)


def aggregate_files(ws: Workspace) -> dict[str, str]:
    return dict(store_tables.read_manifest(ws.tables_dir / "tickets", "tickets", ws.path).aggregates["files"])


def test_reads_refuse_aggregates_never_built_or_built_from_another_definition(ws):
    with pytest.raises(AggregatesUnavailable, match="never built; run 'bpo-insights store rebuild-aggregates"):
        kpis_from_aggregates(ws, EVERYONE)
    spec = aggregate_spec()
    older = {**spec, "measures": spec["measures"][1:], "fingerprint": "0" * 16}
    ws.rebuild_aggregates("tickets", older)
    with pytest.raises(AggregatesUnavailable, match="another catalog definition"):
        kpis_from_aggregates(ws, EVERYONE)
    ws.rebuild_aggregates("tickets", spec)
    with pytest.raises(KpiError, match="fcr is not kept .* compute it from the rows"):
        kpis_from_aggregates(ws, EVERYONE, ["fcr"])
    with pytest.raises(KpiError, match="at most one of"):
        kpis_from_aggregates(ws, EVERYONE, by=("channel", "priority"))


def test_a_changed_reporting_calendar_is_refused_until_the_aggregates_are_rebuilt(ws):
    ws.rebuild_aggregates("tickets", aggregate_spec())
    toml = ws.path / "bpo.toml"
    text = toml.read_text()
    assert 'timezone = "America/Chicago"' in text
    toml.write_text(text.replace('timezone = "America/Chicago"', 'timezone = "Pacific/Auckland"', 1))
    ws = Workspace.open(ws.path)
    with pytest.raises(AggregatesUnavailable, match="another reporting calendar"):
        kpis_from_aggregates(ws, EVERYONE)
    # an import under the new calendar cannot extend the old cut: it drops the aggregates in the same swap
    rows = ws.read("tickets", EVERYONE).head(10)
    ws.upsert("tickets", rows.with_columns(pl.col("updated_at") + timedelta(days=1)))
    with pytest.raises(AggregatesUnavailable, match="out of date .*calendar in bpo.toml changed"):
        kpis_from_aggregates(ws, EVERYONE)
    assert cli(["store", "rebuild-aggregates", "--workspace", str(ws.path)]) == 0
    stored_equals_recut(ws)
    assert_equal_to_full_recomputation(ws)


CRASH_POINTS = ["read", "part-tmp", "part-renamed", "aggregate-renamed", "parts-written", "manifest-tmp",
                "manifest-swapped"]
UPSERT = """
import sys
from datetime import timedelta
import polars as pl
from connectors.store import Scope, Workspace
ws = Workspace.open(sys.argv[1])
rows = ws.read("tickets", Scope.everything()).sort("ticket_id")
later = rows["updated_at"].max() + timedelta(hours=1)
batch = pl.concat([rows.head(300).with_columns(pl.lit("chat").alias("channel"), pl.lit(later).alias("updated_at")),
                   rows.slice(300, 200).with_columns(pl.col("ticket_id") + "-new", pl.lit(later).alias("updated_at"))])
ws.upsert("tickets", batch)
"""


@pytest.mark.parametrize("step", CRASH_POINTS)
def test_a_writer_killed_mid_upsert_leaves_rows_and_aggregates_consistent(ws, tmp_path, step):
    ws.rebuild_aggregates("tickets", aggregate_spec())
    before = ws.read("tickets", EVERYONE).height
    assert run_writer(UPSERT, ws.path, tmp_path, crash_at=step) == 137, f"the writer did not die at {step}"
    after = Workspace.open(ws.path)
    assert after.read("tickets", EVERYONE).height == (before + 200 if step == "manifest-swapped" else before)
    stored_equals_recut(after)  # whichever version the manifest lists, its aggregates are the cut of its rows
    assert run_writer(UPSERT, ws.path, tmp_path) == 0
    after = Workspace.open(ws.path)
    stored_equals_recut(after)
    leftovers = {p.relative_to(after.tables_dir / "tickets").as_posix()
                 for p in (after.tables_dir / "tickets").glob("*/agg-*")}
    manifest = store_tables.read_manifest(after.tables_dir / "tickets", "tickets", after.path)
    assert leftovers <= manifest.aggregate_files | set(manifest.retired), "an uncommitted aggregate file was left behind"


def test_a_lost_aggregate_file_leaves_the_rows_readable_and_the_aggregates_refused_until_rebuilt(ws):
    ws.rebuild_aggregates("tickets", aggregate_spec())
    manifest = store_tables.read_manifest(ws.tables_dir / "tickets", "tickets", ws.path)
    lost = sorted(manifest.aggregate_files)[0]
    (ws.tables_dir / "tickets" / lost).unlink()
    assert ws.read("tickets", EVERYONE).height > 0
    with pytest.raises(AggregatesUnavailable, match=r"out of date \(1 aggregate file\(s\) are gone"):
        kpis_from_aggregates(ws, EVERYONE)
    assert cli(["store", "rebuild-aggregates", "--workspace", str(ws.path)]) == 0
    stored_equals_recut(ws)
