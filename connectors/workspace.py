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
import tomllib
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import polars as pl
import sqlalchemy as sa

from connectors.errors import AccessDenied, ConfigError, SchemaError, WorkspaceError
from connectors.schema import TABLES, Problem, conform, get_table, validate

DEFAULT_WORKSPACE = "workspace"
MANIFEST = "_manifest.json"
UNPARTITIONED = "all"


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class Scope:
    """What a viewer may see. `None` means every value; an empty set means nothing (the default)."""

    clients: frozenset[str] | None = frozenset()
    vendors: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> "Scope":
        return cls(clients=None, vendors=None)

    @classmethod
    def of(cls, clients=None, vendors=None) -> "Scope":
        """Build from lists; `None` or '*' means every value."""
        def norm(v):
            if v is None or v == "*" or (isinstance(v, (list, tuple, set, frozenset)) and "*" in v):
                return None
            return frozenset([v] if isinstance(v, str) else v)
        return cls(clients=norm(clients), vendors=norm(vendors))

    def narrow(self, clients=None, vendors=None) -> "Scope":
        """Intersect with a filter (a filter can only narrow what the viewer may see)."""
        def meet(allowed, wanted):
            if wanted is None:
                return allowed
            wanted = frozenset([wanted] if isinstance(wanted, str) else wanted)
            return wanted if allowed is None else allowed & wanted
        return Scope(meet(self.clients, clients), meet(self.vendors, vendors))

    def allows(self, client_id: str | None, vendor_id: str | None = None) -> bool:
        ok_c = self.clients is None or client_id in self.clients
        ok_v = self.vendors is None or vendor_id is None or vendor_id in self.vendors
        return ok_c and ok_v

    @property
    def key(self) -> str:
        """A stable string for cache keys."""
        f = lambda s: "*" if s is None else ",".join(sorted(s))  # noqa: E731
        return f"clients={f(self.clients)};vendors={f(self.vendors)}"

    def filter_expr(self, table: str) -> pl.Expr:
        spec = get_table(table)
        if self.clients is None:
            e = pl.lit(True)
        else:
            e = pl.col("client_id").is_in(sorted(self.clients))
            if spec.shared_when_client_null:
                e = e | pl.col("client_id").is_null()
        if self.vendors is not None:
            v = pl.col("vendor_id").is_in(sorted(self.vendors))
            if not spec.columns["vendor_id"].required:
                v = v | pl.col("vendor_id").is_null()
            e = e & v
        return e


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class User:
    name: str
    role: str  # admin | brand | vendor
    scope: Scope


FX_RATE_KEYS = ("currency", "rate", "from")


@dataclass(frozen=True, kw_only=True)
class FxRate:
    """One dated exchange rate from bpo.toml `[[fx_rate]]`: 1 `currency` = `rate` reporting-currency units from `valid_from` on."""

    currency: str
    rate: float
    valid_from: date


def rate_in_force(rates: Sequence[FxRate], currency: str, on: date) -> FxRate | None:
    """The `currency` rate with the latest `valid_from` on or before `on` (None when none is in force)."""
    live = [r for r in rates if r.currency == currency and r.valid_from <= on]
    return max(live, key=lambda r: r.valid_from) if live else None


def unconvertible(lines: pl.DataFrame, config: Config, *, shown: int = 5) -> list[Problem]:
    """Invoice lines with no currency, or in a currency with no `[[fx_rate]]` in force on their `period_start`."""
    if "currency" not in lines.columns or "period_start" not in lines.columns:
        return []
    pairs = lines.select("currency", pl.col("period_start").cast(pl.Date)).unique().drop_nulls("period_start")
    bad = {(c, d) for c, d in pairs.iter_rows()
           if c is None or (c != config.currency and rate_in_force(config.fx_rates, c, d) is None)}
    if not bad:
        return []
    at = lines.with_row_index("__row").filter(pl.struct("currency", pl.col("period_start").cast(pl.Date)).map_elements(
        lambda v: (v["currency"], v["period_start"]) in bad, return_dtype=pl.Boolean))
    out = []
    for row in at.head(shown).iter_rows(named=True):
        code, day = row["currency"], row["period_start"]
        out.append(Problem("cost_invoices", "currency", f"no currency; fill it ({config.currency} or the code billed)"
                           if code is None else f"{code} has no [[fx_rate]] in force on {day}; add [[fx_rate]] currency = "
                           f"\"{code}\", rate = <{config.currency} per 1 {code}>, from = {day} (or earlier) to bpo.toml",
                           row["__row"]))
    return out


