"""The sync engine: saved cursor → pages since (cursor − lookback) → map → validate → upsert → advance.

The cursor (the furthest stream position whose rows are stored) is written only after the batch
holding those rows is committed by `Workspace.upsert`, which keeps the newest `updated_at` per
primary key; so a run killed at any point resumes where the store is, re-reading a little
(the lookback and the last uncommitted batch) and duplicating nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field

import polars as pl

from connectors.bounds import out_of_range
from connectors import sanity
from connectors.base import ROUTING_PREFIX, FieldProblem, Page, Source, Stream, iso, to_utc
from connectors.errors import BpoError
from connectors.schema import TENANT, VOCABULARY, conform, get_table
from connectors.sources import SourceSpec, build_sources
from connectors.store import Scope, UpsertResult, Workspace, utcnow
from connectors.store.tables import crash_point

log = logging.getLogger("connectors.sync")

LINEAGE_COLS = ("source_system", "source_instance", "ingested_at")
TENANT_COLS = tuple(TENANT)
DEFAULT_ATTAINMENT_TARGET = 0.9  # when a source's SLA targets carry none (Zendesk policies have no attainment goal)


@dataclass
class SyncReport:
    """What one source's sync did: rows per outcome, retries, the cursor reached, and any error."""

    source: str
    kind: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    pages: int = 0
    retries: int = 0
    requests: int = 0
    seconds: float = 0.0
    cursors: dict[str, str | None] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0
    names: int = 0  # group/team and agent names stored new or renamed
    name_problems: list[str] = field(default_factory=list)  # names a source would not list (ids are shown instead)
    warnings: tuple[sanity.Finding, ...] = ()  # the sanity report of the synced tickets as stored
    touched: list[pl.DataFrame] = field(default_factory=list, repr=False)  # tenant and day of every stored ticket

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        cur = ", ".join(f"{s} cursor {c or '-'}" for s, c in self.cursors.items())
        line = (f"{self.source} ({self.kind}): {self.rows_read:,} read, +{self.inserted:,} new, ~{self.updated:,} updated, "
                f"={self.unchanged:,} unchanged, {self.rejected:,} rejected, {self.pages:,} pages, "
                f"{self.retries} retries, {cur} ({self.seconds:.1f} s)")
        if self.error:
            line = f"{self.source} ({self.kind}): FAILED (exit {self.exit_code}) after {self.rows_read:,} read, " \
                   f"+{self.inserted:,} new, ~{self.updated:,} updated, {self.retries} retries: {self.error}"
        return line


def sync_sources(ws: Workspace, name: str | None = None, *, progress: bool = False,
                 batch_rows: int | None = None) -> list[SyncReport]:
    """Sync one source (by name) or every `[[source]]` of bpo.toml; one report per source.

    Configuration problems of the selected sources raise one `ConfigError` listing them all;
    a source that fails at run time (bad token, unreachable) gets a failed report and the others
    still run.

    >>> reports = sync_sources(ws, "acme-zendesk")      # doctest: +SKIP
    >>> print(reports[0])                              # doctest: +SKIP
    acme-zendesk (zendesk): 1,204 read, +1,200 new, ~4 updated, ...
    """
    specs = build_sources(ws, name)
    return [sync_one(ws, spec, progress=progress, batch_rows=batch_rows) for spec in specs]


