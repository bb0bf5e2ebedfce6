"""The canonical tables in a SQL database (`[store] url`): table definitions, idempotent upserts, scoped reads.

    wh = Warehouse("postgresql+psycopg://bpo@db/bpo", table_prefix="bpo_")
    wh.create_tables()
    copy_workspace(ws, wh)                                  # Parquet -> database, idempotent
    rows = wh.fetch(sa.select(sa.func.count()).select_from(wh.table("tickets")))

Timestamps are stored as naive UTC (`TIMESTAMP WITHOUT TIME ZONE`, MariaDB `DATETIME(6)`): the database
never converts time zones (MariaDB here has no time-zone tables), and every period reaches it as a UTC
range.  An upsert is one transaction: the batch goes to a temporary table, rows whose `updated_at` is
newer replace the stored ones, new keys are inserted, the rest is left alone; re-running it writes
nothing.  DuckDB has no SQLAlchemy dialect installed here, so statements for a `duckdb:///file` URL are
compiled with a PostgreSQL-flavoured dialect named `duckdb` and run through the duckdb module.
"""
from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from connectors.errors import ConfigError, WarehouseUnreachable, WorkspaceError
from connectors.schema import TABLES, conform, get_table
from connectors.store.scope import Scope

KEY_LENGTH = 100  # VARCHAR length of string key columns: MariaDB indexes at most 3072 bytes per key
WORK_TABLES = ("tickets", "contact_intervals", "qa_evaluations", "staffing_roster", "cost_invoices")
BATCH_ROWS = 250_000


class DuckDBDialect(postgresql.dialect):  # type: ignore[misc, valid-type]
    """Compiles Core statements for DuckDB (PostgreSQL syntax, `$n` parameters); `@compiles(..., "duckdb")` hooks in."""

    name = "duckdb"

    def __init__(self) -> None:
        super().__init__(paramstyle="numeric_dollar")


def _sa_type(dtype: pl.DataType, key: bool) -> Any:
    if dtype == pl.String:
        return sa.String(KEY_LENGTH) if key else sa.Text()
    if dtype == pl.Float64:
        return sa.Double()
    if dtype == pl.Int64:
        return sa.BigInteger()
    if dtype == pl.Boolean:
        return sa.Boolean()
    if dtype == pl.Date:
        return sa.Date()
    if isinstance(dtype, pl.Datetime):
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    raise TypeError(f"no SQL type for canonical dtype {dtype}")  # the schema only uses the types above


def _columns(name: str) -> list[sa.Column]:
    spec = get_table(name)
    return [sa.Column(c, _sa_type(col.dtype, c in spec.primary_key), primary_key=c in spec.primary_key,
                      nullable=c not in spec.primary_key)
            for c, col in spec.columns.items()]


