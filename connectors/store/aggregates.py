"""Daily aggregates kept beside a table's partitions, committed in the same manifest swap as its rows.

A table's manifest may carry an `aggregates` section (see `tables.Manifest`):

```
"aggregates": {"spec": {...}, "zones": {"*": "UTC", "acme": "America/Chicago"}, "files": {"2026-03": "month=2026-03/agg-….parquet"}}
```

* `spec` is the definition, as data: derived columns and measures (SQL text evaluated with `pl.sql_expr`,
  the same text the KPI catalog holds), the dimensions and the rows left out (`where`). The store never
  imports `insights/`: `insights.metrics.aggregates.aggregate_spec` turns the catalog into this dict, and
  `bpo-insights store rebuild-aggregates` installs it; from then on every upsert of the table, from any
  process (import, sync), keeps the aggregates of the partitions it rewrites current with the spec stored
  in the manifest.
* `zones` is the calendar the days were cut in: each client's time zone from bpo.toml (`*`: every other
  client). Days are LOCAL days. When bpo.toml's calendar changes, the next upsert cannot extend the old cut,
  so it drops the aggregates (`stale` says why) in the same swap, and reads refuse until they are rebuilt.
* `files` maps each UTC-month partition to the aggregate of exactly that partition's rows. A local day
  near a month's edge has rows in two partitions; the reader sums the pieces (counts and sums add up).

One aggregate file holds, per (client_id, vendor_id, site_id, local day) and per grouping — `dim` null
(the tenant keys only) or one declared dimension (`dim` = its name, `value` = its value) — one column per
measure (counts Int64, sums Float64) and `__rows:<time>`: the rows whose <time> column falls on that day
(so a reader knows which (period, segment) groups exist, as a full scan would).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from connectors.errors import WorkspaceError
from connectors.schema import TENANT as TENANT_COLUMNS
from connectors.store.tables import _fsync_path, _part_dir, crash_point

AGG_PREFIX = "agg-"
TENANT = tuple(TENANT_COLUMNS)  # the tenant keys, in the schema's order
DAY = "day"
DIM = "dim"
VALUE = "value"
ROWS = "__rows:"  # + time column: rows of the partition whose time falls on the day
REBUILD = "bpo-insights store rebuild-aggregates"


class AggregatesUnavailable(WorkspaceError):
    """The stored aggregates cannot answer: never built, dropped (calendar changed) or built from another definition."""


def client_zones(config: Any) -> dict[str, str]:
    """Each declared client's reporting time zone in bpo.toml (its own, else [settings], else UTC); `*`: the rest."""
    settings = dict(getattr(config, "settings", None) or {})
    fallback = str(settings.get("timezone") or "UTC")
    zones = {"*": fallback}
    for c in getattr(config, "clients", ()) or ():
        if c.get("id"):
            zones[str(c["id"])] = str(c.get("timezone") or fallback)
    return zones