def sync_one(ws: Workspace, spec: SourceSpec, *, progress: bool = False, batch_rows: int | None = None) -> SyncReport:
    """Run every stream of one source and log the run in the import log."""
    report = SyncReport(spec.name, spec.kind)
    t0 = time.perf_counter()
    started = utcnow()
    rejected: list[dict] = []
    source: Source | None = None
    try:
        source = spec.open()
        for stream in source.streams():
            _sync_stream(ws, spec, source, stream, report, rejected, progress=progress,
                         batch_rows=batch_rows or spec.batch_rows)
        _sync_names(ws, spec, source, report)
    except BpoError as e:
        report.error = spec.scrub(str(e))
        report.exit_code = e.exit_code
    finally:
        if source is not None:
            stats = source.stats()
            report.requests = stats.get("requests", 0)
            report.retries = sum(v for k, v in stats.items() if k.startswith("retries_"))
            retry_detail = ", ".join(f"{k.removeprefix('retries_')} x{v}" for k, v in stats.items() if k.startswith("retries_") and v)
            close = getattr(source, "close", None)
            if close:
                close()
        else:
            retry_detail = ""
        report.seconds = time.perf_counter() - t0
    status = "failed" if report.error else ("partial" if report.rejected else "ok")
    message = (f"{report.pages} pages, {report.requests} requests, {report.retries} retries"
               + (f" ({retry_detail})" if retry_detail else "")
               + "".join(f"; {s} cursor {c}" for s, c in report.cursors.items())
               + (f"; error: {report.error}" if report.error else ""))
    log_id = ws.log_import(source=spec.name, kind="sync", table="tickets", status=status, started_at=started,
                           rows_read=report.rows_read,
                           result=UpsertResult("tickets", report.inserted, report.updated, report.unchanged, 0),
                           rejected=rejected[:1000], message=spec.scrub(message))
    if report.touched and not report.error:
        report.warnings = sanity.check(ws, "tickets", pl.concat(report.touched, how="diagonal"), import_id=log_id)
    if report.error:
        log.error("%s", report)
    else:
        log.info("%s", report)
    return report


def _sync_names(ws: Workspace, spec: SourceSpec, source: Source, report: SyncReport) -> None:
    """Store the source's group/team and agent names (never agent names when agents are pseudonymised).

    Names are a courtesy: a source that refuses to list them (a token without the permission) leaves
    the ids on screen and a warning in the log; the sync itself succeeds."""
    names = getattr(source, "names", None)
    if names is None:
        return
    from connectors.http import NAME_KINDS
    from connectors.hashing import hashed_columns

    kinds = [k for k in NAME_KINDS if not (k == "agent" and "agent_id" in hashed_columns(ws.config.settings))]
    vendors = {spec.tenants.default.get("vendor")} | {t.get("vendor") for _, t in spec.tenants.rules if t.get("vendor")}
    for kind in kinds:
        try:
            found = names(kind)
        except BpoError as e:
            problem = spec.scrub(f"{kind} names not read ({e}); their ids are shown instead")
            report.name_problems.append(problem)
            log.warning("%s: %s", spec.name, problem)
            continue
        if found:
            report.names += ws.put_labels(spec.name, kind, found, client_id=spec.tenants.default.get("client"),
                                          vendor_id=next(iter(vendors)) if len(vendors) == 1 else None)


def _sync_stream(ws: Workspace, spec: SourceSpec, source: Source, stream: Stream, report: SyncReport,
                 rejected: list[dict], *, progress: bool, batch_rows: int) -> None:
    saved = ws.get_cursor(spec.name, stream.name)
    report.cursors[stream.name] = saved
    since = (to_utc(saved) - spec.lookback) if saved else spec.start
    carry = _carried_columns(source, stream)
    first = saved is None  # the stream's history starts with this run
    pending: list[Page] = []
    pending_rows = 0
    for page in source.read(stream.name, since):
        report.pages += 1
        report.rows_read += len(page.records)
        pending.append(page)
        pending_rows += len(page.records)
        if pending_rows >= batch_rows:
            _commit(ws, spec, source, stream, pending, report, rejected, carry, first=first)
            pending, pending_rows = [], 0
            if progress:
                sys.stderr.write(f"\r{spec.name} {stream.name}: {report.rows_read:,} rows, {report.pages:,} pages")
                sys.stderr.flush()
    if pending:
        _commit(ws, spec, source, stream, pending, report, rejected, carry, first=first)
    if progress:
        sys.stderr.write("\n")


