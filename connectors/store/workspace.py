"""The workspace: canonical tables as Parquet, upserted by primary key, plus a metadata database.

```
workspace/
  bpo.toml          settings, tenants, users and their scopes, sources
  tables/<table>/   month=YYYY-MM/part-*.parquet, listed by _manifest.json
  state.db          SQLite (or `database_url`): import log, rejected rows, sync cursors
  cache/cells/      the review cube's cells per row file (insights/metrics/cell_cache.py; safe to delete)
```

Writes are atomic: new partition files are written under fresh names, then the table's manifest
is replaced in one `os.replace`; a crash before that leaves the previous manifest, so readers see
the store exactly as it was.  Every read of canonical data goes through `Workspace.scan`, which
takes the viewer's `Scope` and filters before anything is computed (deny by default).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import polars as pl

from connectors.errors import AccessDenied, ConfigError, SchemaError, StoreDamaged, WorkspaceError
from connectors.redact import mask_pii, mask_series
from connectors.redact import contact_values as looks_like_contact
from connectors.schema import TABLES, conform, get_table, validate

from connectors.store.aggregates import REBUILD, AggregatesUnavailable, Keeper, aggregate_rows, client_zones, write_aggregate
from connectors.store.windows import WindowKeeper, check_spec, stored_columns
from connectors.store.config import Config, parse_config, unconvertible
from connectors.store import tenancy
from connectors.store.scope import Scope
from connectors.store.tables import (DEFAULT_WORKSPACE, MANIFEST, RETIRE_AFTER_SECONDS, Manifest, _atomic_write, _fsync_path,
                                     _part_dir, _partition_expr, _pl_type, check_part, collect_garbage, crash_point,
                                     part_files, pq_rows, read_manifest, retire, write_manifest)

if TYPE_CHECKING:
    import sqlalchemy as sa
    from connectors.store.warehouse import Warehouse

FREE_TEXT: dict[str, tuple[str, ...]] = {"tickets": ("tags", "contact_reason")}  # masked for e-mails, phones, cards
HASH_COLUMNS: dict[str, tuple[str, ...]] = {"tickets": ("requester_hash",)}  # never an e-mail or phone number


@dataclass(frozen=True)
class RepairResult:
    """What `Workspace.repair` did to one table: `ok` (nothing to do) or `rebuilt` from `files_read` files."""

    table: str
    status: str
    files_read: int = 0
    rows: int = 0
    message: str = ""


@dataclass(frozen=True)
class UpsertResult:
    table: str
    inserted: int
    updated: int
    unchanged: int
    partitions_written: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)


def rejected_row_count(problems: list[dict]) -> int:
    """Rows rejected: a row with three bad cells counts once; a problem with no row (the whole record) counts once."""
    return len({p["row"] for p in problems if p.get("row") is not None}) + sum(p.get("row") is None for p in problems)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Workspace:
    """A workspace folder. `Workspace.open(path)` for an existing one, `Workspace.create` to make one."""

    retire_after_seconds: float = RETIRE_AFTER_SECONDS  # how long a replaced file stays for readers of the old version
    db_wait_seconds: float = 30.0  # how long to wait for another process's lock on state.db

    def __init__(self, path: Path | str, config: Config | None = None):
        self.path = Path(path)
        self.tables_dir = self.path / "tables"
        self.config = config if config is not None else parse_config(self.path / "bpo.toml")
        self._engine: sa.Engine | None = None
        self._warehouse: Warehouse | None = None

    # ---- lifecycle
    @classmethod
    def open(cls, path: Path | str | None = None) -> "Workspace":
        p = Path(path or os.environ.get("BPO_WORKSPACE") or DEFAULT_WORKSPACE)
        if not (p / "bpo.toml").exists():
            raise WorkspaceError(
                f"no workspace at '{p}' (bpo.toml missing); start one for your own data with 'bpo-insights init {p}' "
                f"(or build a demo with 'bpo-insights sample --out {p}'), or pass --workspace DIR"
            )
        return cls(p)

    @classmethod
    def create(cls, path: Path | str, toml_text: str) -> "Workspace":
        p = Path(path)
        (p / "tables").mkdir(parents=True, exist_ok=True)
        _atomic_write(p / "bpo.toml", toml_text.encode("utf-8"))
        return cls(p)

    @property
    def metadata_url(self) -> sa.URL:
        """The metadata database: `database_url` (its password from `password_env`), else state.db in the folder."""
        import sqlalchemy as sa

        url = sa.make_url(self.config.database_url or f"sqlite:///{(self.path / 'state.db').resolve()}")
        if self.config.password_env:
            password = os.environ.get(self.config.password_env)
            if not password:
                raise ConfigError(f"{self.path / 'bpo.toml'}: [workspace] password_env names ${self.config.password_env}, "
                                  "which is not set; export it with the database password")
            url = url.set(password=password)
        return url

    @property
    def warehouse(self) -> Warehouse | None:
        """The SQL warehouse of `[store]` (its password from `password_env`), or None: the tables are Parquet here."""
        store = self.config.store
        if store is None:
            return None
        if self._warehouse is None:
            from connectors.store.warehouse import open_store  # SQLAlchemy only when a warehouse is configured

            self._warehouse = open_store(store.url, password_env=store.password_env, table_prefix=store.table_prefix,
                                         schema=store.schema, where=str(self.path / "bpo.toml"))
        return self._warehouse

    @property
    def engine(self) -> sa.Engine:
        from connectors.store.metadata import open_metadata

        if self._engine is None:
            self._engine = open_metadata(self.metadata_url, self.path, wait_seconds=self.db_wait_seconds,
                                         today=utcnow().strftime("%Y-%m-%d"))
        return self._engine

    # ---- reading (the one choke point for canonical data)
    def files(self, table: str) -> dict[str, str]:
        """partition -> file name, as listed by the table's manifest (checked: see `tables.read_manifest`)."""
        return self._manifest(table).files

    def _manifest(self, table: str) -> Manifest:
        get_table(table)
        return read_manifest(self.tables_dir / table, table, self.path)

    def scan(self, table: str, scope: Scope, *, columns: list[str] | None = None,
             windows: bool = False) -> pl.LazyFrame:
        """Canonical rows of `table` the viewer may see, as a LazyFrame (filtered before anything else).

        `windows`: keep the window columns the rows hold (`connectors/store/windows.py`; the KPI engine reads them
        instead of computing the windows); every other reader sees the canonical columns only."""
        if not isinstance(scope, Scope):
            raise AccessDenied("every read needs the viewer's Scope; pass Scope.everything() only for admin work")
        spec = get_table(table)
        manifest = self._manifest(table)  # one snapshot per scan
        paths = [str(self.tables_dir / table / f) for f in manifest.files.values()]
        for p in paths:
            check_part(Path(p), self.path, table)
        if not paths:
            lf = pl.LazyFrame(schema=spec.schema)
        else:
            lf = pl.scan_parquet(paths)
            hidden = stored_columns(manifest.windows)
            if hidden and not windows:
                lf = lf.drop(hidden)
        lf = lf.filter(tenancy.visible(self, table, scope))  # metadata rows too: every tenant they name
        if columns is not None:
            lf = lf.select(columns)
        return lf

    def read(self, table: str, scope: Scope, *, columns: list[str] | None = None, windows: bool = False) -> pl.DataFrame:
        return self.scan(table, scope, columns=columns, windows=windows).collect()

    def row_counts(self) -> dict[str, int]:
        out = {}
        for t in TABLES:
            paths = [str(self.tables_dir / t / f) for f in self.files(t).values()]
            out[t] = sum(pq_rows(p) for p in paths)
        return out

    # ---- writing
    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        with open(self.tables_dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def upsert(self, table: str, frame: pl.DataFrame | pl.LazyFrame) -> UpsertResult:
        """Insert new keys, replace rows whose `updated_at` is newer, leave the rest untouched.

        Idempotent: upserting the same rows again writes nothing.  Atomic: a crash leaves the
        previous version of the table.  A LazyFrame (a large file's rows, spilled to Parquet by the
        importer) is read one partition at a time, so memory follows the largest month, not the input.
        """
        if isinstance(frame, pl.LazyFrame):
            return self._upsert_by_partition(table, frame)
        get_table(table)  # an unknown table is an error before anything is read
        if "ingested_at" not in frame.columns or frame.get_column("ingested_at").null_count():
            now = pl.lit(utcnow(), dtype=pl.Datetime("us", "UTC"))
            frame = frame.with_columns(
                (pl.col("ingested_at").fill_null(now) if "ingested_at" in frame.columns else now).alias("ingested_at")
            )
        if "updated_at" not in frame.columns:
            frame = frame.with_columns(pl.col("ingested_at").alias("updated_at"))
        frame = frame.with_columns(pl.col("updated_at").fill_null(pl.col("ingested_at")))
        frame = self._checked(table, frame)  # validated, conformed, masked, one row per key (the newest)
        result = self._upsert_parquet(table, frame)
        if self.warehouse is not None:  # [store]: the same checked batch, upserted in one warehouse transaction
            self.warehouse.upsert(table, frame)
        return result

    def _upsert_parquet(self, table: str, frame: pl.DataFrame) -> UpsertResult:
        """`upsert` of a checked frame held whole: its rows are their own keys."""
        frame = frame.with_columns(_partition_expr(get_table(table)).alias("__part"))
        return self._merge(table, frame, lambda part, mine: mine)

    def _upsert_by_partition(self, table: str, rows: pl.LazyFrame) -> UpsertResult:
        """`upsert` for rows too many to hold at once: the keys decide what changes, then each touched partition
        is read, checked and written alone; one manifest swap commits them all (same crash points as `upsert`).

        The rows' primary keys must be unique (the importer rejects duplicate keys); every written row is checked
        like `upsert` checks its frame, one partition at a time."""
        spec = get_table(table)
        pk = list(spec.primary_key)
        names = rows.collect_schema().names()
        now = pl.lit(utcnow(), dtype=pl.Datetime("us", "UTC"))
        rows = rows.with_columns((pl.col("ingested_at").fill_null(now) if "ingested_at" in names else now).alias("ingested_at"))
        if "updated_at" not in names:
            rows = rows.with_columns(pl.col("ingested_at").alias("updated_at"))
        rows = rows.with_columns(pl.col("updated_at").fill_null(pl.col("ingested_at")).cast(spec.columns["updated_at"].dtype))
        rows = rows.with_columns(_partition_expr(spec).alias("__part"))

        def checked(part: str, mine: pl.DataFrame) -> pl.DataFrame:
            new = rows.filter(pl.col("__part") == part).drop("__part").collect(engine="streaming")
            return self._checked(table, new).join(mine, on=pk, how="semi", nulls_equal=True)

        keys = rows.select(*[pl.col(c).cast(spec.columns[c].dtype) for c in pk], "updated_at", "__part")
        # collected in the call: `_merge` holds the only reference and lets the keys go once joined
        return self._merge(table, keys.collect(engine="streaming").sort("updated_at", maintain_order=True)
                           .unique(pk, keep="last", maintain_order=True), checked)

    def _merge(self, table: str, incoming: pl.DataFrame,
               rows_of: Callable[[str, pl.DataFrame], pl.DataFrame]) -> UpsertResult:
        """The one upsert into Parquet, under the table lock: `incoming` (one row per primary key, with `updated_at`
        and `__part`; whole rows or keys only) is joined to the stored keys, and every touched partition is rewritten
        alone: its kept rows plus `rows_of(partition, incoming rows to write there)`, the checked rows to write.

        Nothing is visible before the one manifest swap; a failed write (OSError, or a SchemaError from `rows_of`)
        removes the files it wrote and leaves the previous version.  Memory follows the keys and one partition."""
        spec = get_table(table)
        pk = list(spec.primary_key)
        with self._lock():
            manifest = self._manifest(table)
            files = manifest.files
            tdir = self.tables_dir / table
            for f in files.values():
                check_part(tdir / f, self.path, table)
            existing = self._existing_keys(table, files)
            crash_point("read")
            joined = incoming.join(existing.rename({"updated_at": "__old_updated"}), on=pk, how="left", nulls_equal=True)
            del incoming, existing  # the caller passes its only reference to a keys-only frame
            is_new = pl.col("__old_part").is_null()
            is_newer = pl.col("__old_updated").is_null() | (pl.col("updated_at") > pl.col("__old_updated"))
            inserts = joined.filter(is_new).drop("__old_updated", "__old_part")
            updates = joined.filter(~is_new & is_newer).drop("__old_updated")
            unchanged = joined.height - inserts.height - updates.height
            del joined
            if inserts.height == 0 and updates.height == 0:
                collect_garbage(tdir, manifest, time.time(), self.retire_after_seconds)
                return UpsertResult(table, 0, 0, unchanged, 0)
            write = pl.concat([inserts, updates.drop("__old_part")])
            touched = set(write.get_column("__part").unique().to_list()) | set(updates.get_column("__old_part").unique().to_list())
            replaced_keys = updates.select(pk)
            new_files = dict(files)
            tdir.mkdir(parents=True, exist_ok=True)
            keeper = Keeper(manifest.aggregates, client_zones(self.config), tdir)
            windows = WindowKeeper(manifest.windows, lambda part: _read_part(tdir, files, part))
            try:
                if not (tdir / MANIFEST).exists():
                    # commit the empty table first: data files without a manifest then always mean a lost manifest
                    write_manifest(tdir, table, manifest)
                for part in windows.order(touched):  # newest first while window columns are kept
                    pieces, stored = [], None
                    if part in files:
                        stored = windows.strip(pl.read_parquet(tdir / files[part]))
                        old = stored
                        if replaced_keys.height:
                            old = old.join(replaced_keys, on=pk, how="anti", nulls_equal=True)
                        pieces.append(old)
                    mine = write.filter(pl.col("__part") == part).drop("__part")
                    if mine.height:
                        pieces.append(rows_of(part, mine))
                    merged = windows.flag(part, _sorted(pl.concat(pieces, how="vertical"), spec), stored)
                    del pieces, stored
                    keeper.partition(part, merged)
                    if merged.height == 0:
                        new_files.pop(part, None)
                        continue
                    new_files[part] = _write_part(tdir, part, merged, spec)
                    del merged
                for part, rows in windows.neighbours(touched).items():  # a month whose last days' flags changed
                    keeper.partition(part, rows)
                    new_files[part] = _write_part(tdir, part, rows, spec)
                crash_point("parts-written")
                stamp = time.time()
                committed = retire(manifest, new_files, stamp, self.retire_after_seconds, keeper.section,
                                   manifest.windows)
                write_manifest(tdir, table, committed)
            except OSError as e:
                _remove_uncommitted(tdir, manifest, new_files, keeper.section)
                raise _write_failed(tdir, e) from None
            except SchemaError:
                _remove_uncommitted(tdir, manifest, new_files, keeper.section)
                raise
            crash_point("manifest-swapped")
            collect_garbage(tdir, committed, stamp, self.retire_after_seconds)
            return UpsertResult(table, inserts.height, updates.height, unchanged, len(touched))

    def _existing_keys(self, table: str, files: dict[str, str]) -> pl.DataFrame:
        """Primary key, updated_at and partition of every stored row of `table` (under the table lock)."""
        spec = get_table(table)
        pk = list(spec.primary_key)
        tdir = self.tables_dir / table
        if files:
            return pl.concat(
                [pl.scan_parquet(str(tdir / f)).select(pk + ["updated_at"]).with_columns(pl.lit(part).alias("__old_part"))
                 for part, f in files.items()]
            ).collect()
        return pl.DataFrame(schema={**{c: spec.columns[c].dtype for c in pk}, "updated_at": spec.columns["updated_at"].dtype,
                                    "__old_part": pl.String})

    def _checked(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """One partition's new rows, validated, conformed and masked as `upsert` does to its whole frame."""
        problems = validate(frame, table) + _contacts_in_hashes(frame, table)
        if table == "cost_invoices" and not problems:  # amounts that cannot be added up in the reporting currency
            problems = unconvertible(frame, self.config)
        if problems:
            raise SchemaError(f"{len(problems)} problem(s) in {table}: " + "; ".join(map(str, problems)), problems)
        frame = conform(frame, table)
        frame = frame.with_columns([mask_series(frame.get_column(c)) for c in FREE_TEXT.get(table, ())])
        pk = list(get_table(table).primary_key)
        return frame.sort("updated_at", maintain_order=True).unique(pk, keep="last", maintain_order=True)

    # ---- daily aggregates (connectors/store/aggregates.py)
    def rebuild_aggregates(self, table: str, spec: dict) -> tuple[int, int]:
        """Cut `table`'s daily aggregates afresh from every partition with `spec` (installing it: from now on every
        upsert keeps them current) in the calendar bpo.toml declares now; one manifest swap commits them.

        Returns (partitions, aggregate rows). Rows are untouched: the new manifest lists the same row files."""
        get_table(table)
        tdir = self.tables_dir / table
        zones = client_zones(self.config)
        with self._lock():
            manifest = self._manifest(table)
            files: dict[str, str] = {}
            n = 0
            try:
                for part, f in sorted(manifest.files.items()):
                    check_part(tdir / f, self.path, table)
                    agg = aggregate_rows(conform(pl.read_parquet(tdir / f), table), spec, zones)
                    n += agg.height
                    files[part] = write_aggregate(tdir, part, agg)
                crash_point("aggregates-written")
                stamp = time.time()
                new = retire(manifest, dict(manifest.files), stamp, self.retire_after_seconds,
                             {"spec": dict(spec), "zones": zones, "files": files}, manifest.windows)
                write_manifest(tdir, table, new)
            except OSError as e:
                _remove_uncommitted(tdir, manifest, {}, {"files": files})
                raise _write_failed(tdir, e) from None
            collect_garbage(tdir, new, stamp, self.retire_after_seconds)
            return len(files), n

    def install_windows(self, table: str, spec: dict | None) -> int:
        """Keep `spec`'s window columns in `table`'s rows from now on (None: keep none), rewriting every partition
        with them in one manifest swap (rows and aggregates unchanged); returns the partitions rewritten.

        Installed by the CLI from the catalog (`insights.metrics.aggregates.window_spec`), never guessed here."""
        tspec = get_table(table)
        if spec is not None:
            check_spec(spec)
        tdir = self.tables_dir / table
        with self._lock():
            manifest = self._manifest(table)
            section = {"spec": dict(spec)} if spec and spec.get("windows") else None
            files = manifest.files
            windows = WindowKeeper(section, lambda part: _read_part(tdir, files, part))
            new_files: dict[str, str] = {}
            try:
                for part in windows.order(set(files)):
                    check_part(tdir / files[part], self.path, table)
                    rows = windows.flag(part, _sorted(pl.read_parquet(tdir / files[part]), tspec))
                    new_files[part] = _write_part(tdir, part, rows, tspec)
                crash_point("parts-written")
                stamp = time.time()
                tdir.mkdir(parents=True, exist_ok=True)
                new = retire(manifest, new_files, stamp, self.retire_after_seconds, manifest.aggregates, section)
                write_manifest(tdir, table, new)
            except OSError as e:
                _remove_uncommitted(tdir, manifest, new_files)
                raise _write_failed(tdir, e) from None
            collect_garbage(tdir, new, stamp, self.retire_after_seconds)
            return len(new_files)

    def aggregates(self, table: str, scope: Scope) -> tuple[dict, pl.LazyFrame]:
        """The stored daily aggregates of `table` the viewer may see: (their spec, the rows), from one manifest.

        Refuses (`AggregatesUnavailable`, naming the rebuild command) when none were built, when they were dropped
        because bpo.toml's calendar changed, or when bpo.toml's calendar differs from the one they were cut in."""
        if not isinstance(scope, Scope):
            raise AccessDenied("every read needs the viewer's Scope; pass Scope.everything() only for admin work")
        section = self._manifest(table).aggregates
        where = f"{self.path}: the daily aggregates of '{table}'"
        rebuild = f"run '{REBUILD} --workspace {self.path}'"
        if not section:
            raise AggregatesUnavailable(f"{where} were never built; {rebuild}")
        if section.get("stale"):
            raise AggregatesUnavailable(f"{where} are out of date ({section['stale']}); {rebuild}")
        if dict(section.get("zones", {})) != client_zones(self.config):
            raise AggregatesUnavailable(f"{where} were cut in another reporting calendar than bpo.toml declares now "
                                        f"({section.get('zones')}); {rebuild}")
        tdir = self.tables_dir / table
        paths = [str(tdir / f) for f in section.get("files", {}).values()]
        for p in paths:
            check_part(Path(p), self.path, table)
        from connectors.store.aggregates import output_schema

        schema = output_schema(section["spec"])
        lf = pl.scan_parquet(paths) if paths else pl.LazyFrame(schema=schema)
        return dict(section["spec"]), lf.filter(scope.filter_expr(table))

    def repair_tables(self) -> list[RepairResult]:
        """`repair` every canonical table, then open the metadata database (which checks state.db)."""
        results = [self.repair(t) for t in TABLES]
        self.engine  # noqa: B018 - opening checks state.db and raises with the restore steps
        return results

    def repair(self, table: str) -> RepairResult:
        """Rebuild a table's manifest from the files in its folder when it is missing or corrupt.

        Every part file is read and merged, keeping the newest `updated_at` of each primary key (so
        a file left by an interrupted write, or an older version of a partition, never duplicates a
        row), and written as new files under a new manifest; the old files are retired like any
        replaced version, never overwritten.  A file that cannot be read stops the repair and is
        named: move it out (or restore it) and run the repair again.
        """
        spec = get_table(table)
        tdir = self.tables_dir / table
        with self._lock():
            try:
                self._manifest(table)
                return RepairResult(table=table, status="ok")
            except StoreDamaged as e:
                problem = str(e).split(";")[0]
            found = part_files(tdir)
            frames, bad = [], []
            for p in found:
                try:
                    frames.append(conform(pl.read_parquet(p), table))
                except Exception as e:  # noqa: BLE001 - any read failure means the file is damaged
                    bad.append(f"{p} ({type(e).__name__})")
            if bad:
                raise StoreDamaged(f"cannot repair '{table}': {len(bad)} file(s) are unreadable: {', '.join(bad[:5])}; "
                                   f"restore them from a backup of the workspace folder, or move them out of {tdir} "
                                   f"(rows only they held must then be imported or synced again) and repair again")
            pk = list(spec.primary_key)
            merged = (pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=spec.schema))
            merged = (merged.sort("updated_at", "ingested_at", nulls_last=False, maintain_order=True)
                      .unique(pk, keep="last", maintain_order=True)
                      .with_columns(_partition_expr(spec).alias("__part")))
            new_files: dict[str, str] = {}
            try:
                for (part,), rows in merged.partition_by("__part", as_dict=True, maintain_order=True).items():
                    new_files[str(part)] = _write_part(tdir, str(part), rows.drop("__part"), spec)
                now = time.time()
                # the files read are retired (kept for the grace period), not overwritten
                new = Manifest(files=new_files, retired={p.relative_to(tdir).as_posix(): now for p in found})
                write_manifest(tdir, table, new)
            except OSError as e:
                raise _write_failed(tdir, e) from None
            return RepairResult(table=table, status="rebuilt", files_read=len(found), rows=merged.height,
                                message=problem)

    # ---- metadata
    def log_import(self, *, source: str, kind: str, table: str | None, status: str, started_at: datetime,
                   content_hash: str | None = None, rows_read: int = 0, result: UpsertResult | None = None,
                   rejected: list[dict] | Iterator[list[dict]] | None = None, rejected_rows: int | None = None,
                   message: str | None = None) -> int:
        """Record one import/sync run (and its rejected rows); returns the log id.

        `rejected` is a list of problems, or chunks of them (a large file's, read back from disk one batch at a
        time) with `rejected_rows` their count of rows; one transaction stores them all."""
        from connectors.store.metadata import backup_sqlite_file, import_log, sqlite_path
        from connectors.store.metadata import rejected_rows as rejected_table

        chunks: Iterator[list[dict]] = iter([rejected or []]) if rejected is None or isinstance(rejected, list) else rejected
        if rejected_rows is None:
            listed = rejected if isinstance(rejected, list) else []
            # a file numbers its rows once, so its rejected rows are counted as rows; a sync numbers records per batch
            # (its SyncReport counts rows batch by batch), so its log keeps the count of problems
            n_rejected = rejected_row_count(listed) if kind == "file" else len(listed)
        else:
            n_rejected = rejected_rows
        with self.engine.begin() as con:
            res = con.execute(import_log.insert().values(
                started_at=started_at, finished_at=utcnow(), source=source, kind=kind, table_name=table,
                content_hash=content_hash, rows_read=rows_read,
                inserted=result.inserted if result else 0, updated=result.updated if result else 0,
                unchanged=result.unchanged if result else 0, rejected=n_rejected, status=status,
                message=mask_pii(message),
            ))
            log_id = int(res.inserted_primary_key[0])
            for chunk in chunks:
                for start in range(0, len(chunk), 10_000):
                    con.execute(rejected_table.insert(), [
                        {"import_id": log_id, "row_number": r.get("row"), "column_name": r.get("column"),
                         "value": None if r.get("value") is None else mask_pii(str(r.get("value"))),
                         "message": mask_pii(r["message"])}
                        for r in chunk[start:start + 10_000]
                    ])
        db = sqlite_path(self.config.database_url, self.path)
        if db is not None:  # today's copy follows every run, so a restore loses at most the runs since
            backup_sqlite_file(db, utcnow().strftime("%Y-%m-%d"), refresh=True)
        return log_id

    def import_history(self, limit: int = 200) -> pl.DataFrame:
        import sqlalchemy as sa
        from connectors.store.metadata import import_log

        with self.engine.connect() as con:
            rows = con.execute(sa.select(import_log).order_by(import_log.c.id.desc()).limit(limit)).mappings().all()
        return pl.DataFrame([dict(r) for r in rows], schema={c.name: _pl_type(c) for c in import_log.columns})

    def rejected(self, limit: int = 1000) -> pl.DataFrame:
        import sqlalchemy as sa
        from connectors.store.metadata import rejected_rows as rejected_table

        with self.engine.connect() as con:
            rows = con.execute(sa.select(rejected_table).order_by(rejected_table.c.id.desc()).limit(limit)).mappings().all()
        return pl.DataFrame([dict(r) for r in rows], schema={c.name: _pl_type(c) for c in rejected_table.columns})

    def get_cursor(self, source: str, stream: str) -> str | None:
        import sqlalchemy as sa
        from connectors.store.metadata import sync_state

        with self.engine.connect() as con:
            return con.execute(sa.select(sync_state.c.cursor).where(sync_state.c.source == source, sync_state.c.stream == stream)).scalar()

    def cursors(self) -> list[dict]:
        """Every saved sync cursor: source, stream, cursor, updated_at."""
        import sqlalchemy as sa
        from connectors.store.metadata import sync_state

        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(sync_state).order_by(sync_state.c.source, sync_state.c.stream)).mappings()]

    def source_status(self) -> pl.DataFrame:
        """Per declared source: kind, saved cursors and its last sync run (rows, status, retries/errors)."""
        import sqlalchemy as sa
        from connectors.store.metadata import import_log

        cursors = self.cursors()
        with self.engine.connect() as con:
            runs = {r["source"]: dict(r) for r in con.execute(
                sa.select(import_log).where(import_log.c.kind == "sync").order_by(import_log.c.id)).mappings()}
        rows = []
        for src in self.config.sources:
            name = src.get("name")
            run = runs.get(name, {})
            rows.append({
                "source": name, "kind": src.get("kind"),
                "cursors": ", ".join(f"{c['stream']}={c['cursor']}" for c in cursors if c["source"] == name) or "never synced",
                "last_run": run.get("finished_at"), "status": run.get("status"), "rows_read": run.get("rows_read"),
                "inserted": run.get("inserted"), "updated": run.get("updated"), "message": run.get("message"),
            })
        return pl.DataFrame(rows, schema={"source": pl.String, "kind": pl.String, "cursors": pl.String,
                                          "last_run": pl.Datetime("us", "UTC"), "status": pl.String, "rows_read": pl.Int64,
                                          "inserted": pl.Int64, "updated": pl.Int64, "message": pl.String})

    def set_cursor(self, source: str, stream: str, cursor: str) -> None:
        from connectors.store.metadata import sync_state

        with self.engine.begin() as con:
            n = con.execute(sync_state.update().where(sync_state.c.source == source, sync_state.c.stream == stream)
                            .values(cursor=cursor, updated_at=utcnow())).rowcount
            if not n:
                con.execute(sync_state.insert().values(source=source, stream=stream, cursor=cursor, updated_at=utcnow()))

    def put_labels(self, source: str, kind: str, names: dict[str, str], *, client_id: str | None,
                   vendor_id: str | None) -> int:
        """Store a source's names of one kind (id → name); returns how many were new or renamed.

        Agent names are refused when the workspace pseudonymises agents (the ids are hashes then, and a
        name is what pseudonymising hides)."""
        if kind == "agent" and self.config.settings.get("pseudonymise_agents") is True:
            raise ConfigError("agent names are never stored with [settings] pseudonymise_agents = true")
        import sqlalchemy as sa
        from connectors.store.metadata import labels as T

        changed = 0
        with self.engine.begin() as con:
            stored = {r.label_id: r.name for r in con.execute(sa.select(T.c.label_id, T.c.name)
                                                              .where(T.c.source == source, T.c.kind == kind))}
            for ident, name in sorted(names.items()):
                if stored.get(ident) == name:
                    continue
                values = {"name": name, "client_id": client_id, "vendor_id": vendor_id, "updated_at": utcnow()}
                if ident in stored:
                    con.execute(T.update().where(T.c.source == source, T.c.kind == kind,
                                                      T.c.label_id == ident).values(**values))
                else:
                    con.execute(T.insert().values(source=source, kind=kind, label_id=ident, **values))
                changed += 1
        return changed

    def labels(self, scope: Scope) -> dict[str, dict[str, str]]:
        """kind → {id: name} of the names the viewer may see (metadata rules: connectors/store/tenancy.py).

        Where two sources in view name one id differently, the source whose name sorts first wins (the
        same choice every run)."""
        import sqlalchemy as sa
        from connectors.store.metadata import labels as T

        with self.engine.connect() as con:
            rows = con.execute(sa.select(T.c.source, T.c.kind, T.c.label_id, T.c.client_id,
                                         T.c.vendor_id, T.c.name)).mappings().all()
        schema = {c: pl.String for c in ("source", "kind", "label_id", "client_id", "vendor_id", "name")}
        frame = tenancy.visible_labels(self, pl.DataFrame([dict(r) for r in rows], schema=schema), scope)
        out: dict[str, dict[str, str]] = {}
        for kind, ident, name in frame.sort("source", descending=True).select("kind", "label_id", "name").iter_rows():
            out.setdefault(kind, {})[ident] = name
        return out

    def table_summary(self, scope: Scope) -> pl.DataFrame:
        """Per table: rows visible to the viewer, date span and freshness (last ingested_at)."""
        rows = []
        for name, spec in TABLES.items():
            lf = self.scan(name, scope)
            aggs = [pl.len().alias("rows"), pl.col("ingested_at").max().alias("last_ingested")]
            if spec.time_column:
                aggs += [pl.col(spec.time_column).min().cast(pl.String).alias("first"),
                         pl.col(spec.time_column).max().cast(pl.String).alias("last")]
            r = lf.select(aggs).collect().to_dicts()[0]
            rows.append({"table": name, "rows": r["rows"], "first": r.get("first"), "last": r.get("last"),
                         "last_ingested": r["last_ingested"]})
        return pl.DataFrame(rows, schema={"table": pl.String, "rows": pl.Int64, "first": pl.String, "last": pl.String,
                                          "last_ingested": pl.Datetime("us", "UTC")})


