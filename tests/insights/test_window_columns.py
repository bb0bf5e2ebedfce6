"""The repeat-contact flag kept in the ticket rows: computed at every upsert (the month rewritten, and the month
before it when a flag of its last days changed), committed in the same manifest swap as the rows, and read by the
KPI engine instead of sorting a year of tickets by customer. The numbers never depend on whether the column is
there: every KPI over it equals the one computed from the rows, for every viewer."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from connectors.store import tables as store_tables
from connectors.store.windows import PREFIX, flagged, stored_columns
from insights.catalog import load_catalog
from insights.cli import main as cli
from insights.metrics.kpis import _computed_windows, compute_kpis, window_spec
from sample_data.generator import generate
from tests.insights._writer import run_writer

EVERYONE = Scope.everything()
KPIS = ["fcr", "repeat_contact_rate", "ai_repeat_contact_rate", "ai_containment_rate", "csat", "tickets_created"]
SPLITS = [("client_id",), ("vendor_id", "channel")]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("win") / "ws"
    generate(out, weeks=16, scale=0.03)
    return out


@pytest.fixture
def ws(sample: Path, tmp_path: Path) -> Workspace:
    shutil.copytree(sample, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def viewers(ws: Workspace) -> list[Scope]:
    rows = ws.read("tickets", EVERYONE)
    client = rows["client_id"].drop_nulls().sort()[0]
    vendor = rows.filter(pl.col("client_id") == client)["vendor_id"].drop_nulls().sort()[0]
    return [EVERYONE, Scope(clients=frozenset({client}), vendors=None),
            Scope(clients=frozenset({client}), vendors=frozenset({vendor}))]


def kpi_frames(ws: Workspace) -> list[pl.DataFrame]:
    return [compute_kpis(ws, scope, KPIS, grain="week", by=by) for scope in viewers(ws) for by in SPLITS]


def flags(ws: Workspace) -> pl.DataFrame:
    """Each ticket's stored flag (one column per kept window), by primary key."""
    rows = ws.read("tickets", EVERYONE, windows=True)
    kept = [c for c in rows.columns if c.startswith(PREFIX)]
    assert kept, "the rows hold no window column"
    return rows.select("source_system", "source_instance", "ticket_id", *kept).sort("ticket_id")


def assert_flags_are_a_whole_table_recomputation(ws: Workspace) -> None:
    """The stored flags equal the window computed over every row of the table at once (no partitions)."""
    spec = store_tables.read_manifest(ws.tables_dir / "tickets", "tickets", ws.path).windows["spec"]
    rows = ws.read("tickets", EVERYONE, windows=True)
    kept = [c for c in rows.columns if c.startswith(PREFIX)]
    whole = flagged(rows.sort("created_at", "source_system", "source_instance", "ticket_id"), None, spec)
    keys = ["source_system", "source_instance", "ticket_id"]
    got = rows.select(*keys, *kept).sort(keys)
    want = whole.select(*keys, *kept).sort(keys)
    diff = got.join(want, on=keys, suffix="_want").filter(
        pl.any_horizontal([pl.col(c) != pl.col(f"{c}_want") for c in kept]))
    assert diff.height == 0, f"{diff.height} stored flag(s) differ from a recomputation\n{diff.head()}"


def later_by(frame: pl.DataFrame, delta: timedelta) -> pl.DataFrame:
    """The same tickets `delta` later: every timestamp of the ticket moves (bookkeeping times excepted)."""
    return frame.with_columns([pl.col(c) + delta for c, t in frame.schema.items()
                               if isinstance(t, pl.Datetime) and c not in ("ingested_at", "updated_at")])


def part_files(ws: Workspace) -> dict[str, str]:
    return dict(store_tables.read_manifest(ws.tables_dir / "tickets", "tickets", ws.path).files)


def test_kept_flags_give_every_viewer_the_numbers_the_rows_give(ws):
    computed = kpi_frames(ws)
    assert cli(["store", "rebuild-aggregates", "--workspace", str(ws.path)]) == 0
    ws = Workspace.open(ws.path)
    assert stored_columns(store_tables.read_manifest(ws.tables_dir / "tickets", "tickets", ws.path).windows)
    # the engine reads the flag (nothing left to compute), for a vendor too: it no longer reads other vendors' rows
    for scope in viewers(ws):
        assert _computed_windows(ws.scan("tickets", scope, windows=True), "tickets", load_catalog()) == []
    kept = kpi_frames(ws)
    for a, b in zip(computed, kept):
        assert a.equals(b)
    assert_flags_are_a_whole_table_recomputation(ws)
    # only the KPI engine sees the column: every other reader gets the canonical columns
    assert not [c for c in ws.scan("tickets", EVERYONE).collect_schema().names() if c.startswith(PREFIX)]


