"""`bpo-insights import`: files -> canonical tables, lossless, idempotent, with clear errors.

Each file goes read -> map -> derive -> validate -> `ws.upsert` -> `ws.log_import`.

Policy for bad rows
-------------------
By default a file with ANY bad row is rejected whole and nothing is written to the tables: the
error lists every problem (file, spreadsheet row, column, value and the fix; capped at 20 lines
plus "and N more") and the failed attempt is logged with its rejected rows.  With
`quarantine=True` (CLI `--quarantine`) the good rows are imported and every bad row is recorded
through `ws.log_import(..., rejected=[...], status="partial")`, so the Data health page lists it.
A row is never dropped silently: the only rows merged without a word are exact duplicates
(identical in every column), which carry no information.

Values no report can use are bad rows too: a date before `schema.EARLIEST` (2000-01-01), a timestamp
more than a day after the import (`schema.FUTURE_SLACK`), a day more than `schema.PLANNED_YEARS` ahead,
and NaN or an infinity in a number column.

Problems with the file as a whole (not tabular, undecodable, wrong delimiter, no rows, missing
required columns, an ambiguous date column) always reject the file, quarantine or not.

Idempotence: `updated_at` and every derived value come from the data, never from the clock, so
importing the same file twice leaves the store byte-for-byte unchanged; a newer export of the
same tickets (a later `updated_at`) replaces them, keyed by (source_system, source_instance,
ticket_id), never duplicating them.  `source_instance` defaults to the row's client so two
brands' helpdesks with overlapping ticket numbers stay apart.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from connectors import derive, sanity
from connectors.errors import BpoError, ConfigError, ImportFileError, SchemaError
from connectors.files import ROW, RawFile, read_file
from connectors.hashing import hash_series, hashed_columns, workspace_key
from connectors.mapping import (
    LINEAGE, TENANT, TENANT_FLAGS, Mapping, RowProblem, check_columns, clean_nulls, convert, load_mapping, load_preset,
    event_log_hint, looks_like_placeholder, map_values, placeholder_fix, prepare_source, preset_names, vocabulary_problems,
)
from connectors.bounds import out_of_range
from connectors.contacts import derive_contacts
from connectors.schema import TABLES
from connectors.store import Config, Scope, Workspace, utcnow

MAX_LISTED = 20


@dataclass(frozen=True)
class ImportReport:
    """What one file's import did."""

    path: Path
    table: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: list[dict] = field(default_factory=list)
    content_hash: str = ""
    status: str = "ok"  # ok | partial
    format: str = ""
    encoding: str | None = None
    warnings: tuple[sanity.Finding, ...] = ()  # the sanity report of the table as stored (connectors/sanity.py)

    @property
    def rejected_rows(self) -> int:
        """Rows rejected (`rejected` lists every problem; a row with two bad cells is one row)."""
        from connectors.store.workspace import rejected_row_count

        return rejected_row_count(self.rejected)

    def __str__(self) -> str:
        how = self.format + (f", {self.encoding}" if self.encoding else "")
        problems = f" ({len(self.rejected)} problems)" if len(self.rejected) != self.rejected_rows else ""
        return (f"{self.path.name} -> {self.table}: {self.rows_read} rows read, {self.inserted} inserted, "
                f"{self.updated} updated, {self.unchanged} unchanged, {self.rejected_rows} row{'' if self.rejected_rows == 1 else 's'} rejected{problems} "
                f"({how}) [{self.status}]")


