"""The KPI catalog as data: measures, derived columns, KPIs and presets, validated at load time.

`load_catalog()` reads `insights/catalog/{measures,kpis,presets}.toml` and checks every object
against the canonical schema and against each other; all problems are listed in one
`CatalogError`, each naming the file, the object and the fix.

>>> catalog = load_catalog()
>>> catalog.kpis["csat"].numerator, catalog.kpis["csat"].denominator
('csat_positive', 'csat_responses')
>>> catalog.presets["weekly_review"][:2]
['tickets_created', 'sla_first_response']
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

import polars as pl

from connectors.schema import TABLES, TENANT
from connectors.solved import DEFINITIONS
from insights.errors import CatalogError, KpiError

CATALOG_DIR = Path(__file__).parent
MEASURES_FILE, KPIS_FILE, PRESETS_FILE = "measures.toml", "kpis.toml", "presets.toml"

AGGS = ("count", "sum", "count_distinct", "open_at_period_end")
KPI_TYPES = ("simple", "ratio", "quantile", "derived")
DIRECTIONS = ("higher_is_better", "lower_is_better", "neutral")
UNITS = ("percent", "seconds", "count", "currency", "ratio", "score")
# window name -> the parameters it needs, and which of them name columns
WINDOWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "next_within": (("partition_by", "order_by", "days"), ("partition_by", "order_by")),
    "days_between": (("start", "end"), ("start", "end")),
}

Agg = Literal["count", "sum", "count_distinct", "open_at_period_end"]
KpiType = Literal["simple", "ratio", "quantile", "derived"]
Direction = Literal["higher_is_better", "lower_is_better", "neutral"]
Unit = Literal["percent", "seconds", "count", "currency", "ratio", "score"]

_COLUMN_KEYS = {"name", "table", "expression", "definition", "window", "description", "partition_by", "order_by", "days", "start", "end"}
_MEASURE_KEYS = {"name", "table", "agg", "column", "expression", "filter", "time", "spread", "until", "description"}
_KPI_KEYS = {"name", "label", "type", "measure", "numerator", "denominator", "quantile", "expression", "n",
             "direction", "unit", "format", "materiality", "materiality_floor", "min_volume", "target", "description",
             "setting", "default_variant", "variants", "within"}
_VARIANT_KEYS = {"numerator", "denominator", "description"}


@dataclass(frozen=True)
class DerivedColumn:
    """A per-row column the engine adds to a table before filtering (an SQL expression or a named window)."""

    name: str
    table: str
    expression: str | None = None
    window: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        """Columns this one reads."""
        if self.expression is not None:
            return tuple(dict.fromkeys(sql_refs(self.expression)))
        return tuple(c for p in WINDOWS[self.window or ""][1] for c in columns_param(self.params[p]))


def columns_param(value: Any) -> tuple[str, ...]:
    """A window parameter naming columns: one name, or a list of names (`partition_by = ["client_id", "x"]`)."""
    return (value,) if isinstance(value, str) else tuple(value)


def window_gate(partition_by: Any) -> tuple[str, ...]:
    """The partition columns a row needs a value in to be matched with another (`next_within`): every one but the
    tenant keys, which only keep brands apart (a frame without client_id is one brand's). An outbound ticket has no
    inbound_requester, so it repeats nothing.

    >>> window_gate(["client_id", "inbound_requester"])
    ('inbound_requester',)
    """
    parts = columns_param(partition_by)
    return tuple(c for c in parts if c not in TENANT) or parts


@dataclass(frozen=True)
class Measure:
    """One aggregation (count, sum, distinct count, open-at-period-end) over one canonical table."""

    name: str
    table: str
    agg: Agg
    time: str
    column: str | None = None
    expression: str | None = None
    filter: str | None = None
    spread: str | None = None
    until: str | None = None
    description: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        """Columns (canonical or derived) this measure reads, the time column included."""
        cols: list[str] = [self.time]
        for c in (self.column, self.spread, self.until):
            if c:
                cols.append(c)
        for text in (self.expression, self.filter):
            if text:
                cols.extend(sql_refs(text))
        return tuple(dict.fromkeys(cols))


@dataclass(frozen=True)
class Variant:
    """An alternative numerator/denominator pair of a ratio KPI, chosen by a workspace setting."""

    name: str
    numerator: str
    denominator: str
    description: str = ""


@dataclass(frozen=True)
class Kpi:
    """One KPI: how it is computed (type, numerator, denominator ...) and how it is judged and shown."""

    name: str
    label: str
    type: KpiType
    numerator: str | None
    denominator: str | None
    direction: Direction
    unit: Unit
    format: str
    materiality: float
    min_volume: int
    target: float | None
    description: str
    measure: str | None = None
    quantile: float | None = None
    materiality_floor: float = 0.0  # with a relative materiality: the smallest absolute change worth a sentence
    expression: str | None = None
    n: str | None = None
    setting: str | None = None
    default_variant: str | None = None
    variants: tuple[Variant, ...] = ()
    within: str | None = None  # the dimension it is only comparable inside (a median across channels is mix)

    def formula(self, settings: Mapping[str, Any] | None = None) -> tuple[str | None, str | None]:
        """(numerator, denominator) under the workspace settings (the variant they choose, if any)."""
        if not self.variants:
            return self.numerator, self.denominator
        chosen = (settings or {}).get(self.setting or "", self.default_variant)
        for v in self.variants:
            if v.name == chosen:
                return v.numerator, v.denominator
        options = ", ".join(v.name for v in self.variants)
        raise KpiError(f"bpo.toml [settings] {self.setting} = '{chosen}' is not a formula of KPI '{self.name}'; "
                       f"use one of: {options}")


@dataclass(frozen=True)
class Catalog:
    """The loaded, validated catalog."""

    measures: dict[str, Measure]
    columns: dict[str, dict[str, DerivedColumn]]  # table -> derived column name -> column
    kpis: dict[str, Kpi]
    presets: dict[str, list[str]]
    aliases: dict[str, dict[str, str]]  # table -> dimension -> the table's column holding it
    path: Path

    def kpi(self, name: str) -> Kpi:
        """The KPI called `name`, or a KpiError listing the known names."""
        try:
            return self.kpis[name]
        except KeyError:
            raise KpiError(f"unknown KPI '{name}'; known KPIs: {', '.join(self.kpis)}") from None

    def preset(self, name: str) -> list[str]:
        """The KPI names of preset `name`, or a KpiError listing the presets."""
        try:
            return list(self.presets[name])
        except KeyError:
            raise KpiError(f"unknown preset '{name}'; presets in {PRESETS_FILE}: {', '.join(self.presets)}") from None

    def tables(self, name: str) -> tuple[str, ...]:
        """The canonical tables KPI `name` reads (a derived KPI: its parts'; every formula variant's), in order."""
        kpi = self.kpi(name)
        if kpi.type == "derived":
            parts = derived_refs(kpi) + ([kpi.n] if kpi.n else [])
            return tuple(dict.fromkeys(t for p in parts if p in self.kpis for t in self.tables(p)))
        texts = [kpi.numerator, kpi.denominator, kpi.n, kpi.measure,
                 *(t for v in kpi.variants for t in (v.numerator, v.denominator))]
        return tuple(dict.fromkeys(self.measures[m].table for t in texts if t for m in _safe_refs(t) if m in self.measures))

    def dimension_column(self, table: str, dimension: str) -> str | None:
        """The column of `table` holding `dimension` (None: the table cannot be split by it)."""
        if dimension == "site_tier":
            return "site_id" if "site_id" in TABLES[table].columns else None
        alias = self.aliases.get(table, {}).get(dimension)
        if alias:
            return alias
        return dimension if dimension in TABLES[table].columns else None


def sql_refs(text: str) -> list[str]:
    """The column names an SQL expression reads (raises ValueError when it does not parse)."""
    try:
        return pl.sql_expr(text).meta.root_names()
    except Exception as e:  # noqa: BLE001 - polars raises several error types for bad SQL
        raise ValueError(f"'{text}' is not a valid SQL expression ({str(e).splitlines()[0]})") from None


@lru_cache(maxsize=8)
def _load_cached(path: Path, stamp: tuple[float, ...]) -> Catalog:
    return _load(path)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate the catalog in folder `path` (default: insights/catalog); every problem at once."""
    folder = Path(path) if path is not None else CATALOG_DIR
    stamp = tuple((folder / f).stat().st_mtime if (folder / f).exists() else 0.0
                  for f in (MEASURES_FILE, KPIS_FILE, PRESETS_FILE))
    return _load_cached(folder.resolve(), stamp)


# --------------------------------------------------------------------------- loading + validation


class _Problems(list):
    def add(self, file: str, obj: str, message: str) -> None:
        self.append(f"{file} {obj}: {message}")


def _read(folder: Path, name: str, problems: _Problems) -> dict:
    p = folder / name
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add(name, "(file)", f"not found in {folder}; restore it from the repository")
    except tomllib.TOMLDecodeError as e:
        problems.add(name, "(file)", f"is not valid TOML ({e}); fix the syntax")
    return {}


def _load(folder: Path) -> Catalog:
    problems = _Problems()
    mdoc = _read(folder, MEASURES_FILE, problems)
    kdoc = _read(folder, KPIS_FILE, problems)
    pdoc = _read(folder, PRESETS_FILE, problems)
    aliases = _aliases(mdoc, problems)
    columns = _columns(mdoc.get("column", []), problems)
    measures = _measures(mdoc.get("measure", []), columns, problems)
    kpis = _kpis(kdoc.get("kpi", []), measures, problems)
    presets = _presets(pdoc.get("presets", {}), kpis, problems)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise CatalogError(f"{len(problems)} problem(s) in the KPI catalog ({folder}):\n{listing}", list(problems))
    return Catalog(measures, columns, kpis, presets, aliases, folder)


def _unknown_keys(item: dict, known: set[str], file: str, obj: str, problems: _Problems) -> None:
    for k in item:
        if k not in known:
            close = difflib.get_close_matches(k, sorted(known), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys are: {', '.join(sorted(known))}"
            problems.add(file, obj, f"unknown key '{k}'; {hint}")


def _aliases(doc: dict, problems: _Problems) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table, spec in doc.get("tables", {}).items():
        obj = f"[tables.{table}]"
        if table not in TABLES:
            problems.add(MEASURES_FILE, obj, f"unknown table '{table}'; canonical tables are: {', '.join(TABLES)}")
            continue
        for dim, col in (spec.get("aliases") or {}).items():
            if col not in TABLES[table].columns:
                problems.add(MEASURES_FILE, obj, f"alias {dim} = '{col}': {table} has no column '{col}'")
        out[table] = dict(spec.get("aliases") or {})
    return out


def _check_table(table: Any, file: str, obj: str, problems: _Problems) -> bool:
    if table not in TABLES:
        problems.add(file, obj, f"unknown table '{table}'; use one of: {', '.join(TABLES)}")
        return False
    return True


def _check_refs(text: str, what: str, known: set[str], table: str, file: str, obj: str, problems: _Problems) -> None:
    try:
        refs = sql_refs(text)
    except ValueError as e:
        problems.add(file, obj, f"{what} {e}; write an SQL expression such as \"status = 'solved'\"")
        return
    for r in refs:
        if r not in known:
            problems.add(file, obj, f"{what} '{text}' uses unknown column '{r}'; {table} has no such canonical or derived column")


def _columns(items: list[dict], problems: _Problems) -> dict[str, dict[str, DerivedColumn]]:
    out: dict[str, dict[str, DerivedColumn]] = {}
    for i, c in enumerate(items):
        name = c.get("name")
        obj = f"[[column]] '{name}'" if name else f"[[column]] #{i + 1}"
        _unknown_keys(c, _COLUMN_KEYS, MEASURES_FILE, obj, problems)
        if not name:
            problems.add(MEASURES_FILE, obj, "'name' is missing")
            continue
        table = c.get("table")
        if not _check_table(table, MEASURES_FILE, obj, problems):
            continue
        if name in TABLES[table].columns:
            problems.add(MEASURES_FILE, obj, f"'{name}' is already a canonical column of {table}; choose another name")
        if name in out.get(table, {}):
            problems.add(MEASURES_FILE, obj, f"duplicate derived column '{name}' on {table}; remove one")
        if "definition" in c:  # a definition shared with the importer and the sanity report (connectors.solved)
            if c["definition"] not in DEFINITIONS or "expression" in c or c.get("window"):
                problems.add(MEASURES_FILE, obj, f"definition = {c['definition']!r}: give one of "
                                                 f"{', '.join(DEFINITIONS)} and no 'expression' or 'window'")
                continue
            c = {**c, "expression": DEFINITIONS[c["definition"]]}
        has_expr, window = "expression" in c, c.get("window")
        if has_expr == bool(window):
            problems.add(MEASURES_FILE, obj, "give exactly one of 'expression', 'definition' or 'window'")
            continue
        params = {k: c[k] for k in ("partition_by", "order_by", "days", "start", "end") if k in c}
        if window and window not in WINDOWS:
            problems.add(MEASURES_FILE, obj, f"unknown window '{window}'; use one of: {', '.join(WINDOWS)}")
            continue
        if window:
            missing = [p for p in WINDOWS[window][0] if p not in params]
            if missing:
                problems.add(MEASURES_FILE, obj, f"window '{window}' needs {', '.join(missing)}")
                continue
            if "days" in params and not (isinstance(params["days"], (int, float)) and params["days"] > 0):
                problems.add(MEASURES_FILE, obj, f"days = {params['days']!r} must be a positive number")
        out.setdefault(table, {})[name] = DerivedColumn(name, table, c.get("expression"), window, params,
                                                        c.get("description", ""))
    # references and cycles, once every derived column is known
    for table, cols in out.items():
        known = set(TABLES[table].columns) | set(cols)
        for col in cols.values():
            obj = f"[[column]] '{col.name}'"
            if col.expression is not None:
                _check_refs(col.expression, "expression", known, table, MEASURES_FILE, obj, problems)
            else:
                for p in WINDOWS[col.window or ""][1]:
                    value = col.params[p]
                    names = [value] if isinstance(value, str) else value if isinstance(value, list) else None
                    if not names or not all(isinstance(n, str) for n in names):
                        problems.add(MEASURES_FILE, obj, f"{p} = {value!r}: give a column name or a list of them")
                        continue
                    for n in names:
                        if n not in known:
                            problems.add(MEASURES_FILE, obj, f"{p} = '{n}' is not a column of {table}")
        for cycle in _cycles({n: [r for r in _safe_inputs(c) if r in cols] for n, c in cols.items()}):
            problems.add(MEASURES_FILE, f"[[column]] '{cycle[0]}'", f"derived columns refer to each other in a cycle ({' -> '.join(cycle)}); break it")
    return out


def _safe_inputs(col: DerivedColumn) -> tuple[str, ...]:
    try:
        return col.inputs
    except (ValueError, KeyError):
        return ()


def _measures(items: list[dict], columns: dict[str, dict[str, DerivedColumn]], problems: _Problems) -> dict[str, Measure]:
    out: dict[str, Measure] = {}
    for i, m in enumerate(items):
        name = m.get("name")
        obj = f"[[measure]] '{name}'" if name else f"[[measure]] #{i + 1}"
        _unknown_keys(m, _MEASURE_KEYS, MEASURES_FILE, obj, problems)
        if not name:
            problems.add(MEASURES_FILE, obj, "'name' is missing")
            continue
        if name in out:
            problems.add(MEASURES_FILE, obj, f"duplicate measure name '{name}'; rename or remove one")
        table = m.get("table")
        if not _check_table(table, MEASURES_FILE, obj, problems):
            continue
        spec = TABLES[table]
        derived = columns.get(table, {})
        known = set(spec.columns) | set(derived)
        ok = True
        agg = m.get("agg")
        if agg not in AGGS:
            problems.add(MEASURES_FILE, obj, f"agg '{agg}' is not one of: {', '.join(AGGS)} (averages are never stored: sum a numerator and a denominator)")
            ok = False
        time = m.get("time", spec.time_column)
        if time is None:
            problems.add(MEASURES_FILE, obj, f"{table} has no time column; set 'time' to a date or timestamp column")
            ok = False
        elif time in derived:
            pass  # a derived timestamp (e.g. when a ticket was solved); its type shows when it is computed
        elif time not in spec.columns or not (spec.columns[time].dtype == pl.Date or isinstance(spec.columns[time].dtype, pl.Datetime)):
            problems.add(MEASURES_FILE, obj, f"time = '{time}' is not a date or timestamp column of {table}")
            ok = False
        for key in ("column", "spread", "until"):
            col = m.get(key)
            if col is not None and col not in known:
                problems.add(MEASURES_FILE, obj, f"{key} = '{col}': {table} has no canonical or derived column '{col}'")
                ok = False
        if m.get("column") and m.get("expression"):
            problems.add(MEASURES_FILE, obj, "give 'column' or 'expression', not both")
        if agg in ("sum", "count_distinct") and not (m.get("column") or m.get("expression")):
            problems.add(MEASURES_FILE, obj, f"agg '{agg}' needs a 'column' or an 'expression'")
            ok = False
        if agg == "open_at_period_end" and not m.get("until"):
            problems.add(MEASURES_FILE, obj, "agg 'open_at_period_end' needs 'until' (the column at which a row stops being open)")
            ok = False
        if m.get("spread") and agg not in ("sum", "count"):
            problems.add(MEASURES_FILE, obj, "'spread' works with agg 'sum' or 'count' only")
        for key in ("expression", "filter"):
            if m.get(key):
                _check_refs(m[key], key, known, table, MEASURES_FILE, obj, problems)
        if ok:
            out[name] = Measure(name, table, agg, time, m.get("column"), m.get("expression"), m.get("filter"),
                                m.get("spread"), m.get("until"), m.get("description", ""))
    return out


def _kpis(items: list[dict], measures: dict[str, Measure], problems: _Problems) -> dict[str, Kpi]:
    out: dict[str, Kpi] = {}
    raw_names = [k.get("name") for k in items]
    for i, k in enumerate(items):
        name = k.get("name")
        obj = f"[[kpi]] '{name}'" if name else f"[[kpi]] #{i + 1}"
        _unknown_keys(k, _KPI_KEYS, KPIS_FILE, obj, problems)
        if not name:
            problems.add(KPIS_FILE, obj, "'name' is missing")
            continue
        if name in out:
            problems.add(KPIS_FILE, obj, f"duplicate KPI name '{name}'; rename or remove one")
            continue
        kind = k.get("type")
        if kind not in KPI_TYPES:
            problems.add(KPIS_FILE, obj, f"type '{kind}' is not one of: {', '.join(KPI_TYPES)}")
            continue
        for key in ("label", "description"):
            if not isinstance(k.get(key), str) or not k.get(key):
                problems.add(KPIS_FILE, obj, f"'{key}' is missing; write one short sentence")
        if k.get("direction") not in DIRECTIONS:
            problems.add(KPIS_FILE, obj, f"direction '{k.get('direction')}' is not one of: {', '.join(DIRECTIONS)}")
        if k.get("unit") not in UNITS:
            problems.add(KPIS_FILE, obj, f"unit '{k.get('unit')}' is not one of: {', '.join(UNITS)}")
        fmt = k.get("format")
        try:
            format(0.5, fmt)
        except (TypeError, ValueError):
            problems.add(KPIS_FILE, obj, f"format {fmt!r} is not a Python format spec; use e.g. '.1%' or ',.0f'")
        mat = k.get("materiality")
        if not isinstance(mat, (int, float)) or isinstance(mat, bool) or mat < 0:
            problems.add(KPIS_FILE, obj, f"materiality {mat!r} must be a number >= 0 (the smallest change worth reporting)")
        floor = k.get("materiality_floor", 0.0)
        if not isinstance(floor, (int, float)) or isinstance(floor, bool) or floor < 0:
            problems.add(KPIS_FILE, obj, f"materiality_floor {floor!r} must be a number >= 0 in the KPI's unit")
        vol = k.get("min_volume")
        if not isinstance(vol, int) or isinstance(vol, bool) or vol < 0:
            problems.add(KPIS_FILE, obj, f"min_volume {vol!r} must be a whole number >= 0")
        target = k.get("target")
        if target is not None and (not isinstance(target, (int, float)) or isinstance(target, bool)):
            problems.add(KPIS_FILE, obj, f"target {target!r} must be a number (or left out)")

        def measure_expr(text: Any, what: str) -> None:
            if not isinstance(text, str) or not text:
                problems.add(KPIS_FILE, obj, f"'{what}' is missing; name a measure or write an expression over measures")
                return
            try:
                refs = sql_refs(text)
            except ValueError as e:
                problems.add(KPIS_FILE, obj, f"{what} {e}")
                return
            for r in refs:
                if r not in measures:
                    problems.add(KPIS_FILE, obj, f"{what} '{text}' uses unknown measure '{r}'; declare it in {MEASURES_FILE} or fix the name")

        numerator, denominator, measure = k.get("numerator"), k.get("denominator"), k.get("measure")
        variants: list[Variant] = []
        if kind == "simple":
            measure_expr(measure, "measure")
            numerator = measure
        elif kind == "quantile":
            measure_expr(measure, "measure")
            q = k.get("quantile")
            if not isinstance(q, (int, float)) or not 0 < q < 1:
                problems.add(KPIS_FILE, obj, f"quantile {q!r} must be a number between 0 and 1 (0.9 for p90)")
            m = measures.get(measure or "")
            if m is not None and not (m.column or m.expression):
                problems.add(KPIS_FILE, obj, f"measure '{measure}' has no column to take a quantile of; give it a 'column'")
        elif kind == "ratio":
            for vname, v in (k.get("variants") or {}).items():
                _unknown_keys(v, _VARIANT_KEYS, KPIS_FILE, f"{obj} variant '{vname}'", problems)
                measure_expr(v.get("numerator"), f"variant '{vname}' numerator")
                measure_expr(v.get("denominator"), f"variant '{vname}' denominator")
                variants.append(Variant(vname, v.get("numerator", ""), v.get("denominator", ""), v.get("description", "")))
            if variants:
                default = k.get("default_variant")
                chosen = next((v for v in variants if v.name == default), None)
                if chosen is None:
                    problems.add(KPIS_FILE, obj, f"default_variant '{default}' is not one of its variants: {', '.join(v.name for v in variants)}")
                else:
                    numerator, denominator = chosen.numerator, chosen.denominator
                if not k.get("setting"):
                    problems.add(KPIS_FILE, obj, "variants need 'setting' (the bpo.toml [settings] key that chooses one)")
            else:
                measure_expr(numerator, "numerator")
                measure_expr(denominator, "denominator")
        else:  # derived
            texts = [t for t in (k.get("expression"), numerator, denominator) if t]
            if not k.get("expression") and not (numerator and denominator):
                problems.add(KPIS_FILE, obj, "a derived KPI needs 'expression', or 'numerator' and 'denominator', over other KPIs")
            for t in texts:
                try:
                    refs = sql_refs(t)
                except ValueError as e:
                    problems.add(KPIS_FILE, obj, str(e))
                    continue
                for r in refs:
                    if r not in raw_names:
                        problems.add(KPIS_FILE, obj, f"expression '{t}' uses unknown KPI '{r}'; derived KPIs are built from other KPIs")
        within = k.get("within")
        if within is not None:
            read = [m for t in (measure, numerator, denominator) if isinstance(t, str) for m in _safe_refs(t)]
            tables = sorted({measures[m].table for m in read if m in measures})
            lacking = [t for t in tables if within not in TABLES[t].columns]
            if not isinstance(within, str) or not tables or lacking:
                problems.add(KPIS_FILE, obj, f"within {within!r} must name a column of the tables its measures read "
                                             f"({', '.join(tables) or 'none'}), e.g. 'channel'")
        if kind in ("simple", "ratio", "quantile") and k.get("n"):
            measure_expr(k.get("n"), "n")
        if kind == "derived" and k.get("n") and k.get("n") not in raw_names:
            problems.add(KPIS_FILE, obj, f"n = '{k.get('n')}' is not a KPI")
        out[name] = Kpi(
            name=name, label=k.get("label", ""), type=kind, numerator=numerator, denominator=denominator,
            direction=k.get("direction"), unit=k.get("unit"), format=fmt if isinstance(fmt, str) else "",
            materiality=float(mat) if isinstance(mat, (int, float)) else 0.0,
            materiality_floor=float(floor) if isinstance(floor, (int, float)) and not isinstance(floor, bool) else 0.0,
            min_volume=vol if isinstance(vol, int) else 0,
            target=float(target) if isinstance(target, (int, float)) and not isinstance(target, bool) else None,
            description=k.get("description", ""), measure=measure if kind in ("simple", "quantile") else None,
            quantile=k.get("quantile"), expression=k.get("expression"), n=k.get("n"),
            setting=k.get("setting"), default_variant=k.get("default_variant"), variants=tuple(variants),
            within=within if isinstance(within, str) else None,
        )
    graph = {n: [r for r in derived_refs(kpi) if r in out] for n, kpi in out.items() if kpi.type == "derived"}
    for cycle in _cycles(graph):
        problems.add(KPIS_FILE, f"[[kpi]] '{cycle[0]}'", f"derived KPIs refer to each other in a cycle ({' -> '.join(cycle)}); break it")
    return out


def _safe_refs(text: str) -> list[str]:
    """The names an expression reads ([] when it does not parse: that is reported where it is declared)."""
    try:
        return sql_refs(text)
    except ValueError:
        return []


def derived_refs(kpi: Kpi) -> list[str]:
    """The KPIs a derived KPI is built from, in order of first use."""
    refs: list[str] = []
    for t in (kpi.expression, kpi.numerator, kpi.denominator):
        if t:
            try:
                refs.extend(sql_refs(t))
            except ValueError:
                pass
    return list(dict.fromkeys(refs))


def _presets(doc: dict, kpis: dict[str, Kpi], problems: _Problems) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, items in doc.items():
        obj = f"[presets] {name}"
        if not isinstance(items, list) or not items:
            problems.add(PRESETS_FILE, obj, "must be a non-empty list of KPI names")
            continue
        for kpi in items:
            if kpi not in kpis:
                problems.add(PRESETS_FILE, obj, f"names unknown KPI '{kpi}'; add it to {KPIS_FILE} or fix the name")
        dups = sorted({k for k in items if items.count(k) > 1})
        if dups:
            problems.add(PRESETS_FILE, obj, f"lists {', '.join(dups)} more than once")
        out[name] = list(items)
    return out


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle of a dependency graph once, as a path that returns to its start."""
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(cycle)
            elif state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[node] = 2

    for n in graph:
        if state.get(n) is None:
            visit(n, [n])
    return found