class Warehouse:
    """A SQL database holding the canonical tables (named `table_prefix + table`, in `schema` when given)."""

    def __init__(self, url: str | sa.URL, *, table_prefix: str = "", schema: str | None = None):
        self.url = sa.make_url(url)
        self.table_prefix = table_prefix
        self.schema = schema
        self.metadata = sa.MetaData(schema=schema)
        self.tables = {t: sa.Table(table_prefix + t, self.metadata, *_columns(t)) for t in TABLES}
        self.is_duckdb = self.url.drivername.startswith("duckdb")
        self._engine: sa.Engine | None = None
        self._duck: Any = None

    def __repr__(self) -> str:
        return f"Warehouse({self.url.render_as_string(hide_password=True)!r}, table_prefix={self.table_prefix!r})"

    # ---- connection
    @property
    def dialect(self) -> sa.Dialect:
        return DuckDBDialect() if self.is_duckdb else self.engine.dialect

    @property
    def engine(self) -> sa.Engine:
        if self.is_duckdb:
            raise WorkspaceError("a duckdb warehouse has no SQLAlchemy engine here; use fetch/execute")
        if self._engine is None:
            # PostgreSQL's JIT compiles the wide CASE/aggregate expressions of a KPI query anew each time: 3.1 s of a
            # 10.8 s weekly cube at 1M tickets (EXPLAIN ANALYZE), more than it saves at these sizes
            args = {"options": "-c jit=off"} if self.url.get_backend_name() == "postgresql" else {}
            self._engine = sa.create_engine(self.url, pool_pre_ping=True, connect_args=args)
        return self._engine

    @property
    def duck(self) -> Any:
        if self._duck is None:
            import duckdb

            self._duck = duckdb.connect(self.url.database or ":memory:")
        return self._duck

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Database errors as a WarehouseUnreachable naming the warehouse (never a traceback)."""
        try:
            yield
        except sa.exc.DBAPIError as e:
            raise WarehouseUnreachable(f"the [store] warehouse {self!r} failed: {str(e.orig).strip().splitlines()[0]}; "
                                       "check that it is up, the [store] url and password_env (tables missing: run "
                                       "'bpo-insights store load'), then run again "
                                       "(writes are one transaction: nothing of this batch was stored)") from None
        except Exception as e:
            if "duckdb" in type(e).__module__:
                raise WarehouseUnreachable(f"the [store] warehouse {self!r} failed: {e}; check the file and run again "
                                           "(nothing of this batch was stored)") from None
            raise

    def table(self, name: str) -> sa.Table:
        get_table(name)
        return self.tables[name]

    def compile(self, stmt: Any) -> tuple[str, list[Any]]:
        """The SQL text and positional parameters of `stmt` for DuckDB."""
        compiled = stmt.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        return str(compiled), [params[p] for p in (getattr(compiled, "positiontup", None) or ())]

    def fetch(self, stmt: sa.Executable) -> list[tuple]:
        """Run a SELECT and return its rows (aggregates: thousands of rows, not millions)."""
        with self._reaching():
            if self.is_duckdb:
                sql, params = self.compile(stmt)
                return [tuple(r) for r in self.duck.execute(sql, params).fetchall()]
            with self.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(stmt).all()]

    # ---- tables
    def create_tables(self, names: Iterable[str] = tuple(TABLES)) -> None:
        """Create the canonical tables that do not exist yet."""
        wanted = [self.tables[n] for n in names]
        with self._reaching():
            if self.is_duckdb:
                for t in wanted:
                    self.duck.execute(str(sa.schema.CreateTable(t, if_not_exists=True).compile(dialect=self.dialect)))
                return
            self.metadata.create_all(self.engine, tables=wanted)

    def drop_tables(self) -> None:
        """Drop every canonical table of this prefix (tests and benchmarks clean up with it)."""
        with self._reaching():
            if self.is_duckdb:
                for t in self.tables.values():
                    self.duck.execute(str(sa.schema.DropTable(t, if_exists=True).compile(dialect=self.dialect)))
                return
            self.metadata.drop_all(self.engine)

    def row_count(self, name: str) -> int:
        return int(self.fetch(sa.select(sa.func.count()).select_from(self.table(name)))[0][0])

    # ---- writing
    def upsert(self, name: str, frame: pl.DataFrame) -> tuple[int, int, int]:
        """Insert new keys, replace rows whose `updated_at` is newer, leave the rest: one transaction.

        Returns (inserted, updated, unchanged).  Idempotent: the same batch again changes nothing.
        """
        spec = get_table(name)
        frame = _db_frame(conform(frame, name), name)
        frame = frame.sort("updated_at", maintain_order=True).unique(list(spec.primary_key), keep="last",
                                                                      maintain_order=True)
        target = self.table(name)
        stage_md = sa.MetaData()
        stage = sa.Table(f"bpo_stage_{uuid.uuid4().hex[:12]}", stage_md,
                         *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in target.columns],
                         prefixes=["TEMPORARY"])  # its key makes the lookups below index probes (MariaDB nests loops)
        match = sa.and_(*[stage.c[k] == target.c[k] for k in spec.primary_key])
        newer = sa.and_(match, stage.c.updated_at > target.c.updated_at)
        count_matched = sa.select(sa.func.count()).select_from(stage).where(sa.exists().where(match))
        count_newer = sa.select(sa.func.count()).select_from(stage).where(sa.exists().where(newer))
        # a multi-table DELETE (PostgreSQL/DuckDB: USING, MariaDB: DELETE FROM t USING t, s) walks the batch and probes the
        # table's key; DELETE ... WHERE EXISTS would walk the whole table
        delete = sa.delete(target).where(newer)
        insert = target.insert().from_select(
            [c.name for c in stage.columns],
            sa.select(*stage.columns).where(~sa.exists().where(match)))
        with self._reaching():
            return self._upsert(frame, stage, count_matched, count_newer, delete, insert)

    def _upsert(self, frame: pl.DataFrame, stage: sa.Table, *stmts: sa.Executable) -> tuple[int, int, int]:
        if self.is_duckdb:
            return self._upsert_duckdb(frame, stage, *stmts)
        count_matched, count_newer, delete, insert = stmts
        with self.engine.begin() as conn:
            stage.create(conn)
            self._fill(conn, stage, frame)
            matched = int(conn.execute(count_matched).scalar_one())
            updated = int(conn.execute(count_newer).scalar_one())
            conn.execute(delete)
            conn.execute(insert)
            if conn.dialect.name in ("mysql", "mariadb"):
                conn.execute(sa.text(f"DROP TEMPORARY TABLE {stage.name}"))  # plain DROP TABLE would commit
            else:
                stage.drop(conn)
        return frame.height - matched, updated, matched - updated

    def _fill(self, conn: sa.Connection, stage: sa.Table, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            buf = io.BytesIO()
            frame.write_csv(buf, include_header=False, null_value="\\N")
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                with cur.copy(f"COPY {stage.name} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                    copy.write(buf.getvalue())
            return
        for chunk in frame.iter_slices(20_000):
            conn.execute(stage.insert(), chunk.to_dicts())

    def _upsert_duckdb(self, frame: pl.DataFrame, stage: sa.Table, *stmts: sa.Executable) -> tuple[int, int, int]:
        con = self.duck
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(str(sa.schema.CreateTable(stage).compile(dialect=self.dialect)))
            con.register("__bpo_batch", frame.to_arrow())
            con.execute(f"INSERT INTO {stage.name} SELECT * FROM __bpo_batch")
            con.unregister("__bpo_batch")
            count_matched, count_newer, delete, insert = stmts
            matched = int(con.execute(*self.compile(count_matched)).fetchone()[0])
            updated = int(con.execute(*self.compile(count_newer)).fetchone()[0])
            con.execute(*self.compile(delete))
            con.execute(*self.compile(insert))
            con.execute(f"DROP TABLE {stage.name}")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        return frame.height - matched, updated, matched - updated


def _db_frame(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Timestamps as naive UTC, columns in table order."""
    spec = get_table(name)
    return frame.select([
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None) if isinstance(col.dtype, pl.Datetime) else pl.col(c)
        for c, col in spec.columns.items()])