def test_every_upsert_keeps_the_flags_of_the_months_it_touches_current(ws):
    ws.install_windows("tickets", window_spec(load_catalog()))
    rows = ws.read("tickets", EVERYONE).filter(pl.col("requester_hash").is_not_null()
                                                & (pl.coalesce("direction", pl.lit("inbound")) == "inbound"))
    later = rows["updated_at"].max() + timedelta(hours=1)
    months = sorted(part_files(ws))
    # a customer whose last ticket of a month was on its last days comes back early the next month: the flag of
    # that earlier ticket (in a partition the upsert does not otherwise touch) turns true
    m = months[-3]
    last_days = rows.filter(pl.col("created_at").dt.strftime("%Y-%m") == m).sort("created_at").tail(1)
    back = later_by(last_days, timedelta(days=3)).with_columns(pl.col("ticket_id") + "-back",
                                                               pl.lit(later).alias("updated_at"))
    assert back["created_at"].dt.strftime("%Y-%m")[0] != m
    before = part_files(ws)
    ws.upsert("tickets", back)
    after = part_files(ws)
    assert after[m] != before[m], "the month before was not re-flagged"
    assert_flags_are_a_whole_table_recomputation(ws)
    # a ticket from a new customer mid-month changes no flag of the month before: that file is left alone
    fresh = rows.filter(pl.col("created_at").dt.day() == 15).head(1).with_columns(
        pl.col("ticket_id") + "-fresh", pl.lit("someone-new").alias("requester_hash"), pl.lit(later).alias("updated_at"))
    month = fresh["created_at"].dt.strftime("%Y-%m")[0]
    before = part_files(ws)
    ws.upsert("tickets", fresh)
    after = part_files(ws)
    assert after[month] != before[month]
    assert {p: f for p, f in after.items() if p != month} == {p: f for p, f in before.items() if p != month}
    # updates that move tickets a month back, delete the next contact (a deleted ticket is nobody's next contact)
    # and add new ones, through both upsert paths
    moved = rows.slice(200, 50).with_columns((pl.col("created_at") - timedelta(days=31)).alias("created_at"),
                                             pl.lit(later).alias("updated_at"))
    deleted = back.with_columns(pl.lit("deleted").alias("status"), pl.lit(later + timedelta(hours=1)).alias("updated_at"))
    ws.upsert("tickets", pl.concat([moved, deleted]))
    assert_flags_are_a_whole_table_recomputation(ws)
    again = rows.slice(400, 300).with_columns(pl.col("ticket_id") + "-lazy", pl.lit(later).alias("updated_at"))
    ws.upsert("tickets", again.lazy())
    assert_flags_are_a_whole_table_recomputation(ws)
    # and the KPIs over them are those of the rows
    kept = kpi_frames(ws)
    ws.install_windows("tickets", None)
    assert not [c for c in ws.read("tickets", EVERYONE, windows=True).columns if c.startswith(PREFIX)]
    for a, b in zip(kept, kpi_frames(ws)):
        assert a.equals(b)


def test_a_flag_cut_from_another_definition_is_never_read(ws):
    computed = kpi_frames(ws)
    spec = window_spec(load_catalog())
    other = {**spec, "windows": [{**w, "days": 3.0} for w in spec["windows"]]}
    ws.install_windows("tickets", other)
    assert _computed_windows(ws.scan("tickets", EVERYONE, windows=True), "tickets", load_catalog()) == ["is_repeat_7d"]
    for a, b in zip(computed, kpi_frames(ws)):
        assert a.equals(b)


def test_a_window_that_would_depend_on_the_viewer_is_refused(ws):
    spec = window_spec(load_catalog())
    workspace_wide = {**spec, "windows": [{**w, "partition_by": ["inbound_requester"]} for w in spec["windows"]]}
    with pytest.raises(ValueError, match="partitioned by client_id"):
        ws.install_windows("tickets", workspace_wide)


UPSERT = """
import sys
from datetime import timedelta
import polars as pl
from connectors.store import Scope, Workspace
ws = Workspace.open(sys.argv[1])
rows = ws.read("tickets", Scope.everything()).sort("created_at")
later = rows["updated_at"].max() + timedelta(hours=1)
back = rows.slice(rows.height // 2, 300)
back = back.with_columns([pl.col(c) + timedelta(days=2) for c, t in back.schema.items()
                          if isinstance(t, pl.Datetime) and c not in ("ingested_at", "updated_at")])
back = back.with_columns(pl.col("ticket_id") + "-back", pl.lit(later).alias("updated_at"))
ws.upsert("tickets", back)
"""


@pytest.mark.parametrize("step", ["part-renamed", "parts-written", "manifest-swapped"])
def test_a_writer_killed_mid_upsert_leaves_rows_and_flags_consistent(ws, tmp_path, step):
    ws.install_windows("tickets", window_spec(load_catalog()))
    before = ws.read("tickets", EVERYONE).height
    assert run_writer(UPSERT, ws.path, tmp_path, crash_at=step) == 137, f"the writer did not die at {step}"
    after = Workspace.open(ws.path)
    assert after.read("tickets", EVERYONE).height == (before + 300 if step == "manifest-swapped" else before)
    assert_flags_are_a_whole_table_recomputation(after)


def test_a_repaired_table_drops_the_flags_and_computes_them_again(ws):
    computed = kpi_frames(ws)
    ws.install_windows("tickets", window_spec(load_catalog()))
    (ws.tables_dir / "tickets" / store_tables.MANIFEST).unlink()
    assert cli(["store", "repair", "--workspace", str(ws.path)]) == 0
    ws = Workspace.open(ws.path)
    assert store_tables.read_manifest(ws.tables_dir / "tickets", "tickets", ws.path).windows is None
    for a, b in zip(computed, kpi_frames(ws)):
        assert a.equals(b)
