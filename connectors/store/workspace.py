"""The workspace: canonical tables as Parquet, upserted by primary key, plus a metadata database.

```
workspace/
  bpo.toml          settings, tenants, users and their scopes, sources
  tables/<table>/   month=YYYY-MM/part-*.parquet, listed by _manifest.json
  state.db          SQLite (or `database_url`): import log, rejected rows, sync cursors
```

Writes are atomic: new partition files are written under fresh names, then the table's manifest
is replaced in one `os.replace`; a crash before that leaves the previous manifest, so readers see
the store exactly as it was.  Every read of canonical data goes through `Workspace.scan`, which
takes the viewer's `Scope` and filters before anything is computed (deny by default).
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import polars as pl
import sqlalchemy as sa

from connectors.errors import AccessDenied, SchemaError, WorkspaceError
from connectors.schema import TABLES, conform, get_table, validate

from connectors.store.config import Config, parse_config, unconvertible
from connectors.store.metadata import import_log, metadata, rejected_rows, sync_state
from connectors.store import tenancy
from connectors.store.scope import Scope
from connectors.store.tables import (DEFAULT_WORKSPACE, MANIFEST, _atomic_write, _fsync_path, _part_dir,
                                     _partition_expr, _pl_type, pq_rows)


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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Workspace:
    """A workspace folder. `Workspace.open(path)` for an existing one, `Workspace.create` to make one."""

    def __init__(self, path: Path | str, config: Config | None = None):
        self.path = Path(path)
        self.tables_dir = self.path / "tables"
        self.config = config if config is not None else parse_config(self.path / "bpo.toml")
        self._engine: sa.Engine | None = None

    # ---- lifecycle
    @classmethod
    def open(cls, path: Path | str | None = None) -> "Workspace":
        p = Path(path or os.environ.get("BPO_WORKSPACE") or DEFAULT_WORKSPACE)
        if not (p / "bpo.toml").exists():
            raise WorkspaceError(
                f"no workspace at '{p}' (bpo.toml missing); create one with 'bpo-insights sample --out {p}' "
                f"or pass --workspace DIR"
            )
        return cls(p)

    @classmethod
    def create(cls, path: Path | str, toml_text: str) -> "Workspace":
        p = Path(path)
        (p / "tables").mkdir(parents=True, exist_ok=True)
        _atomic_write(p / "bpo.toml", toml_text.encode("utf-8"))
        return cls(p)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.config.database_url or f"sqlite:///{(self.path / 'state.db').resolve()}"
            self._engine = sa.create_engine(url)
            metadata.create_all(self._engine)
        return self._engine

    # ---- reading (the one choke point for canonical data)
    def files(self, table: str) -> dict[str, str]:
        """partition -> file name, as listed by the table's manifest."""
        get_table(table)
        m = self.tables_dir / table / MANIFEST
        if not m.exists():
            return {}
        return json.loads(m.read_text())["files"]

    def scan(self, table: str, scope: Scope, *, columns: list[str] | None = None) -> pl.LazyFrame:
        """Canonical rows of `table` the viewer may see, as a LazyFrame (filtered before anything else)."""
        if not isinstance(scope, Scope):
            raise AccessDenied("every read needs the viewer's Scope; pass Scope.everything() only for admin work")
        spec = get_table(table)
        paths = [str(self.tables_dir / table / f) for f in self.files(table).values()]
        if not paths:
            lf = pl.LazyFrame(schema=spec.schema)
        else:
            lf = pl.scan_parquet(paths)
        lf = lf.filter(tenancy.visible(self, table, scope))  # metadata rows too: every tenant they name
        if columns is not None:
            lf = lf.select(columns)
        return lf

    def read(self, table: str, scope: Scope, *, columns: list[str] | None = None) -> pl.DataFrame:
        return self.scan(table, scope, columns=columns).collect()

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

    def upsert(self, table: str, frame: pl.DataFrame) -> UpsertResult:
        """Insert new keys, replace rows whose `updated_at` is newer, leave the rest untouched.

        Idempotent: upserting the same rows again writes nothing.  Atomic: a crash leaves the
        previous version of the table.
        """
        spec = get_table(table)
        if "ingested_at" not in frame.columns or frame.get_column("ingested_at").null_count():
            now = pl.lit(utcnow(), dtype=pl.Datetime("us", "UTC"))
            frame = frame.with_columns(
                (pl.col("ingested_at").fill_null(now) if "ingested_at" in frame.columns else now).alias("ingested_at")
            )
        if "updated_at" not in frame.columns:
            frame = frame.with_columns(pl.col("ingested_at").alias("updated_at"))
        frame = frame.with_columns(pl.col("updated_at").fill_null(pl.col("ingested_at")))
        problems = validate(frame, table)
        if table == "cost_invoices" and not problems:  # amounts that cannot be added up in the reporting currency
            problems = unconvertible(frame, self.config)
        if problems:
            raise SchemaError(f"{len(problems)} problem(s) in {table}: " + "; ".join(map(str, problems)), problems)
        frame = conform(frame, table)
        pk = list(spec.primary_key)
        frame = frame.sort("updated_at", maintain_order=True).unique(pk, keep="last", maintain_order=True)
        frame = frame.with_columns(_partition_expr(spec).alias("__part"))

        with self._lock():
            files = self.files(table)
            tdir = self.tables_dir / table
            if files:
                existing = pl.concat(
                    [
                        pl.scan_parquet(str(tdir / f)).select(pk + ["updated_at"]).with_columns(pl.lit(part).alias("__old_part"))
                        for part, f in files.items()
                    ]
                ).collect()
            else:
                existing = pl.DataFrame(schema={**{c: spec.columns[c].dtype for c in pk}, "updated_at": spec.columns["updated_at"].dtype, "__old_part": pl.String})
            joined = frame.join(existing.rename({"updated_at": "__old_updated"}), on=pk, how="left", nulls_equal=True)
            is_new = pl.col("__old_part").is_null()
            is_newer = pl.col("__old_updated").is_null() | (pl.col("updated_at") > pl.col("__old_updated"))
            inserts = joined.filter(is_new)
            updates = joined.filter(~is_new & is_newer)
            unchanged = joined.height - inserts.height - updates.height
            if inserts.height == 0 and updates.height == 0:
                self._collect_garbage(table, files)
                return UpsertResult(table, 0, 0, unchanged, 0)
            write = pl.concat([inserts, updates]).drop("__old_updated")
            touched = set(write.get_column("__part").unique().to_list()) | set(updates.get_column("__old_part").unique().to_list())
            replaced_keys = updates.select(pk)
            new_files = dict(files)
            tdir.mkdir(parents=True, exist_ok=True)
            for part in sorted(touched):
                pieces = []
                if part in files:
                    old = pl.read_parquet(tdir / files[part])
                    if replaced_keys.height:
                        old = old.join(replaced_keys, on=pk, how="anti", nulls_equal=True)
                    pieces.append(old)
                pieces.append(write.filter(pl.col("__part") == part).drop("__part", "__old_part"))
                merged = pl.concat(pieces, how="vertical")
                if merged.height == 0:
                    new_files.pop(part, None)
                    continue
                sort_cols = ([spec.time_column] if spec.time_column else []) + pk
                merged = merged.sort(sort_cols)
                name = f"{_part_dir(part)}/part-{uuid.uuid4().hex[:12]}.parquet"
                target = tdir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".tmp")
                merged.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=256_000)
                _fsync_path(tmp)
                os.replace(tmp, target)
                new_files[part] = name
            _atomic_write(tdir / MANIFEST, json.dumps({"table": table, "files": dict(sorted(new_files.items()))}, indent=1).encode())
            self._collect_garbage(table, new_files)
            return UpsertResult(table, inserts.height, updates.height, unchanged, len(touched))

    def _collect_garbage(self, table: str, files: dict[str, str]) -> None:
        """Remove part files no manifest lists (left by a replaced version or a crash)."""
        tdir = self.tables_dir / table
        keep = {str(tdir / f) for f in files.values()}
        for p in list(tdir.glob("*/part-*")) + list(tdir.glob("*.tmp")):
            if str(p) not in keep:
                p.unlink(missing_ok=True)
        for d in tdir.glob("*/"):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()

    # ---- metadata
    def log_import(self, *, source: str, kind: str, table: str | None, status: str, started_at: datetime,
                   content_hash: str | None = None, rows_read: int = 0, result: UpsertResult | None = None,
                   rejected: list[dict] | None = None, message: str | None = None) -> int:
        """Record one import/sync run (and its rejected rows); returns the log id."""
        rejected = rejected or []
        with self.engine.begin() as con:
            res = con.execute(import_log.insert().values(
                started_at=started_at, finished_at=utcnow(), source=source, kind=kind, table_name=table,
                content_hash=content_hash, rows_read=rows_read,
                inserted=result.inserted if result else 0, updated=result.updated if result else 0,
                unchanged=result.unchanged if result else 0, rejected=len(rejected), status=status, message=message,
            ))
            log_id = int(res.inserted_primary_key[0])
            if rejected:
                con.execute(rejected_rows.insert(), [
                    {"import_id": log_id, "row_number": r.get("row"), "column_name": r.get("column"),
                     "value": None if r.get("value") is None else str(r.get("value")), "message": r["message"]}
                    for r in rejected
                ])
        return log_id

    def import_history(self, limit: int = 200) -> pl.DataFrame:
        with self.engine.connect() as con:
            rows = con.execute(sa.select(import_log).order_by(import_log.c.id.desc()).limit(limit)).mappings().all()
        return pl.DataFrame([dict(r) for r in rows], schema={c.name: _pl_type(c) for c in import_log.columns})

    def rejected(self, limit: int = 1000) -> pl.DataFrame:
        with self.engine.connect() as con:
            rows = con.execute(sa.select(rejected_rows).order_by(rejected_rows.c.id.desc()).limit(limit)).mappings().all()
        return pl.DataFrame([dict(r) for r in rows], schema={c.name: _pl_type(c) for c in rejected_rows.columns})

    def get_cursor(self, source: str, stream: str) -> str | None:
        with self.engine.connect() as con:
            return con.execute(sa.select(sync_state.c.cursor).where(sync_state.c.source == source, sync_state.c.stream == stream)).scalar()

    def cursors(self) -> list[dict]:
        """Every saved sync cursor: source, stream, cursor, updated_at."""
        with self.engine.connect() as con:
            return [dict(r) for r in con.execute(sa.select(sync_state).order_by(sync_state.c.source, sync_state.c.stream)).mappings()]

    def source_status(self) -> pl.DataFrame:
        """Per declared source: kind, saved cursors and its last sync run (rows, status, retries/errors)."""
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
        with self.engine.begin() as con:
            n = con.execute(sync_state.update().where(sync_state.c.source == source, sync_state.c.stream == stream)
                            .values(cursor=cursor, updated_at=utcnow())).rowcount
            if not n:
                con.execute(sync_state.insert().values(source=source, stream=stream, cursor=cursor, updated_at=utcnow()))

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