def import_paths(ws: Workspace, paths: list[Path], *, preset: str | None = None, mapping: Path | None = None,
                 client: str | None = None, vendor: str | None = None, site: str | None = None,
                 quarantine: bool = False, progress: bool = False) -> list[ImportReport]:
    """Import files into the workspace with a preset or a mapping file; one report per file.

    `client`/`vendor`/`site` name the tenant the file belongs to: they fill the tenant keys where the file
    has no value, and a row whose own value disagrees is a problem naming its row and column. Every tenant id
    (flag, file or mapping constant) must be declared in bpo.toml; a site declared with a vendor must be
    that vendor's.

    >>> import_paths(ws, [Path("export.csv")], preset="zendesk", client="acme",
    ...              vendor="northwind", site="nw-manila")  # doctest: +SKIP
    [ImportReport(path=..., table='tickets', rows_read=12, inserted=12, ...)]
    """
    if (preset is None) == (mapping is None):
        raise ConfigError("give exactly one of --preset NAME or --mapping FILE "
                          f"(presets: {', '.join(['canonical', 'zendesk', 'freshdesk', *preset_names()])})")
    tenant = {"client_id": client, "vendor_id": vendor, "site_id": site}
    check_flags(ws, tenant)
    reports = []
    for path in paths:
        reports.append(import_file(ws, Path(path), preset=preset, mapping=mapping, tenant=tenant,
                                   quarantine=quarantine, progress=progress))
    return reports


def import_file(ws: Workspace, path: Path, *, preset: str | None, mapping: Path | None,
                tenant: dict[str, str | None], quarantine: bool, progress: bool) -> ImportReport:
    """Import one file (see the module docstring for the policy)."""
    started = utcnow()
    bar = Progress(path.name, enabled=progress)
    raw: RawFile | None = None
    table: str | None = None
    try:
        bar.step("reading", 0.05)
        raw = read_file(path, delimiter=_delimiter(preset, mapping))
        m = _resolve(raw, preset, mapping)
        table = m.table
        if raw.frame.height == 0:
            raise ImportFileError(f"{path.name}: has a header but no data rows; export it again with its rows")
        frame, problems = to_canonical(ws, raw, m, tenant, bar)
        bad = {p.row for p in problems}
        if problems and not quarantine:
            raise ImportFileError(_summary(path.name, raw.row_word, problems))
        good = frame.filter(~pl.col(ROW).is_in(list(bad))).drop(ROW)
        bar.step("storing", 0.9)
        result = ws.upsert(m.table, good) if good.height else None
        rejected = [p.as_dict() for p in problems]
        status = "partial" if rejected else "ok"
        log_id = ws.log_import(source=str(path), kind="file", table=m.table, status=status, started_at=started,
                               content_hash=raw.content_hash, rows_read=raw.frame.height, result=result,
                               rejected=rejected, message=_summary(path.name, raw.row_word, problems) if problems else None)
        warnings = sanity.check(ws, m.table, good, import_id=log_id)
        bar.done()
        return ImportReport(
            path=path, table=m.table, rows_read=raw.frame.height,
            inserted=result.inserted if result else 0, updated=result.updated if result else 0,
            unchanged=result.unchanged if result else 0, rejected=rejected, content_hash=raw.content_hash,
            status=status, format=raw.format, encoding=raw.encoding, warnings=warnings,
        )
    except BpoError as e:
        bar.done()
        ws.log_import(source=str(path), kind="file", table=table, status="failed", started_at=started,
                      content_hash=raw.content_hash if raw else None, rows_read=raw.frame.height if raw else 0,
                      message=str(e))
        raise