def _sorted(rows: pl.DataFrame, spec) -> pl.DataFrame:
    """A partition's rows in file order: by time, then primary key (the order window columns are computed in)."""
    return rows.sort(([spec.time_column] if spec.time_column else []) + list(spec.primary_key))


def _read_part(tdir: Path, files: dict[str, str], part: str) -> pl.DataFrame | None:
    """A committed partition's rows (None: the table has no such partition)."""
    return pl.read_parquet(tdir / files[part]) if part in files else None


def _write_part(tdir: Path, part: str, rows: pl.DataFrame, spec) -> str:
    """Write one partition's rows under a fresh name (temp file, fsync, rename); returns its relative name."""
    name = f"{_part_dir(part)}/part-{uuid.uuid4().hex[:12]}.parquet"
    target = tdir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    rows = _sorted(rows, spec)
    try:
        rows.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=256_000)
    except pl.exceptions.ComputeError as e:  # polars reports a full disk as "Invalid thrift: transport error"
        tmp.unlink(missing_ok=True)
        full = shutil.disk_usage(tdir).free < max(rows.estimated_size(), 1 << 20)
        raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device" if full else str(e)) from e
    crash_point("part-tmp")
    _fsync_path(tmp)
    os.replace(tmp, target)
    crash_point("part-renamed")
    return name