def _commit(ws: Workspace, spec: SourceSpec, source: Source, stream: Stream, pages: list[Page],
            report: SyncReport, rejected: list[dict], carry: tuple[str, ...], *, first: bool = False) -> None:
    """Map, validate and upsert a batch of pages, then (and only then) advance the cursor.

    `first`: the stream had no saved cursor when this run began (its history starts now)."""
    records = [r for p in pages for r in p.records]
    positions = [p.position for p in pages if p.position is not None]
    if records:
        frame, problems = _map(ws, spec, source, stream, records)
        frame, bad = _reject_invalid(frame, stream, problems, pages, spec.name)
        rejected.extend(bad)
        report.rejected += len({b["row"] for b in bad})
        if stream.patch:
            frame = _patch(ws, source, frame, stream)
        elif carry:
            frame = _carry_over(ws, source, frame, carry)
        if stream.fields.table == "sla_targets":
            frame = _close_superseded(ws, source, frame, first=first)
        if frame.height:
            # the same record can come twice (export duplicates, window overlaps): keep its newest version
            pk = list(get_table(stream.fields.table).primary_key)
            frame = frame.sort("updated_at", nulls_last=False, maintain_order=True).unique(pk, keep="last", maintain_order=True)
            res = ws.upsert(stream.fields.table, frame)
            if stream.fields.table == "tickets":  # what the sanity report looks at: its tenants, days and columns
                keys = ["client_id", "vendor_id", "created_at"]
                report.touched.append(frame.select(keys).with_columns(  # the columns the source maps
                    pl.lit(None).alias(c) for c in stream.fields.fields if c in frame.columns and c not in keys))
            report.inserted += res.inserted
            report.updated += res.updated
            report.unchanged += res.unchanged
    crash_point("sync-stored")  # stored, cursor not yet advanced: the next run re-reads this batch
    if positions:
        cursor = iso(max(positions))
        old = report.cursors.get(stream.name)
        if old is None or to_utc(cursor) > to_utc(old):
            ws.set_cursor(spec.name, stream.name, cursor)
            report.cursors[stream.name] = cursor


def _map(ws: Workspace, spec: SourceSpec, source: Source, stream: Stream,
         records: list[dict]) -> tuple[pl.DataFrame, list[FieldProblem]]:
    """Field map → tenant keys → lineage → derived columns (durations, CSAT, SLA breaches)."""
    from connectors.hashing import hashed_columns

    batch = stream.fields.apply(records, hasher=spec.hasher(ws), also_hash=hashed_columns(ws.config.settings))
    frame = normalise_codes(spec.tenants.assign(batch.frame), stream.fields.table, spec.settings.get("values") or {})
    frame = frame.with_columns(
        pl.lit(source.system).alias("source_system"),
        pl.lit(spec.name).alias("source_instance"),
    ).drop([c for c in frame.columns if c.startswith(ROUTING_PREFIX)])
    if stream.fields.table == "sla_targets":
        frame = _bind_targets(spec, frame)
    elif not stream.patch and stream.fields.table == "tickets":
        frame = _derive(ws, frame)
    return frame, batch.problems


