"""`bpo-insights import`: files -> canonical tables, lossless, idempotent, with clear errors.

Each file goes read -> map -> derive -> validate -> `ws.upsert` -> `ws.log_import`, a batch of rows at a
time (`$BPO_IMPORT_BATCH_ROWS`, default 100,000; see `FileRun`), so a 300 MB export needs well under 1 GiB;
nothing is written to the tables until every batch has been checked.

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

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from connectors import derive, sanity
from connectors.errors import BpoError, ConfigError, ImportFileError, SchemaError
from connectors.files import ROW, BatchedFile, RawFile, batch_rows, open_batched
from connectors.hashing import hash_series, hashed_columns, workspace_key
from connectors.mapping import (
    LINEAGE, TENANT, TENANT_FLAGS, DateChoice, DateStats, Mapping, RowProblem, check_columns, clean_nulls, convert,
    load_mapping, load_preset,
    event_log_hint, looks_like_placeholder, map_values, placeholder_fix, prepare_source, preset_names,
    vocabulary_problems,
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
    problem_count: int | None = None  # every problem found (`rejected` keeps the first MAX_KEPT); None: len(rejected)
    rejected_count: int | None = None  # rows rejected; None: counted from `rejected`

    @property
    def problems(self) -> int:
        """Problems found (a row with two bad cells has two); `rejected` lists the first MAX_KEPT of them."""
        return len(self.rejected) if self.problem_count is None else self.problem_count

    @property
    def rejected_rows(self) -> int:
        """Rows rejected (a row with two bad cells is one row)."""
        from connectors.store.workspace import rejected_row_count

        return rejected_row_count(self.rejected) if self.rejected_count is None else self.rejected_count

    def __str__(self) -> str:
        how = self.format + (f", {self.encoding}" if self.encoding else "")
        problems = f" ({self.problems} problems)" if self.problems != self.rejected_rows else ""
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
    """Import one file (see the module docstring for the policy), a batch of rows at a time (`FileRun`)."""
    started = utcnow()
    bar = Progress(path.name, enabled=progress)
    head: RawFile | None = None
    table: str | None = None
    rows_read = 0
    work = _workdir(ws)
    try:
        bar.step("reading", 0.05)
        source = open_batched(path, delimiter=_delimiter(preset, mapping), workdir=work)
        head = source.head
        m = _resolve(head, preset, mapping)
        table = m.table
        run = FileRun(ws, head, m, tenant, work, bar)
        run.read(source)
        rows_read = run.rows_read
        if rows_read == 0:
            raise ImportFileError(f"{path.name}: has a header but no data rows; export it again with its rows")
        problems = run.finish()
        if problems.count and not quarantine:
            raise ImportFileError(problems.summary(path.name, head.row_word))
        bar.step("storing", 0.9)
        good = run.good_rows()
        result = ws.upsert(m.table, good) if run.good_count else None
        status = "partial" if problems.count else "ok"
        log_id = ws.log_import(source=str(path), kind="file", table=m.table, status=status, started_at=started,
                               content_hash=head.content_hash, rows_read=rows_read, result=result,
                               rejected=problems.chunks(), rejected_rows=problems.rows,
                               message=problems.summary(path.name, head.row_word) if problems.count else None)
        warnings = sanity.check(ws, m.table, run.sanity_rows(good), import_id=log_id) if run.good_count else ()
        bar.done()
        return ImportReport(
            path=path, table=m.table, rows_read=rows_read,
            inserted=result.inserted if result else 0, updated=result.updated if result else 0,
            unchanged=result.unchanged if result else 0, rejected=problems.examples, content_hash=head.content_hash,
            status=status, format=head.format, encoding=head.encoding, warnings=warnings,
            problem_count=problems.count, rejected_count=problems.rows,
        )
    except BpoError as e:
        bar.done()
        ws.log_import(source=str(path), kind="file", table=table, status="failed", started_at=started,
                      content_hash=head.content_hash if head else None, rows_read=rows_read, message=str(e))
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.parent.rmdir()  # only when no other import is using it
        except OSError:
            pass


WORK_DIR = ".import-work"  # under the workspace: a file's converted batches while it is checked, removed after


def _workdir(ws: Workspace) -> Path:
    """A fresh folder for this import's spilled batches; folders left by dead importers (kill -9) are removed."""
    base = ws.path / WORK_DIR
    if base.is_dir():
        for d in base.iterdir():
            pid = d.name.split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)
    return base / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Problems:
    """Every problem of a file, kept on disk batch by batch: exact counts, the first few in memory."""

    count: int
    rows: int
    examples: list[dict]
    _chunks: Callable[[], Iterator[list[RowProblem]]]

    def chunks(self) -> Iterator[list[dict]]:
        """Every problem in file order (row, then column), a batch at a time."""
        for chunk in self._chunks():
            yield [p.as_dict() for p in chunk]

    def summary(self, file: str, row_word: str) -> str:
        listed = [RowProblem(**p) for p in self.examples[:MAX_LISTED]]
        return _summary(file, row_word, listed, total=self.count, rows=self.rows)


