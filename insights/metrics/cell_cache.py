"""The review cube's ticket cells, cached per row file: a review reads ~thousands of cells per day of history instead
of passing over millions of tickets.

A `KpiCube` reads its ticket sources into cells: per (client's local day, cube dimensions), the sums and counts of
every measure, the distinct values and the raw values of the quantile measures (`insights.metrics.cube`). Cells of
a day are the sum of the cells each row file holds for that day, so they are computed once per row file and kept
beside the workspace, under `cache/cells/<definition>/`:

* A row file is immutable and uniquely named (an upsert writes a new file and retires the old one), so a cached
  file named after it can never be stale: a month an import rewrote has a new file name and its cells are
  computed on the next review (one month's rows), every other month is read back. Cells of a row file the store
  has deleted (retired by an upsert, then past its grace period) are deleted by the next review, under every
  definition; a cache file that cannot be read is dropped and the rows are read instead.
* The cells hold what the rows hold, added up, plus each cell's distinct requester hashes (for exact
  distinct-customer counts): the same pseudonymous hashes as the store, never a raw identity. A row an erasure
  rewrites leaves the cache when its old file leaves the store.
* `<definition>` is a hash of everything the cells depend on: the measures (name, kind, SQL text, time), the
  quantile measures, the dimensions, every client's reporting calendar and the site tiers; another catalog,
  calendar or cube gets other files. Cache files of row files no longer listed are removed when new ones are written.
* Cells are cut for every viewer (no scope) and then narrowed to the viewer's tenants by the store's own rule
  (`connectors.store.tenancy.visible` over the cells' client, vendor and site), so they need the tenant keys among
  the dimensions and a repeat flag that does not depend on the viewer: the rows must keep it
  (`connectors/store/windows.py`). Otherwise, with a warehouse, or when the folder cannot be written, the cube
  passes over the rows as before.

The numbers are the cube's: `tests/insights/test_cell_cache.py` compares a review from cached cells with one
from the rows, for an admin, a brand and a vendor.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Sequence

import polars as pl

from connectors.store import Scope, Workspace, tenancy
from connectors.store.aggregates import client_zones
from insights.catalog import Catalog
from insights.metrics import kpis as engine
from insights.metrics.periods import date_key
from insights.view import Calendars

VERSION = 1  # bump when the cells' layout or the engine's cell code changes meaning
TABLE = "tickets"
TENANT_DIMS = ("client_id", "vendor_id", "site_id")


def cached_cells(ws: Workspace, scope: Scope, catalog: Catalog, plan: engine.Plan, sources: Sequence[engine.Source],
                 dims: tuple[str, ...], start, end) -> dict[engine.Source, pl.DataFrame]:
    """The cells of `sources` (ticket sources of `plan`) by day × `dims` over [start, end] for `scope`, from the
    cache (computing the row files it lacks); {} when the cache cannot answer (see the module docstring)."""
    sources = [s for s in sources if s.table == TABLE and s.spread is None and s.until is None]
    if not sources or ws.warehouse is not None or not set(TENANT_DIMS) <= set(dims):
        return {}
    files = ws.files(TABLE)
    if not files:
        return {}
    tdir = ws.tables_dir / TABLE
    probe = pl.scan_parquet(str(tdir / next(iter(files.values()))))
    if engine._computed_windows(probe, TABLE, catalog):  # a flag computed per viewer: cells per file cannot hold it
        return {}
    cals = Calendars.of(ws.config, None)
    calendars = None if cals.utc_iso else cals
    sub = engine.Plan(requested=[], order=[], omitted={}, formulas={}, sources={s: plan.sources[s] for s in sources},
                      quantiles={s: plan.quantiles[s] for s in sources if s in plan.quantiles})
    folder = ws.path / "cache" / "cells" / _definition(ws, sub, sources, dims)
    lo, hi = date_key(start, "day"), date_key(end, "day")
    visible = tenancy.visible(ws, TABLE, scope)
    try:
        paths = _ensure(ws, folder, files, catalog, sub, sources, dims, calendars)
        queries = [pl.scan_parquet([str(p[s]) for p in paths]).filter(pl.col(engine.PERIOD).is_between(lo, hi) & visible)
                   for s in sources]
        found = pl.collect_all(queries)
    except (OSError, pl.exceptions.PolarsError):  # a read-only workspace, a damaged cache file: pass over the rows
        _forget(folder)
        return {}
    return {s: _merged(cells, dims) for s, cells in zip(sources, found)}


def _forget(folder: Path) -> None:
    """Drop a cache folder that could not be read back (it is rebuilt by the next review that can write)."""
    for f in folder.glob("*.parquet") if folder.is_dir() else ():
        try:
            f.unlink()
        except OSError:
            return


def _definition(ws: Workspace, plan: engine.Plan, sources: Sequence[engine.Source], dims: tuple[str, ...]) -> str:
    """A hash of what the cells depend on (a folder name)."""
    body = {"version": VERSION, "dims": list(dims), "zones": client_zones(ws.config),
            "weeks": {str(c.get("id")): c.get("week_start") for c in ws.config.clients},
            "tiers": engine.site_tiers(ws),
            "sources": [{"time": s.time,
                         "measures": [[m.name, m.agg, m.column, m.expression, m.filter, m.time]
                                      for m in plan.sources[s]],
                         "quantiles": sorted({k.measure or "" for k in plan.quantiles.get(s, [])})}
                        for s in sources]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _ensure(ws: Workspace, folder: Path, files: dict[str, str], catalog: Catalog, plan: engine.Plan,
            sources: Sequence[engine.Source], dims: tuple[str, ...],
            calendars: Calendars | None) -> list[dict[engine.Source, Path]]:
    """Per row file, the cached cells file of each source (computed and written for the files that lack them)."""
    tdir = ws.tables_dir / TABLE
    out = []
    for rel in files.values():
        stem = Path(rel).stem  # part-<unique id>: a row file's name is never reused
        paths = {s: folder / f"{stem}.{s.time}.parquet" for s in sources}
        if not all(p.is_file() for p in paths.values()):
            frames = {TABLE: pl.scan_parquet(str(tdir / rel))}
            cells = engine.source_results(frames, plan, list(sources), catalog=catalog, grain="day",
                                          by=dims, start=None, end=None, site_tiers=engine.site_tiers(ws), scope=None,
                                          calendars=calendars, cells=True)
            folder.mkdir(parents=True, exist_ok=True)
            for s, p in paths.items():
                _write(cells[s], p)
        out.append(paths)
    # cells of row files the store has deleted (retired by an upsert, then past their grace period) go with them,
    # under every definition: rows an erasure rewrote leave the cache when they leave the store
    on_disk = {p.stem for p in tdir.glob("*/part-*.parquet")}
    for f in folder.parent.glob("*/part-*.parquet"):
        if f.name.split(".", 1)[0] not in on_disk:
            f.unlink(missing_ok=True)
    return out


def _write(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    frame.write_parquet(tmp, compression="lz4", statistics=True)
    os.replace(tmp, path)


def _merged(cells: pl.DataFrame, dims: tuple[str, ...]) -> pl.DataFrame:
    """One cell per (day, dims): a local day near a month's edge has cells in two row files; they add up."""
    keys = [engine.PERIOD, *dims]
    dup = pl.struct(keys).is_duplicated()
    twice = cells.filter(dup)
    if twice.height == 0:
        return cells
    aggs = []
    for c, t in cells.schema.items():
        if c in keys:
            continue
        aggs.append(pl.col(c).explode().alias(c) if isinstance(t, pl.List) else pl.col(c).sum().alias(c))
    joined = twice.group_by(keys).agg(aggs).select(cells.columns).cast(cells.schema)
    return pl.concat([cells.filter(~dup), joined], how="vertical")