def _fx_rates(items: Any, reporting: str, problems: list[str]) -> tuple[FxRate, ...]:
    """Parse `[[fx_rate]]` tables strictly; each problem names the entry, the key and the fix."""
    if not isinstance(items, list):
        problems.append("'fx_rate' must be an array of tables: write each rate as [[fx_rate]] currency, rate, from")
        return ()
    rates: list[FxRate] = []
    seen: set[tuple[str, date]] = set()
    for i, item in enumerate(items):
        where = f"[[fx_rate]] #{i + 1}"
        if not isinstance(item, dict):
            problems.append(f"{where}: not a table; write currency = \"PHP\", rate = 0.0172, from = 2026-07-01")
            continue
        unknown = sorted(set(item) - set(FX_RATE_KEYS))
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(FX_RATE_KEYS)}")
        missing = [k for k in FX_RATE_KEYS if k not in item]
        if missing:
            problems.append(f"{where}: '{missing[0]}' is missing; every rate needs {', '.join(FX_RATE_KEYS)}")
            continue
        code, rate, start = item["currency"], item["rate"], item["from"]
        ok = True
        if not (isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper()):
            problems.append(f"{where}: currency {code!r} is not an ISO 4217 code; write it as three capitals (\"PHP\")")
            ok = False
        elif code == reporting:
            problems.append(f"{where}: currency {code} is the workspace's reporting currency; remove the entry")
            ok = False
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            problems.append(f"{where}: rate {rate!r} must be a positive number ({reporting} per 1 {code})")
            ok = False
        if isinstance(start, datetime) or not isinstance(start, date):
            problems.append(f"{where}: from {start!r} is not a date; write a bare TOML date (from = 2026-07-01)")
            ok = False
        if not ok:
            continue
        if (code, start) in seen:
            problems.append(f"{where}: a second {code} rate from {start}; keep one rate per currency and date")
            continue
        seen.add((code, start))
        rates.append(FxRate(currency=code, rate=float(rate), valid_from=start))
    return tuple(sorted(rates, key=lambda r: (r.currency, r.valid_from)))


@dataclass
class Config:
    """The parsed bpo.toml."""

    name: str = "bpo-insights workspace"
    database_url: str | None = None
    currency: str = "USD"
    clients: list[dict] = field(default_factory=list)
    vendors: list[dict] = field(default_factory=list)
    sites: list[dict] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    fx_rates: tuple[FxRate, ...] = ()
    raw: dict = field(default_factory=dict)

    def user(self, name: str) -> User:
        for u in self.users:
            if u.name == name:
                return u
        raise AccessDenied(f"user '{name}' is not declared in bpo.toml; add a [[user]] entry with its clients and vendors")

    def site(self, site_id: str) -> dict:
        return next((s for s in self.sites if s.get("id") == site_id), {})


def parse_config(path: Path) -> Config:
    """Read bpo.toml; every problem is listed in one ConfigError."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; create a workspace with 'bpo-insights sample --out {path.parent}' or write bpo.toml") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the syntax") from None
    problems: list[str] = []
    ws = raw.get("workspace", {})
    users = []
    for i, u in enumerate(raw.get("user", [])):
        name = u.get("name")
        if not name:
            problems.append(f"[[user]] #{i + 1}: 'name' is missing")
            continue
        role = u.get("role", "brand")
        if role not in ("admin", "brand", "vendor"):
            problems.append(f"[[user]] '{name}': role '{role}' is not one of admin, brand, vendor")
        if role == "admin":
            scope = Scope.everything()
        else:
            if "clients" not in u:
                problems.append(f"[[user]] '{name}': 'clients' is missing (list client ids, or [\"*\"])")
            scope = Scope.of(u.get("clients", []), u.get("vendors", "*"))
        users.append(User(name, role, scope))
    for kind in ("client", "vendor", "site"):
        for i, item in enumerate(raw.get(kind, [])):
            if not item.get("id"):
                problems.append(f"[[{kind}]] #{i + 1}: 'id' is missing")
    currency = ws.get("currency", "USD")
    fx_rates = _fx_rates(raw.get("fx_rate", []), currency, problems)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return Config(
        name=ws.get("name", "bpo-insights workspace"),
        database_url=ws.get("database_url") or None,
        currency=currency,
        clients=raw.get("client", []),
        vendors=raw.get("vendor", []),
        sites=raw.get("site", []),
        users=users,
        sources=raw.get("source", []),
        settings=raw.get("settings", {}),
        fx_rates=fx_rates,
        raw=raw,
    )


# --------------------------------------------------------------------------- metadata db

metadata = sa.MetaData()

import_log = sa.Table(
    "import_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("source", sa.String(200), nullable=False),  # file path or source name
    sa.Column("kind", sa.String(40), nullable=False),  # file | sync | sample
    sa.Column("table_name", sa.String(40)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("rows_read", sa.Integer, default=0),
    sa.Column("inserted", sa.Integer, default=0),
    sa.Column("updated", sa.Integer, default=0),
    sa.Column("unchanged", sa.Integer, default=0),
    sa.Column("rejected", sa.Integer, default=0),
    sa.Column("status", sa.String(20), nullable=False),  # ok | partial | failed
    sa.Column("message", sa.Text),
)

rejected_rows = sa.Table(
    "rejected_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("import_log.id"), nullable=False),
    sa.Column("row_number", sa.Integer),
    sa.Column("column_name", sa.String(100)),
    sa.Column("value", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)


# --------------------------------------------------------------------------- store


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
        lf = lf.filter(scope.filter_expr(table))
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


def pq_rows(path: str) -> int:
    return pl.scan_parquet(path).select(pl.len()).collect().item()


def _pl_type(c: sa.Column) -> Any:
    t = c.type
    if isinstance(t, sa.Integer):
        return pl.Int64
    if isinstance(t, sa.DateTime):
        return pl.Datetime("us", "UTC")
    return pl.String


def _partition_expr(spec) -> pl.Expr:
    if spec.time_column is None:
        return pl.lit(UNPARTITIONED)
    return pl.col(spec.time_column).dt.strftime("%Y-%m").fill_null("unknown")


def _part_dir(part: str) -> str:
    return UNPARTITIONED if part == UNPARTITIONED else f"month={part}"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