class FileRun:
    """One file through read -> map -> convert -> derive -> check, a batch of rows at a time.

    Each batch's canonical rows (with `__row`) and problems are spilled to Parquet in the import's work folder;
    only per-row hashes stay in memory, for what spans batches: an exact duplicate of an earlier row is merged
    away, and a primary key seen in two batches is a problem on every row that holds it.  The date format of a
    text column is decided over the whole column before any batch is converted (`mapping.DateStats`).  Files
    read as an event log, or keyed by local interval times, are converted in one batch (their rules look
    across rows).  The result is the same as converting the whole file at once.
    """

    def __init__(self, ws: Workspace, head: RawFile, m: Mapping, tenant: dict[str, str | None], work: Path,
                 bar: "Progress"):
        self.ws, self.head, self.m, self.tenant, self.work, self.bar = ws, head, m, tenant, work, bar
        self.file = head.path.name
        self.used: dict[str, str] = {}
        self.dates: dict[str, DateChoice] = {}
        self.now = utcnow()
        self.targets = _targets(ws) if m.table == "tickets" else None
        self.hashed = hashed_columns(ws.config.settings)
        self._key: bytes | None = None
        self._hash_cache: dict[str, dict[str, str]] = {}
        self.raw_seen: pl.DataFrame | None = None
        self.canon_seen: pl.DataFrame | None = None
        self.keys: list[pl.DataFrame] = []
        self.spills: list[Path] = []
        self.batches: list[tuple[int, int, Path | None]] = []  # (first row, last row, problems file)
        self.bad: list[pl.Series] = []
        self.rows_read = 0
        self.good_count = 0
        self.bad_rows = pl.Series(ROW, [], pl.Int64)

    # ---- passes
    def read(self, source: BatchedFile) -> None:
        whole = self.m.event_log is not None or (self.m.timezone != "UTC" and self.m.spec.time_column in self.m.spec.primary_key)
        size = None if whole else batch_rows()
        self.work.mkdir(parents=True, exist_ok=True)
        batches = source.batches(size)
        first = next(batches, None)
        if first is None:
            return
        second = next(batches, None)
        if second is not None:  # more than one batch: decide each date column's format over the whole file first
            del first, second
            batches.close()  # a reader left open keeps reading ahead
            self._decide_dates(source, size)
            batches = source.batches(size)
        else:
            batches.close()
            batches = (b for b in [first])
        for batch in batches:
            self.rows_read += batch.height
            self.bar.step(f"converting rows from {batch.get_column(ROW)[0]:,}", 0.1)
            self._convert(batch)
        self.raw_seen = self.canon_seen = None

    def _decide_dates(self, source: BatchedFile, size: int | None) -> None:
        """Gather each text date column's statistics over every batch (again without shortcuts if needed)."""
        m = self.m
        for skip in (True, False):
            todo = {canon: src for canon, src in self._targets_of(self._prepare(self.head.frame, check=True)).items()
                    if isinstance(src[1], pl.Datetime) or src[1] == pl.Date}
            todo = {c: v for c, v in todo.items() if c not in self.dates}
            if not todo or m.datetime_format:
                return
            stats = {c: DateStats(skip=skip) for c in todo}
            self.raw_seen = None
            columns = sorted({column for column, _, _ in todo.values()})
            for batch in source.batches(size):
                src, self.raw_seen = _drop_seen(self._prepare(batch), self.raw_seen)
                src = clean_nulls(src.select(columns), m.null_values)
                for canon, (column, dtype, _) in todo.items():
                    s = src.get_column(column)
                    if s.dtype == pl.String:
                        stats[canon].add(self._mapped(canon, s), m.timezone if isinstance(dtype, pl.Datetime) else "UTC")
            for canon, (column, _, _) in todo.items():
                got = stats[canon].choice(file=self.file, column=column)
                if got is not None:
                    self.dates[canon] = got
            self.raw_seen = None

    def _prepare(self, batch: pl.DataFrame, *, check: bool = False) -> pl.DataFrame:
        src = prepare_source(batch, self.m)
        if check or not self.used:
            self.used = check_columns(self.head, self.m, tenant=self.tenant, frame=src)
        return src

    def _clean(self, src: pl.DataFrame) -> pl.DataFrame:
        """Exact duplicates of an earlier row (in this batch or before) merged away; null markers to nulls."""
        src, self.raw_seen = _drop_seen(src, self.raw_seen)
        return clean_nulls(src, self.m.null_values)

    def _targets_of(self, src: pl.DataFrame) -> dict[str, tuple[str, pl.DataType, str | None]]:
        m, ev = self.m, self.m.event_log
        targets: dict[str, tuple[str, pl.DataType, str | None]] = {
            canon: (source, m.spec.columns[canon].dtype, m.units.get(canon)) for canon, source in self.used.items()}
        if ev:
            targets["ticket_id"] = (ev.id, pl.String, None)
            targets[derive.EVENT_STATUS] = (ev.status, pl.String, None)
            targets[derive.EVENT_AT] = (ev.at, m.spec.columns["created_at"].dtype, None)
        return targets

    def _mapped(self, canon: str, s: pl.Series) -> pl.Series:
        key = "status" if canon == derive.EVENT_STATUS else canon  # an event log's statuses are statuses
        vmap = self.m.values.get(key)
        if vmap is not None or key in ("channel", "status", "priority", "handled_by", "survey_type"):
            return map_values(s, vmap or {}, key)
        return s

    def _convert(self, batch: pl.DataFrame) -> None:
        """Map, convert, derive and check one batch; spill its canonical rows and problems."""
        m, ws, used = self.m, self.ws, self.used
        src = self._clean(self._prepare(batch))
        used = self.used
        rows = src.get_column(ROW)
        columns: list[pl.Series] = [rows]
        problems: list[RowProblem] = []
        for canon, (source, dtype, unit) in self._targets_of(src).items():
            out, bad = convert(self._mapped(canon, src.get_column(source)), dtype, rows=rows, column=source, unit=unit,
                               datetime_format=m.datetime_format, timezone=m.timezone, file=self.file,
                               non_negative=canon in m.spec.columns and m.spec.columns[canon].non_negative,
                               ambiguous=m.ambiguous, nonexistent=m.nonexistent, date_choice=self.dates.get(canon))
            if canon in self.hashed:  # never keep the raw id/email (or agent id, if pseudonymised), not even in memory
                self._key = self._key or workspace_key(ws.path)
                out = hash_series(out, self._key, self._hash_cache.setdefault(canon, {}))
            columns.append(out.alias(canon))
            problems += bad
        del src
        frame = pl.DataFrame(columns)
        del columns
        if m.event_log:
            frame = derive.collapse_event_log(frame.filter(pl.col(derive.EVENT_AT).is_not_null()
                                                           & pl.col("ticket_id").is_not_null()), m.event_log)
        problems += _flag_conflicts(frame, self.tenant, used)
        frame = _fill_constants(frame, m, self.tenant)
        frame, self.canon_seen = _drop_seen(frame, self.canon_seen)
        key = [c for c in m.spec.primary_key if c in frame.columns]
        if len(key) == len(m.spec.primary_key):  # duplicate keys are found across batches once all are read
            self.keys.append(pl.concat([frame.select(ROW), _hashes(frame.select(key))], how="horizontal"))
        if m.table == "tickets":
            frame = derive.derive_durations(frame)
            frame = derive.derive_csat(frame)
            frame = derive.derive_direction(frame)
            assert self.targets is not None
            frame = derive.derive_breaches(frame, self.targets)
        if m.table == "contacts":
            frame = derive_contacts(frame)
        frame = derive.derive_updated_at(frame, m.table)
        flagged = {p.row for p in problems}  # later checks on a flagged row would only repeat its first problem
        later = (row_problems(frame, m, used) + tenant_problems(frame, ws.config, used)
                 + range_problems(frame, m, used, self.now))
        later = [p for p in later if p.row not in flagged]
        n = len(self.spills)
        spill = self.work / f"rows-{n:06d}.parquet"
        frame.write_parquet(spill, compression="lz4")
        self.spills.append(spill)
        lo, hi = int(batch.get_column(ROW).min()), int(batch.get_column(ROW).max())  # type: ignore[arg-type]
        found = None
        if problems or later:
            tagged = [(p, False) for p in problems] + [(p, True) for p in later]
            tagged.sort(key=lambda t: (t[0].row or 0, t[0].column or ""))
            found = self.work / f"problems-{n:06d}.parquet"
            pl.DataFrame({"row": [t[0].row for t in tagged], "column": [t[0].column for t in tagged],
                          "value": [t[0].value for t in tagged], "message": [t[0].message for t in tagged],
                          "late": [t[1] for t in tagged]},
                         schema={"row": pl.Int64, "column": pl.String, "value": pl.String, "message": pl.String,
                                 "late": pl.Boolean}).write_parquet(found, compression="lz4")
        self.batches.append((lo, hi, found))

    def finish(self) -> Problems:
        """Duplicate keys across the file, then the file's problems in order with exact counts."""
        dup: list[RowProblem] = []
        if self.keys:
            hashes = pl.concat(self.keys)
            self.keys = []
            candidates = hashes.filter(pl.struct(pl.exclude(ROW)).is_duplicated()).get_column(ROW)
            del hashes
            if candidates.len():
                key = [c for c in self.m.spec.primary_key]
                found = (pl.scan_parquet(self.spills).filter(pl.col(ROW).is_in(candidates.implode()))
                         .select(ROW, *key).collect())
                dup = _duplicate_keys(found, self.m, self.used)
        dup_rows = {p.row for p in dup}
        by_batch: dict[int, list[RowProblem]] = {}
        for p in dup:
            i = next(i for i, (lo, hi, _) in enumerate(self.batches) if lo <= (p.row or 0) <= hi)
            by_batch.setdefault(i, []).append(p)

        def chunks() -> Iterator[list[RowProblem]]:
            for i, (_, _, found) in enumerate(self.batches):
                items: list[RowProblem] = []
                if found is not None:
                    for row, column, value, message, late in pl.read_parquet(found).iter_rows():
                        if late and row in dup_rows:
                            continue
                        items.append(RowProblem(row, column, value, message))
                extra = by_batch.get(i, [])
                if extra:
                    items += extra
                    items.sort(key=lambda p: (p.row or 0, p.column or ""))
                if items:
                    yield items

        count = 0
        examples: list[dict] = []
        bad: list[pl.Series] = []
        for chunk in chunks():
            count += len(chunk)
            if len(examples) < MAX_KEPT:
                examples += [p.as_dict() for p in chunk[:MAX_KEPT - len(examples)]]
            bad.append(pl.Series(ROW, [p.row for p in chunk], pl.Int64).unique())
        self.bad_rows = pl.concat(bad).unique() if bad else pl.Series(ROW, [], pl.Int64)
        self.good_count = int(self.good_rows().select(pl.len()).collect().item()) if self.spills else 0
        return Problems(count, self.bad_rows.len(), examples, chunks)

    def good_rows(self) -> pl.LazyFrame:
        """The canonical rows without a problem (spilled; read lazily, one partition at a time by `upsert`)."""
        lf = pl.scan_parquet(self.spills)
        if self.bad_rows.len():
            lf = lf.filter(~pl.col(ROW).is_in(self.bad_rows.implode()))
        return lf.drop(ROW)

    def sanity_rows(self, good: pl.LazyFrame) -> pl.DataFrame:
        """What `sanity.check` reads of the imported rows: tenants and the time column, the other columns empty."""
        spec = self.m.spec
        names = good.collect_schema().names()
        keep = [c for c in ("client_id", "vendor_id", spec.time_column) if c and c in names]
        light = good.select(keep).collect(engine="streaming")
        return light.with_columns(pl.lit(None, good.collect_schema()[c]).alias(c) for c in names if c not in keep)


