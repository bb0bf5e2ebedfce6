"""One pass per review: the finest KPI cube a review needs, read once, every query answered from it.

A `KpiCube` is built for one viewer's scope, a date range and a set of dimensions (the finest grain a
review or a detect run asks for: day × client × vendor × site × channel × priority × reason).  On
its first query it reads each source of the catalog KPIs it was built for in ONE pass per source
(`pl.collect_all`, like `compute_kpis`) into cells: per (day, dimensions), the sums and counts of every
decomposable measure, the distinct values of every count_distinct measure and the raw values of every
quantile KPI's measure (lists).  `compute(kpis, grain=..., by=..., start=..., end=...)` then answers
`compute_kpis`-shaped queries for any subset of those dimensions and any range inside the cube by
re-aggregating the cells in memory:

* sums and counts are summed (Σnumerator/Σdenominator at every grain, as in `compute_kpis`);
* a count_distinct counts the distinct values of the cells' lists, a quantile is taken over the cells' raw
  values: both exact, not approximations;
* cells are keyed by each client's LOCAL day (its reporting calendar, `Calendars.of(ws.config, clients)`, as
  `compute_kpis` cuts rows); a query's periods are cut from those days by `insights.metrics.periods` exactly as
  `compute_kpis` cuts them (at week grain a client whose weeks start on another weekday has its days moved into
  the reference week, `by_client`; client_id is always a cube dimension), and the KPIs are assembled by the same
  code as `compute_kpis` (`kpis.assemble`).

With a warehouse (`[store] url`) there are no cells: every query is `compute_kpis`, which runs inside it.

What cells cannot answer falls back to an ordinary pass of `compute_kpis`'s engine for that source alone,
and is counted: a source outside the cube's range or dimensions, invoice lines spread over days (few
rows), open-at-period-end levels (a backlog).  `passes` counts the passes per table, so a test can assert
that a review reads the tickets table a bounded number of times.

>>> cube = KpiCube(ws, scope, catalog=catalog, dims=("client_id", "channel"), start=date(2025, 1, 6),
...                end=date(2026, 3, 29), kpis=("csat", "fcr"))  # doctest: +SKIP
>>> cube.compute(["csat"], grain="month", by=("client_id",), start=date(2026, 1, 1), end=date(2026, 3, 29))  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Sequence

import polars as pl

from connectors.store import Scope, Workspace
from insights.catalog import Catalog
from insights.metrics import cell_cache
from insights.metrics import kpis as engine
from insights.metrics.kpis import compute_kpis
from insights.metrics.periods import by_client, date_key, day_key, key_to_date
from insights.view import Calendars

DAY = "day"  # the grain of the cells
MARGIN = timedelta(days=3)  # a week's alignment moves a client's days at most this far (Calendars.groups)


@dataclass
class KpiCube:
    """The cells of one scope over [start, end] by `dims`, built on first use; queries re-aggregate them."""

    ws: Workspace
    scope: Scope
    catalog: Catalog
    dims: tuple[str, ...]
    start: date
    end: date
    kpis: tuple[str, ...] = ()  # the KPIs whose sources are read into cells on the first query
    passes: Counter[str] = field(default_factory=Counter)  # table -> passes over it (cells and fallbacks)
    fallbacks: list[str] = field(default_factory=list)  # why each fallback pass was made, for tests and benchmarks
    cached: dict[engine.Source, pl.DataFrame] = field(default_factory=dict, repr=False)  # cells read from the cache
    _cells: dict[engine.Source, pl.DataFrame] = field(default_factory=dict, repr=False)
    _frames: dict[str, pl.LazyFrame] = field(default_factory=dict, repr=False)
    _viewer: Scope | None = field(default=None, repr=False)
    _cals: Calendars | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        cals = Calendars.of(self.ws.config, self.scope.clients)
        self._cals = None if cals.utc_iso else cals
        if self._cals is not None and "client_id" not in self.dims:  # clients' days differ: a cell is one client's
            self.dims = ("client_id", *self.dims)

    # ------------------------------------------------------------------ queries

    def compute(self, kpis: Sequence[str] | None = None, *, grain: str = "week", by: Sequence[str] = (),
                start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """What `compute_kpis(ws, scope, kpis, grain=..., by=..., start=..., end=...)` returns, from the cells."""
        engine.check_request(grain, start, end)
        by = tuple(by)
        if self.ws.warehouse is not None:  # the measures run inside the warehouse: one query each, no cells
            self.passes["warehouse"] += 1
            return compute_kpis(self.ws, self.scope, None if kpis is None else list(kpis), grain=grain, by=by,
                                start=start, end=end, catalog=self.catalog)
        settings = self.ws.config.settings
        if not self._cells and self.kpis:  # every source of the declared KPIs, undivided (nothing left out)
            declared = engine.plan_of(self.catalog, list(self.kpis), (), settings)
            self._build(declared, [s for s in declared.sources if self._cellable(s, ())])
        plan = engine.plan_of(self.catalog, kpis, by, settings)
        inside = start is not None and end is not None and self.start <= start and end <= self.end
        answerable = [s for s in plan.sources if inside and self._cellable(s, by)]
        missing = [s for s in answerable if s not in self._cells or not self._covers(s, plan)]
        if missing:  # a source (or measure) the cube was not built for: read its cells once, for every later query
            self._build(plan, missing, reason="cells for a KPI the cube was not declared with")
        results = {s: self._rollup(s, plan, grain, by, start, end) for s in answerable}
        rest = [s for s in plan.sources if s not in results]
        if rest:
            results.update(self._fallback(plan, rest, grain, by, start, end))
        return engine.assemble(plan, results, catalog=self.catalog, grain=grain, by=by, start=start, end=end,
                               first=self._first)

    @property
    def _first(self) -> int:
        """The reference week's first weekday (0 = Monday) the query's weeks are keyed by."""
        return self._cals.reference.week_start if self._cals is not None else 0

    # ------------------------------------------------------------------ cells

    def _source_dims(self, source: engine.Source) -> tuple[str, ...]:
        return tuple(d for d in self.dims if self.catalog.dimension_column(source.table, d) is not None)

    def _cellable(self, source: engine.Source, by: tuple[str, ...]) -> bool:
        """Cells answer plain per-row measures by a subset of the cube's dimensions (not spread lines, not levels)."""
        dims = self._source_dims(source)
        local = self._cals is None or "client_id" in dims  # local days are a client's own: cells name the client
        return source.spread is None and source.until is None and local and set(by) <= set(dims)

    def _covers(self, source: engine.Source, plan: engine.Plan) -> bool:
        have = self._cells[source].columns
        wanted = [m.name for m in plan.sources[source]]
        wanted += [engine.values_column(k.measure or "") for k in plan.quantiles.get(source, [])]
        return all(c in have for c in wanted)

    def _read(self, tables: set[str]) -> dict[str, pl.LazyFrame]:
        new = tables - set(self._frames)
        if new:  # a windowed table (is_repeat_7d) is read across vendors: from then on rows are cut to the viewer's
            frames, viewer = engine.read_frames(self.ws, self.scope, new, self.catalog)
            # invoice lines are few and every query spreads them again: read (and convert) them once
            self._frames.update({t: f.collect().lazy() if t in engine.WHOLE_LINE_TABLES else f for t, f in frames.items()})
            self._viewer = viewer if viewer is not None else self._viewer
        return self._frames

    def _build(self, plan: engine.Plan, sources: list[engine.Source], reason: str | None = None) -> None:
        """Read `sources` of `plan` into cells, one pass each (collected together), by day × the cube's dimensions;
        the declared ticket sources from the cells cached per row file when the cache can answer (`cell_cache`)."""
        built: dict[engine.Source, pl.DataFrame] = {}
        if reason is None:
            tickets = [s for s in sources if s.table == cell_cache.TABLE]
            dims = self._source_dims(tickets[0]) if tickets else ()
            built = cell_cache.cached_cells(self.ws, self.scope, self.catalog, plan,
                                            [s for s in tickets if self._source_dims(s) == dims], dims,
                                            self.start - MARGIN, self.end + MARGIN)
            self.cached.update(built)
            sources = [s for s in sources if s not in built]
        frames = self._read({s.table for s in sources}) if sources else {}
        for dims in dict.fromkeys(self._source_dims(s) for s in sources):  # sources sharing the dimensions together
            group = [s for s in sources if self._source_dims(s) == dims]
            sub = engine.Plan(requested=[], order=[], omitted={}, formulas={},
                              sources={s: plan.sources[s] for s in group},
                              quantiles={s: plan.quantiles[s] for s in group if s in plan.quantiles})
            built.update(engine.source_results(frames, sub, group, catalog=self.catalog, grain=DAY, by=dims,
                                               start=self.start - MARGIN, end=self.end + MARGIN,
                                               site_tiers=engine.site_tiers(self.ws), scope=self._viewer,
                                               calendars=self._cals, cells=True))
        for s, cells in built.items():
            self._cells[s] = cells if s not in self._cells else _merge_cells(self._cells[s], cells,
                                                                             self._source_dims(s))
            if s in self.cached:
                continue
            self.passes[s.table] += 1
            if reason:
                self.fallbacks.append(f"{s.table}.{s.time}: {reason}")

    def _rollup(self, source: engine.Source, plan: engine.Plan, grain: str, by: tuple[str, ...],
                start: date | None, end: date | None) -> pl.DataFrame:
        """The source's aggregate for the query, from the cells: the days in range, cut into the query's periods."""
        assert start is not None and end is not None
        cells = self._cells[source].lazy()
        local = key_to_date(pl.col(engine.PERIOD), DAY)  # the cell's local day in its client's calendar
        day = local
        if grain == "week" and self._cals is not None:  # a client's own week filed under the reference week
            day = by_client(self._cals, lambda zone, shift: local + pl.duration(days=shift) if shift else local,
                            weeks=True)
        # the range is the local days asked for; the period key is the day aligned to the reference week
        cells = cells.filter(local.is_between(start, end)).with_columns(day.alias("__day"))
        if grain == engine.WINDOW:
            key = pl.lit(date_key(start, DAY), pl.Int32)
        else:
            key = day_key(pl.col("__day"), grain, self._first)
        cells = cells.with_columns(key.cast(pl.Int32).alias(engine.PERIOD))
        keys = [engine.PERIOD, *by]
        aggs: list[pl.Expr] = []
        for m in plan.sources[source]:
            if m.agg == "count_distinct":
                aggs.append(pl.col(m.name).explode().drop_nulls().n_unique().cast(pl.Float64).alias(m.name))
            else:
                aggs.append(pl.col(m.name).sum().cast(pl.Float64).alias(m.name))
        for k in plan.quantiles.get(source, []):  # every quantile from the cells' raw values: exact
            values = pl.col(engine.values_column(k.measure or "")).explode()
            aggs.append(values.quantile(float(k.quantile or 0.5), "linear").alias(engine.quantile_column(k.name)))
        return cells.group_by(keys).agg(aggs).collect()

    def _fallback(self, plan: engine.Plan, sources: list[engine.Source], grain: str, by: tuple[str, ...],
                  start: date | None, end: date | None) -> dict[engine.Source, pl.DataFrame]:
        """An ordinary pass for the sources cells cannot answer (counted, with the reason)."""
        frames = self._read({s.table for s in sources})
        for s in sources:
            self.passes[s.table] += 1
            why = ("spread over days" if s.spread else "a level at period end" if s.until
                   else f"by {', '.join(by)} or {start}..{end} outside the cube")
            self.fallbacks.append(f"{s.table}.{s.time}: {why}")
        return engine.source_results(frames, plan, sources, catalog=self.catalog, grain=grain, by=by, start=start,
                                     end=end, site_tiers=engine.site_tiers(self.ws), scope=self._viewer,
                                     calendars=self._cals)


def _merge_cells(old: pl.DataFrame, new: pl.DataFrame, dims: tuple[str, ...]) -> pl.DataFrame:
    """Cells of one source read twice (a measure added later): the new columns joined on (day, *dims)."""
    keys = [engine.PERIOD, *dims]
    extra = [c for c in new.columns if c not in old.columns]
    return old.join(new.select(*keys, *extra), on=keys, how="full", coalesce=True, nulls_equal=True)