def fingerprint(spec: Mapping[str, Any]) -> str:
    """A short hash of the definition: a stored spec that differs from the catalog's is rebuilt, never served."""
    body = json.dumps({k: v for k, v in spec.items() if k != "fingerprint"}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def local_day(col: str, zones: Mapping[str, str]) -> pl.Expr:
    """The local day (Date) of a UTC timestamp column in each row's client's time zone (by `client_id`)."""
    def in_zone(zone: str) -> pl.Expr:
        t = pl.col(col)
        return (t if zone == "UTC" else t.dt.convert_time_zone(zone)).dt.date()

    fallback = zones.get("*", "UTC")
    by_zone: dict[str, list[str]] = {}
    for client, zone in zones.items():
        if client != "*" and zone != fallback:
            by_zone.setdefault(zone, []).append(client)
    out = in_zone(fallback)
    for zone, clients in sorted(by_zone.items()):
        out = pl.when(pl.col("client_id").is_in(sorted(clients))).then(in_zone(zone)).otherwise(out)
    return out


def aggregate_rows(rows: pl.DataFrame, spec: Mapping[str, Any], zones: Mapping[str, str]) -> pl.DataFrame:
    """The daily aggregate of one partition's rows (schema: see the module docstring)."""
    lf = rows.lazy()
    if spec.get("where"):
        lf = lf.filter(pl.sql_expr(spec["where"]).fill_null(False))
    for c in spec.get("columns", ()):
        lf = lf.with_columns(pl.sql_expr(c["expression"]).alias(c["name"]))
    measures = spec["measures"]
    times = list(dict.fromkeys(m["time"] for m in measures))
    dims = list(spec.get("dims", ()))
    lf = lf.with_columns([local_day(t, zones).alias(f"__day:{t}") for t in times]
                         + [pl.col(c).cast(pl.String) for c in (*TENANT, *dims)])
    pieces = []
    for t in times:
        aggs = [pl.len().cast(pl.Int64).alias(ROWS + t)]
        for m in measures:
            if m["time"] == t:
                aggs.append(_agg(m))
        at = lf.filter(pl.col(f"__day:{t}").is_not_null()).rename({f"__day:{t}": DAY})
        for d in [None, *dims]:
            keys = [*TENANT, DAY] + ([d] if d else [])
            g = at.group_by(keys).agg(aggs)
            g = g.with_columns(pl.lit(d, dtype=pl.String).alias(DIM),
                               (pl.col(d) if d else pl.lit(None, dtype=pl.String)).alias(VALUE))
            pieces.append(g.select(*TENANT, DAY, DIM, VALUE, *[a.meta.output_name() for a in aggs]))
    schema = output_schema(spec)
    if not pieces:
        return pl.DataFrame(schema=schema)
    frames = pl.collect_all(pieces)
    long = pl.concat([f.cast(pl.Schema({k: v for k, v in schema.items() if k in f.columns})) for f in frames],
                     how="diagonal")
    value_cols = [c for c in schema if c not in (*TENANT, DAY, DIM, VALUE)]
    out = (long.group_by([*TENANT, DAY, DIM, VALUE]).agg([pl.col(c).sum() for c in value_cols])
               .select(list(schema)).cast(schema))
    return out.sort([*TENANT, DAY, DIM, VALUE], nulls_last=True)


def output_schema(spec: Mapping[str, Any]) -> pl.Schema:
    measures = spec["measures"]
    times = list(dict.fromkeys(m["time"] for m in measures))
    return pl.Schema({**{c: pl.String() for c in TENANT}, DAY: pl.Date(), DIM: pl.String(), VALUE: pl.String(),
                      **{ROWS + t: pl.Int64() for t in times},
                      **{m["name"]: (pl.Int64() if m["agg"] == "count" else pl.Float64()) for m in measures}})


def _agg(m: Mapping[str, Any]) -> pl.Expr:
    """count: rows where the filter holds (and the value is not null); sum: the value over those rows (SQL: null is false)."""
    f = pl.sql_expr(m["filter"]) if m.get("filter") else None
    v = pl.sql_expr(m["value"]) if m.get("value") else None
    if m["agg"] == "count":
        cond = f
        if v is not None:
            cond = v.is_not_null() if cond is None else (cond & v.is_not_null())
        return (pl.len() if cond is None else cond.fill_null(False).sum()).cast(pl.Int64).alias(m["name"])
    if m["agg"] == "sum" and v is not None:
        return (v if f is None else pl.when(f).then(v)).cast(pl.Float64).sum().alias(m["name"])
    raise ValueError(f"aggregate measure {m.get('name')!r}: only count and sum add up across days (got {m.get('agg')!r})")


def write_aggregate(tdir: Path, part: str, frame: pl.DataFrame) -> str:
    """Write one partition's aggregate under a fresh name (temp file, fsync, rename); returns its relative name."""
    name = f"{_part_dir(part)}/{AGG_PREFIX}{uuid.uuid4().hex[:12]}.parquet"
    target = tdir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    _fsync_path(tmp)
    os.replace(tmp, target)
    crash_point("aggregate-renamed")
    return name


class Keeper:
    """Keeps a table's `aggregates` section current while an upsert rewrites partitions (one at a time, so memory
    follows the largest partition); `section` is what the new manifest carries, committed in the same swap.

    No section: aggregates are not kept for this table. A calendar that differs from the one the days were cut
    in (or a section already stale) gives a stale section: reads refuse until `store rebuild-aggregates`."""

    def __init__(self, section: Mapping[str, Any] | None, zones: Mapping[str, str], tdir: Path):
        self.tdir = tdir
        self.zones = dict(zones)
        self.active = bool(section) and not (section or {}).get("stale") and dict((section or {}).get("zones", {})) == self.zones
        if not section:
            self.section: dict[str, Any] | None = None
        elif section.get("stale"):
            self.section = dict(section)
        elif not self.active:
            self.section = {"spec": section["spec"], "zones": dict(section.get("zones", {})), "files": {},
                            "stale": "the reporting calendar in bpo.toml changed since the aggregates were cut"}
        else:
            self.section = {"spec": section["spec"], "zones": self.zones, "files": dict(section.get("files", {}))}

    def partition(self, part: str, rows: pl.DataFrame | None) -> None:
        """Partition `part` now holds `rows` (None or empty: the partition is gone)."""
        if not self.active or self.section is None:
            return
        if rows is None or rows.height == 0:
            self.section["files"].pop(part, None)
        else:
            self.section["files"][part] = write_aggregate(self.tdir, part, aggregate_rows(rows, self.section["spec"], self.zones))


def aggregate_files(section: Mapping[str, Any] | None) -> set[str]:
    return set((section or {}).get("files", {}).values())