def to_canonical(ws: Workspace, raw: RawFile, m: Mapping, tenant: dict[str, str | None],
                 bar: "Progress | None" = None) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Map, convert, derive and check one file: the canonical frame (with `__row`) and every row problem."""
    bar = bar or Progress("", enabled=False)
    file = raw.path.name
    src = prepare_source(raw.frame, m)
    used = check_columns(raw, m, tenant=tenant, frame=src)
    src = src.unique([c for c in src.columns if c != ROW], keep="first", maintain_order=True)
    src = clean_nulls(src, m.null_values)
    rows = src.get_column(ROW)
    ev = m.event_log
    targets: dict[str, tuple[str, pl.DataType, str | None]] = {
        canon: (source, m.spec.columns[canon].dtype, m.units.get(canon)) for canon, source in used.items()}
    if ev:
        targets["ticket_id"] = (ev.id, pl.String, None)
        targets[derive.EVENT_STATUS] = (ev.status, pl.String, None)
        targets[derive.EVENT_AT] = (ev.at, m.spec.columns["created_at"].dtype, None)
    columns: list[pl.Series] = [rows]
    problems: list[RowProblem] = []
    hashed = hashed_columns(ws.config.settings)
    for i, (canon, (source, dtype, unit)) in enumerate(targets.items()):
        bar.step(f"converting {source}", 0.1 + 0.6 * i / max(len(targets), 1))
        s = src.get_column(source)
        key = "status" if canon == derive.EVENT_STATUS else canon  # an event log's statuses are statuses
        vmap = m.values.get(key)
        if vmap is not None or key in ("channel", "status", "priority", "handled_by", "survey_type"):
            s = map_values(s, vmap or {}, key)
        out, bad = convert(s, dtype, rows=rows, column=source, unit=unit, datetime_format=m.datetime_format,
                           timezone=m.timezone, file=file,
                           non_negative=canon in m.spec.columns and m.spec.columns[canon].non_negative,
                           ambiguous=m.ambiguous, nonexistent=m.nonexistent)
        if canon in hashed:  # never keep the raw id/email (or agent id, if pseudonymised), not even in memory
            out = hash_series(out, workspace_key(ws.path))
        columns.append(out.alias(canon))
        problems += bad
    frame = pl.DataFrame(columns)
    if ev:
        frame = derive.collapse_event_log(frame.filter(pl.col(derive.EVENT_AT).is_not_null()
                                                       & pl.col("ticket_id").is_not_null()), ev)
    problems += _flag_conflicts(frame, tenant, used)
    frame = _fill_constants(frame, m, tenant)
    frame = frame.unique([c for c in frame.columns if c != ROW], keep="first", maintain_order=True)
    problems += _duplicate_keys(frame, m, used)
    bar.step("deriving", 0.75)
    if m.table == "tickets":
        frame = derive.derive_durations(frame)
        frame = derive.derive_csat(frame)
        frame = derive.derive_direction(frame)
        frame = derive.derive_breaches(frame, _targets(ws))
    if m.table == "contacts":
        frame = derive_contacts(frame)
    frame = derive.derive_updated_at(frame, m.table)
    flagged = {p.row for p in problems}  # later checks on a flagged row would only repeat its first problem
    later = row_problems(frame, m, used) + tenant_problems(frame, ws.config, used) + range_problems(frame, m, used, utcnow())
    problems += [p for p in later if p.row not in flagged]
    problems.sort(key=lambda p: (p.row or 0, p.column or ""))
    return frame, problems


def row_problems(frame: pl.DataFrame, m: Mapping, used: dict[str, str]) -> list[RowProblem]:
    """Required values, codes outside the vocabulary, timestamps out of order (negatives are caught while converting)."""
    spec = m.spec
    name = lambda c: used.get(c, c)  # noqa: E731 - report the column as the user's file names it
    out: list[RowProblem] = vocabulary_problems(frame, m, used)
    rows = frame.get_column(ROW)
    for c in spec.required:
        if c in frame.columns and c not in ("ingested_at",):
            for i in frame.get_column(c).is_null().arg_true().to_list():
                out.append(RowProblem(int(rows[i]), name(c), None,
                                      f"is empty; {c} is required for every {m.table} row"))
    for start, end in spec.ordered:
        if start in frame.columns and end in frame.columns:
            a, b = frame.get_column(start), frame.get_column(end)
            placeholder = looks_like_placeholder(b, m.timezone)
            for i in (b < a).fill_null(False).arg_true().to_list():
                fix = (placeholder_fix(m, end) if placeholder[i] else
                       "fix the timestamps (check the time zone and the day/month order)")
                out.append(RowProblem(int(rows[i]), name(end), str(b[i]),
                                      f"ends before it starts: {end} is before {start} ({a[i]}); {fix}"))
    if m.table == "sla_targets" and "conditions" in frame.columns:
        from connectors import targets

        texts = frame.get_column("conditions")
        for i in texts.is_not_null().arg_true().to_list():
            try:
                targets.parse(texts[i])
            except targets.TargetError as e:
                out.append(RowProblem(int(rows[i]), name("conditions"), str(texts[i]), str(e)))
    return out


def check_flags(ws: Workspace, tenant: dict[str, str | None]) -> None:
    """--client/--vendor/--site must name tenants bpo.toml declares (all problems in one ConfigError, exit 2)."""
    problems = []
    for column, value in tenant.items():
        if value is not None:
            why = ws.config.unknown_id(column.removesuffix("_id"), value)
            if why:
                problems.append(f"{TENANT_FLAGS[column]} {why}")
    site, vendor = tenant.get("site_id"), tenant.get("vendor_id")
    owner = ws.config.site(site).get("vendor") if site else None
    if owner and vendor and owner != vendor:
        problems.append(f"--site {site} belongs to vendor '{owner}' in bpo.toml, not '{vendor}'; fix --vendor or --site")
    if problems:
        raise ConfigError(f"{ws.path / 'bpo.toml'}: " + "; ".join(problems))


def _flag_conflicts(frame: pl.DataFrame, tenant: dict[str, str | None], used: dict[str, str]) -> list[RowProblem]:
    """Rows whose own client/vendor/site value disagrees with the flag that names the file's tenant."""
    out = []
    rows = frame.get_column(ROW)
    for column, flag in tenant.items():
        if flag is None or column not in frame.columns:
            continue
        values = frame.get_column(column)
        for i in (values.is_not_null() & (values != flag)).fill_null(False).arg_true().to_list():
            out.append(RowProblem(int(rows[i]), used.get(column, column), str(values[i]),
                                  f"disagrees with {TENANT_FLAGS[column]} {flag}: the flag names whose file this is; "
                                  f"correct the row, or import this file with the right {TENANT_FLAGS[column]}"))
    return out