MAX_KEPT = 1000  # problems an ImportReport carries (the import log in state.db keeps every one)


def _hashes(frame: pl.DataFrame) -> pl.DataFrame:
    """Two independent 64-bit hashes of each row: equal rows match, distinct rows practically never do."""
    return pl.DataFrame({"__h1": frame.hash_rows(seed=11),
                         "__h2": frame.hash_rows(seed=4099)})


def _drop_seen(frame: pl.DataFrame, seen: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`frame` keeping the first of rows equal in every column but `__row`, and none equal to a row of an earlier
    batch (whose hashes are `seen`); and the hashes seen so far."""
    h = _hashes(frame.drop(ROW))
    keep = h.select(pl.struct("__h1", "__h2").is_first_distinct()).to_series()
    if seen is not None and seen.height:
        earlier = h.join(seen.with_columns(pl.lit(True).alias("__seen")), on=["__h1", "__h2"], how="left",
                         maintain_order="left").get_column("__seen").is_not_null()
        keep = keep & ~earlier
    h = h.filter(keep)
    return frame.filter(keep), (h if seen is None else pl.concat([seen, h]))


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


def _summary(file: str, row_word: str, problems: list[RowProblem], *, total: int | None = None,
             rows: int | None = None) -> str:
    """The error a rejected file gets: counts, the first MAX_LISTED problems, "and N more" (`total` of them)."""
    total = len(problems) if total is None else total
    rows = len({p.row for p in problems}) if rows is None else rows
    lines = [p.describe(file, row_word) for p in problems[:MAX_LISTED]]
    more = total - MAX_LISTED
    if more > 0:
        lines.append(f"... and {more} more")
    head = (f"{file}: {total} problem(s) in {rows} row(s); nothing was imported "
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