def scope_clause(name: str, scope: Scope, table: sa.FromClause) -> sa.ColumnElement[bool]:
    """The SQL twin of `Scope.filter_expr` for a work table: the rows the viewer may see (deny by default)."""
    if name not in WORK_TABLES:
        raise WorkspaceError(f"{name}: scoped warehouse reads cover the work tables ({', '.join(WORK_TABLES)})")
    spec = get_table(name)
    clauses: list[sa.ColumnElement[bool]] = []
    if scope.clients is not None:
        c = table.c.client_id.in_(sorted(scope.clients)) if scope.clients else sa.false()
        clauses.append(sa.or_(c, table.c.client_id.is_(None)) if spec.shared_when_client_null else c)
    if scope.vendors is not None:
        v = table.c.vendor_id.in_(sorted(scope.vendors)) if scope.vendors else sa.false()
        clauses.append(v if spec.columns["vendor_id"].required else sa.or_(v, table.c.vendor_id.is_(None)))
    return sa.and_(sa.true(), *clauses)


def copy_workspace(ws: Any, warehouse: Warehouse, tables: Sequence[str] = tuple(TABLES), *,
                   batch_rows: int = BATCH_ROWS) -> dict[str, tuple[int, int, int]]:
    """Copy a workspace's canonical tables into the warehouse (idempotent; one transaction per batch).

    Returns table -> (inserted, updated, unchanged) summed over its batches.
    """
    warehouse.create_tables(tables)
    out: dict[str, tuple[int, int, int]] = {}
    for name in tables:
        frame = ws.read(name, Scope.everything())
        total = (0, 0, 0)
        for batch in frame.iter_slices(batch_rows) if frame.height else [frame]:
            got = warehouse.upsert(name, batch)
            total = (total[0] + got[0], total[1] + got[1], total[2] + got[2])
        out[name] = total
    return out


def open_store(url: str, *, password_env: str | None, table_prefix: str = "", schema: str | None = None,
               environ: dict[str, str] | None = None, where: str = "bpo.toml") -> Warehouse:
    """The warehouse of `[store]`, its password taken from the environment variable `password_env`."""
    import os

    env = os.environ if environ is None else environ
    sa_url = sa.make_url(url)
    if password_env:
        password = env.get(password_env)
        if not password:
            raise ConfigError(f"{where}: [store] password_env names ${password_env}, which is not set; "
                              "export it with the warehouse password")
        sa_url = sa_url.set(password=password)
    return Warehouse(sa_url, table_prefix=table_prefix, schema=schema)