def tenant_problems(frame: pl.DataFrame, config: Config, used: dict[str, str]) -> list[RowProblem]:
    """Rows naming a client, vendor or site that bpo.toml does not declare, or a site of another vendor."""
    out = []
    rows = frame.get_column(ROW)
    for column in TENANT:
        if column not in frame.columns:
            continue
        kind = column.removesuffix("_id")
        values = frame.get_column(column)
        unknown = {v: why for v in values.drop_nulls().unique().to_list() if (why := config.unknown_id(kind, v))}
        if unknown:
            for i in values.is_in(list(unknown)).fill_null(False).arg_true().to_list():
                out.append(RowProblem(int(rows[i]), used.get(column, column), None, unknown[values[i]]))
    owners = {str(s["id"]): str(s["vendor"]) for s in config.sites if s.get("vendor")}
    if owners and "site_id" in frame.columns and "vendor_id" in frame.columns:
        site, vendor = frame.get_column("site_id"), frame.get_column("vendor_id")
        owner = site.replace_strict(owners, default=None, return_dtype=pl.String)
        for i in (owner.is_not_null() & vendor.is_not_null() & (owner != vendor)).fill_null(False).arg_true().to_list():
            out.append(RowProblem(int(rows[i]), used.get("site_id", "site_id"), site[i],
                                  f"belongs to vendor '{owner[i]}' in bpo.toml, but the row's vendor is '{vendor[i]}'; "
                                  "correct the row's vendor or site"))
    return out


def range_problems(frame: pl.DataFrame, m: Mapping, used: dict[str, str], now: datetime) -> list[RowProblem]:
    """Values from the file that no report can use (`connectors.bounds`), named by row and the file's column."""
    rows = frame.get_column(ROW)
    dtypes = {c: m.spec.columns[c].dtype for c in used if c in m.spec.columns}
    return [RowProblem(int(rows[b.index]), used[b.column], b.value, b.message) for b in out_of_range(frame, dtypes, now)]


def _duplicate_keys(frame: pl.DataFrame, m: Mapping, used: dict[str, str]) -> list[RowProblem]:
    key = [c for c in m.spec.primary_key if c in frame.columns]
    if len(key) < len(m.spec.primary_key) or frame.height == 0:
        return []
    dup = frame.filter(pl.struct(key).is_duplicated()).sort(ROW)
    out = []
    shown = [c for c in key if c not in LINEAGE and (c not in TENANT or c in used)] or key  # the file's own columns
    for group in dup.partition_by(key, maintain_order=True):
        rows = group.get_column(ROW).to_list()
        value = ", ".join(str(group.get_column(c)[0]) for c in shown)
        for r in rows:
            others = ", ".join(str(o) for o in rows if o != r)
            out.append(RowProblem(r, ", ".join(used.get(c, c) for c in shown), value,
                                  f"appears again on row(s) {others} with different content; keep one row per "
                                  f"{', '.join(shown)} (import older and newer exports as separate files, oldest first)"
                                  + event_log_hint(m, used)))
    return out