def _bind_targets(spec: SourceSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """A source's SLA targets bind its client, its vendor when all its rows go to one, and no single site."""
    vendors = {spec.tenants.default.get("vendor")} | {t.get("vendor") for _, t in spec.tenants.rules if t.get("vendor")}
    vendor = next(iter(vendors)) if len(vendors) == 1 else None
    attainment = float(spec.settings.get("sla_attainment_target", DEFAULT_ATTAINMENT_TARGET))
    return frame.with_columns(
        pl.lit(vendor, pl.String).alias("vendor_id"),
        pl.lit(None, pl.String).alias("site_id"),
        (pl.col("attainment_target").fill_null(attainment) if "attainment_target" in frame.columns
         else pl.lit(attainment)).alias("attainment_target"),
    )


def _close_superseded(ws: Workspace, source: Source, frame: pl.DataFrame, *, first: bool = False) -> pl.DataFrame:
    """Effective dating of a source's targets (history starts at the first sync); a new version ends the stored one.

    A row comes with the day its first version took effect (a Zendesk policy's `created_at`).  The
    version stored with the same `updated_at` keeps its day (a re-read changes nothing); on the first
    sync the row keeps the day it came with (what was in force before is unknown: the version found
    then stands for it); a version first seen later takes effect on its `updated_at` day.  The stored
    open version of the same target ends the day before.
    """
    if not frame.height:
        return frame
    new = conform(frame, "sla_targets")
    stored = (ws.scan("sla_targets", Scope.everything())
              .filter((pl.col("source_system") == source.system) & (pl.col("source_instance") == source.name))
              .group_by("target_id", "updated_at").agg(pl.col("effective_from").max().alias("__known")).collect())
    new = new.join(stored, on=["target_id", "updated_at"], how="left")
    since = pl.col("effective_from") if first else pl.col("updated_at").dt.date()
    new = new.with_columns(pl.col("__known").fill_null(since).alias("effective_from")).drop("__known")
    starts = new.group_by("target_id").agg(pl.col("effective_from").min().alias("__from"),
                                           pl.col("updated_at").max().alias("__upd"))
    old = (ws.scan("sla_targets", Scope.everything())
           .filter((pl.col("source_system") == source.system) & (pl.col("source_instance") == source.name))
           .collect().join(starts, on="target_id", how="inner")
           .filter((pl.col("effective_from") < pl.col("__from"))
                   & (pl.col("effective_to").is_null() | (pl.col("effective_to") >= pl.col("__from")))))
    if not old.height:
        return new
    ended = old.with_columns((pl.col("__from") - pl.duration(days=1)).alias("effective_to"),
                             pl.max_horizontal("updated_at", "__upd").alias("updated_at"),
                             pl.lit(None, new.schema["ingested_at"]).alias("ingested_at")).select(new.columns)
    return pl.concat([new, ended])


def _derive(ws: Workspace, frame: pl.DataFrame) -> pl.DataFrame:
    from connectors import derive

    frame = derive.derive_durations(frame)
    frame = derive.derive_csat(frame)
    frame = derive.derive_direction(frame)
    return derive.derive_breaches(frame, ws.read("sla_targets", Scope.everything()))


def _reject_invalid(frame: pl.DataFrame, stream: Stream, problems: list[FieldProblem],
                    pages: list[Page], source_name: str = "") -> tuple[pl.DataFrame, list[dict]]:
    """Drop rows that cannot be stored (a required value missing or unreadable, a code outside the vocabulary,
    a value out of range); list why, naming the record."""
    spec = get_table(stream.fields.table)
    required = [c for c in spec.required if c in frame.columns and c not in ("ingested_at", "updated_at")]
    if stream.patch:
        required = [c for c in spec.primary_key if c in frame.columns]
    record = [c for c in spec.primary_key if c not in LINEAGE_COLS and c not in TENANT_COLS] or list(spec.primary_key)

    def key(i: int) -> str:  # the record as the source names it, for every message
        return ", ".join(f"{c} {'(empty)' if frame[c][i] is None else frame[c][i]}" for c in record if c in frame.columns)

    bad_rows: dict[int, list[dict]] = {}
    for p in problems:
        if p.column in required:
            bad_rows.setdefault(p.row, []).append({"row": p.row + 1, "column": p.column, "value": p.value,
                                                   "message": f"record {key(p.row)}: {p.message}"})
    null_mask = pl.any_horizontal([pl.col(c).is_null() for c in required]) if required else pl.lit(False)
    for i in frame.with_row_index("__i").filter(null_mask).get_column("__i").to_list():
        if i not in bad_rows:
            missing = [c for c in required if frame[c][i] is None]
            bad_rows[i] = [{"row": i + 1, "column": c, "value": None,
                            "message": f"record {key(i)}: {_missing_message(c)}"} for c in missing]
    codes: dict[int, list[dict]] = {}
    for i, column, value, message in vocabulary_problems(frame, stream.fields.table, source_name):
        codes.setdefault(i, []).append({"row": i + 1, "column": column, "value": value,
                                        "message": f"record {key(i)}: {message}"})
    for i, found in codes.items():
        bad_rows.setdefault(i, found)
    dtypes = {c: col.dtype for c, col in spec.columns.items() if c != "ingested_at"}
    breaches = out_of_range(frame, dtypes, utcnow())  # a 9999-12-31 ticket or a NaN handle time is never stored
    own = {b.index for b in breaches if b.column in stream.fields.fields}  # name the source's value, not what derives from it
    for b in breaches:
        if b.index in own and b.column not in stream.fields.fields:
            continue
        bad_rows.setdefault(b.index, []).append({"row": b.index + 1, "column": b.column, "value": b.value,
                                                 "message": f"record {key(b.index)}: {b.column} {b.message}"})
    if not bad_rows:
        return frame, []
    keep = pl.Series([i not in bad_rows for i in range(frame.height)])
    return frame.filter(keep), [b for rows in bad_rows.values() for b in rows]


def normalise_codes(frame: pl.DataFrame, table: str, values: dict[str, dict[str, str]]) -> pl.DataFrame:
    """Channel, status and priority as the file importer spells them (lower case, `_` for spaces), after the
    source's own `values` maps from bpo.toml ([source.values.channel] "Phone" = "voice")."""
    from connectors.mapping import map_values

    vocab = VOCABULARY.get(table, {})
    return frame.with_columns(map_values(frame.get_column(c), values.get(c, {}), c)
                              for c in vocab if c in frame.columns and frame.schema[c] == pl.String)


def vocabulary_problems(frame: pl.DataFrame, table: str, source: str) -> list[tuple[int, str, str, str]]:
    """(row index, column, value, message) for every code outside the canonical vocabulary, with the bpo.toml fix."""
    from connectors.mapping import USUAL_MEANING, did_you_mean

    out = []
    for column, allowed in VOCABULARY.get(table, {}).items():
        if column not in frame.columns or frame.schema[column] != pl.String:
            continue
        s = frame.get_column(column)
        for i in (s.is_not_null() & ~s.is_in(list(allowed))).arg_true().to_list():
            value = str(s[i])
            guess = USUAL_MEANING.get(value) if USUAL_MEANING.get(value) in allowed else did_you_mean(value, list(allowed))
            target = guess or ("other" if "other" in allowed else f"<one of {', '.join(allowed)}>")
            out.append((i, column, value,
                        f"{column} '{value}' is not a {column} bpo-insights knows ({', '.join(allowed)}); say what it "
                        f"means in bpo.toml: under this source's [[source]] entry (name = \"{source}\") add "
                        f"[source.values.{column}] with \"{value}\" = \"{target}\", then sync again"))
    out.sort(key=lambda t: t[0])
    return out


def _missing_message(column: str) -> str:
    if column in ("client_id", "vendor_id", "site_id"):
        return (f"no tenant for this row ({column} empty): add a [[source.tenants]] rule matching its "
                f"group/brand/tag/queue, or set {column.removesuffix('_id')} on the source")
    return f"required value '{column}' is missing in the source record"


def _carried_columns(source: Source, stream: Stream) -> tuple[tuple[str, bool], ...]:
    """Columns another (patch) stream of the source fills, to keep when this stream rewrites a row;
    each with whether the stored value wins over a value derived now (vendor truth)."""
    if stream.patch:
        return ()
    own = get_table(stream.fields.table).primary_key + ("updated_at",)
    cols: dict[str, bool] = {}
    for s in source.streams():
        if s.patch and s.fields.table == stream.fields.table:
            for c in s.fields.fields:
                if c not in own and not c.startswith(ROUTING_PREFIX):
                    cols[c] = cols.get(c, False) or s.vendor_truth
    if "csat_raw" in cols:
        cols.setdefault("csat_score", cols["csat_raw"])
        cols.setdefault("csat_positive", cols["csat_raw"])
    return tuple(cols.items())


def _stored(ws: Workspace, source: Source, table: str, ids: list[str]) -> pl.DataFrame:
    return (ws.scan(table, Scope.everything())
            .filter((pl.col("source_system") == source.system) & (pl.col("source_instance") == source.name)
                    & pl.col("ticket_id").is_in(ids))
            .collect())


def _carry_over(ws: Workspace, source: Source, frame: pl.DataFrame,
                carry: tuple[tuple[str, bool], ...]) -> pl.DataFrame:
    """Keep patch-stream values (e.g. CSAT) of stored rows when the new version does not carry them;
    vendor-truth values (e.g. Zendesk SLA breaches) also win over values derived for the new version."""
    if not frame.height:
        return frame
    old = _stored(ws, source, "tickets", frame.get_column("ticket_id").to_list())
    if not old.height:
        return frame
    old = old.select(["ticket_id", *[pl.col(c).alias(f"__old_{c}") for c, _ in carry]])
    out = frame.join(old, on="ticket_id", how="left")
    fills = []
    for c, stored_wins in carry:
        was = pl.col(f"__old_{c}")
        if c not in frame.columns:
            fills.append(was.alias(c))
        else:
            fills.append((was.fill_null(pl.col(c)) if stored_wins else pl.col(c).fill_null(was)).alias(c))
    return out.with_columns(fills).drop([f"__old_{c}" for c, _ in carry])


def _patch(ws: Workspace, source: Source, frame: pl.DataFrame, stream: Stream) -> pl.DataFrame:
    """Merge a patch batch into the stored rows.

    Per ticket the batch's latest non-null value of each column wins over the stored one (nulls
    keep what is stored; `once_true` flags stay true once true).  The row's updated_at becomes the
    newer of the two, and moves on by 1 µs when the values changed but the patch is not newer, so
    the store takes the change (a source's own next version, seconds later, is still newer).
    """
    if not frame.height:
        return frame
    if "updated_at" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("updated_at"))
    cols = [c for c in frame.columns if c not in ("ticket_id", "source_system", "source_instance", "updated_at",
                                                   "client_id", "vendor_id", "site_id")]
    frame = frame.sort("updated_at", nulls_last=False, maintain_order=True).group_by("ticket_id", maintain_order=True).agg(
        pl.col("updated_at").max(),
        *[pl.col(c).max() if c in stream.once_true else pl.col(c).drop_nulls().last() for c in cols])
    old = _stored(ws, source, "tickets", frame.get_column("ticket_id").to_list())
    joined = old.join(frame.select(["ticket_id", "updated_at", *cols]).rename(
        {c: f"__new_{c}" for c in ["updated_at", *cols]}), on="ticket_id", how="inner")
    merged = []
    for c in cols:
        value = pl.col(f"__new_{c}").fill_null(pl.col(c))
        if c in stream.once_true:
            value = pl.when(pl.col(c).fill_null(False)).then(pl.lit(True)).otherwise(value)
        merged.append(value.alias(c))
    out = joined.with_columns(*[pl.col(c).alias(f"__was_{c}") for c in cols], *merged)
    changed = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"__was_{c}")) for c in cols]) if cols else pl.lit(False)
    newest = pl.max_horizontal("updated_at", "__new_updated_at")
    out = out.with_columns(
        pl.when(changed & (newest <= pl.col("updated_at")))
        .then(pl.col("updated_at") + pl.duration(microseconds=1)).otherwise(newest).alias("updated_at"))
    out = out.drop([c for c in out.columns if c.startswith(("__new_", "__was_"))])
    if "csat_raw" in cols:
        from connectors import derive

        fresh = {"csat_score": pl.Float64, "csat_positive": pl.Boolean, "rating_value": pl.Float64, "rating_scale": pl.String}
        out = derive.derive_csat(out.with_columns(pl.lit(None, t).alias(c) for c, t in fresh.items()
                                                  if c == "csat_score" or c == "csat_positive" or c not in cols))
    return out.drop("ingested_at")