def _remove_uncommitted(tdir: Path, manifest: Manifest, new_files: dict[str, str],
                        aggregates: dict | None = None) -> None:
    """After a failed write: drop this attempt's files (the committed manifest still lists the old ones)."""
    committed = set(manifest.files.values()) | set(manifest.retired) | manifest.aggregate_files
    attempted = set(new_files.values()) | set((aggregates or {}).get("files", {}).values())
    for f in attempted - committed:
        (tdir / f).unlink(missing_ok=True)
    for p in list(tdir.glob("*/*.tmp")) + list(tdir.glob("*.tmp")):
        p.unlink(missing_ok=True)


def _write_failed(tdir: Path, e: OSError) -> WorkspaceError:
    full = e.errno == errno.ENOSPC or "No space left" in str(e) or "os error 28" in str(e)  # polars' IO errors carry no errno
    why = "the disk is full" if full else (e.strerror or str(e))
    return WorkspaceError(f"could not write {tdir}: {why}; nothing was changed (the table is as it was before this "
                          f"run). Free space or fix the folder, then run the command again")


def _contacts_in_hashes(frame: pl.DataFrame, table: str) -> list:
    """A hash column holding an e-mail address or a phone number (a raw identity about to be stored)."""
    from connectors.schema import Problem

    out = []
    for c in HASH_COLUMNS.get(table, ()):
        if c in frame.columns and frame.schema[c] == pl.String:
            bad = frame.get_column(c).filter(looks_like_contact(frame.get_column(c)).fill_null(False))
            if bad.len():
                out.append(Problem(table, c, f"{bad.len()} value(s) look like an e-mail address or phone number, not a "
                                             f"hash; map the requester id to {c} so it is hashed on import (raw "
                                             f"identities are never stored)"))
    return out