def _fill_constants(frame: pl.DataFrame, m: Mapping, tenant: dict[str, str | None]) -> pl.DataFrame:
    """Lineage and tenant keys: the file's own value, else the CLI flag, else the mapping's constant."""
    spec = m.spec
    fills: dict[str, object] = {}
    for c, v in m.constants.items():
        fills[c] = v
    for c, v in tenant.items():
        if v is not None and c in spec.columns:
            fills[c] = v
    fills.setdefault("source_system", m.source_system)
    exprs = []
    for c, v in fills.items():
        lit = pl.lit(v).cast(spec.columns[c].dtype) if c in spec.columns else None
        if lit is None:
            continue
        exprs.append((pl.col(c).fill_null(lit) if c in frame.columns else lit).alias(c))
    frame = frame.with_columns(exprs) if exprs else frame
    if "source_instance" in spec.columns:
        fallback = pl.col("client_id").fill_null("default") if "client_id" in frame.columns else pl.lit("default")
        e = pl.col("source_instance").fill_null(fallback) if "source_instance" in frame.columns else fallback
        frame = frame.with_columns(e.alias("source_instance"))
    return frame


def _targets(ws: Workspace) -> pl.DataFrame:
    return ws.read("sla_targets", Scope.everything())


def _resolve(raw: RawFile, preset: str | None, mapping: Path | None) -> Mapping:
    if mapping is not None:
        return load_mapping(mapping)
    if preset == "canonical":
        return load_preset(f"canonical_{detect_table(raw)}")
    return load_preset(preset)


def _delimiter(preset: str | None, mapping: Path | None) -> str | None:
    if mapping is not None:
        return load_mapping(mapping).delimiter
    return None


def detect_table(raw: RawFile) -> str:
    """The canonical table a file in canonical layout holds, from its primary-key columns."""
    cols = set(raw.frame.columns)
    fits = []
    for name, spec in TABLES.items():
        key = [c for c in spec.primary_key if c not in LINEAGE and c not in TENANT]
        if all(c in cols for c in key):
            fits.append((len(key), len(cols & set(spec.columns)), name))
    if not fits:
        need = "; ".join(f"{n}: {', '.join(c for c in s.primary_key if c not in LINEAGE)}" for n, s in TABLES.items())
        raise SchemaError(f"{raw.path.name}: no canonical table's key columns are in the header; a canonical file "
                          f"needs ({need}); or use --preset canonical_<table>")
    return max(fits)[2]


def _summary(file: str, row_word: str, problems: list[RowProblem]) -> str:
    lines = [p.describe(file, row_word) for p in problems[:MAX_LISTED]]
    more = len(problems) - MAX_LISTED
    if more > 0:
        lines.append(f"... and {more} more")
    head = (f"{file}: {len(problems)} problem(s) in {len({p.row for p in problems})} row(s); nothing was imported "
            f"(fix them, or pass --quarantine to import the good rows and record the bad ones):")
    return head + "\n  " + "\n  ".join(lines)


class Progress:
    """A one-line `\\r` progress bar on stderr, only when asked for and stderr is a terminal."""

    def __init__(self, label: str, *, enabled: bool, width: int = 30):
        self.label, self.width = label, width
        self.enabled = enabled and sys.stderr.isatty()

    def step(self, what: str, fraction: float) -> None:
        if self.enabled:
            n = int(self.width * min(max(fraction, 0.0), 1.0))
            sys.stderr.write(f"\r{self.label} [{'#' * n}{'.' * (self.width - n)}] {fraction:4.0%} {what[:40]:<40}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * (len(self.label) + self.width + 50) + "\r")
            sys.stderr.flush()

