"""SQL databases as sources: any SQLAlchemy URL, read in batches, incremental by a cursor column.

A preset (`sql_presets/<name>.toml`: Chatwoot, Zammad, osTicket, FreeScout) holds the query over
the product's published tables and the field map of its result; a table already in the canonical
shape needs only `table = "..."` (and `columns` to rename).  Every query is wrapped as

    SELECT * FROM (<query>) q WHERE q.<cursor> >= :since ORDER BY q.<cursor>, q.<id>

and streamed with a server-side cursor, one page per `batch_rows` rows.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from connectors.base import ROUTING_PREFIX, Field, FieldMap, Page, Stream, dig, to_utc
from connectors.errors import ConfigError, SourceUnreachable
from connectors.schema import get_table

PRESETS_DIR = Path(__file__).with_name("sql_presets")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SqlPreset:
    """A product's query (with `{p}` for the schema/table prefix), cursor and id columns, field map."""

    name: str
    system: str
    query: str
    cursor: str
    id: str
    fields: FieldMap
    default_prefix: str = ""


@cache
def preset_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))


def load_preset(name: str, *, timezone: str = "UTC") -> SqlPreset:
    """Read `sql_presets/<name>.toml`: `[preset]` query/cursor/id and `[fields]` canonical = column or table."""
    raw = tomllib.loads((PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    p = raw["preset"]
    return SqlPreset(name, p.get("system", name), p["query"], p["cursor"], p["id"],
                     field_map(raw["fields"], timezone=timezone), p.get("default_prefix", ""))


def field_map(spec: dict[str, Any], *, timezone: str = "UTC", table: str = "tickets") -> FieldMap:
    """A FieldMap from TOML: `col = "source"` or `col = {path = "source", values = {...}, scale = 60, hashed = true}`."""
    schema = get_table(table).columns
    fields = {}
    for canon, f in spec.items():
        f = {"path": f} if isinstance(f, str) else dict(f)
        dtype = pl.String if canon.startswith(ROUTING_PREFIX) else schema[canon].dtype
        fields[canon] = Field(f["path"], dtype, values=f.get("values"), scale=float(f.get("scale", 1.0)),
                              hashed=bool(f.get("hashed", False)), timezone=timezone)
    return FieldMap(table=table, fields=fields)


def custom_preset(settings: dict[str, Any], *, timezone: str) -> SqlPreset:
    """A table or query already (nearly) in the canonical shape: `columns` renames, the rest is 1:1."""
    renames: dict[str, str] = dict(settings.get("columns") or {})
    if settings.get("query"):
        query = settings["query"]
    else:
        table = settings["table"]
        if not all(_IDENT.match(part) for part in table.split(".")):
            raise ConfigError(f"source '{settings.get('name')}': table '{table}' is not a plain (schema.)table name")
        query = f"SELECT * FROM {{p}}{table}"
    spec = get_table("tickets")
    fields = {c: renames.get(c, c) for c in spec.columns if c not in ("source_system", "source_instance", "ingested_at",
                                                                          "client_id", "vendor_id", "site_id")}
    fields.update({k: v for k, v in renames.items() if k.startswith(ROUTING_PREFIX)})
    cursor = settings.get("cursor_column", renames.get("updated_at", "updated_at"))
    ident = settings.get("id_column", renames.get("ticket_id", "ticket_id"))
    return SqlPreset("custom", settings.get("system", "sql"), query, cursor, ident, field_map(fields, timezone=timezone))


class SqlSource:
    """Rows of one query, in cursor order, a batch per page."""

    def __init__(self, name: str, engine: sa.Engine, preset: SqlPreset, *, prefix: str, batch_rows: int,
                 timezone: str, url_label: str) -> None:
        self.name = name
        self.system = preset.system
        self.engine = engine
        self.preset = preset
        self.prefix = prefix
        self.batch_rows = batch_rows
        self.tz = ZoneInfo(timezone)
        self.url_label = url_label
        self._queries = 0
        self._present: set[str] | None = None

    def streams(self) -> tuple[Stream, ...]:
        return (Stream("tickets", self.preset.fields),)

    def read(self, stream: str, since: datetime) -> Iterator[Page]:
        p = self.preset
        sql = sa.text(f"SELECT * FROM ({p.query.format(p=self.prefix)}) q "
                      f"WHERE q.{p.cursor} >= :since ORDER BY q.{p.cursor}, q.{p.id}")
        since_local = since.astimezone(self.tz).replace(tzinfo=None)
        label = f"{self.name}: query on {self.url_label}"
        try:
            with self.engine.connect() as con:
                self._queries += 1
                result = con.execution_options(stream_results=True, yield_per=self.batch_rows).execute(
                    sql, {"since": since_local})
                for part in result.mappings().partitions(self.batch_rows):
                    recs = [dict(r) for r in part]
                    yield Page(recs, self._position(recs), label)
        except sa.exc.OperationalError as e:
            raise SourceUnreachable(f"{label} failed: {_first_line(e)}; check that the database is up and the URL "
                                    f"in bpo.toml") from None
        except sa.exc.ProgrammingError as e:
            raise ConfigError(f"{label} failed: {_first_line(e)}; check schema/table_prefix and that the "
                              f"'{p.name}' tables exist") from None

    def _position(self, records: list[dict]) -> datetime | None:
        vals = [dig(r, [self.preset.cursor]) for r in records]
        stamps = [to_utc(v, str(self.tz)) for v in vals if v is not None]
        return max(stamps) if stamps else None

    def stats(self) -> dict[str, int]:
        return {"requests": self._queries}

    def close(self) -> None:
        self.engine.dispose()


def open_sql_source(name: str, settings: dict[str, Any], *, password: str | None, batch_rows: int) -> SqlSource:
    """Connect (lazily) to the configured database and pick the preset or the canonical-shape table."""
    url = sa.make_url(settings["url"])
    if password:
        url = url.set(password=password)
    timezone = settings.get("timezone", "UTC")
    preset = load_preset(settings["preset"], timezone=timezone) if settings.get("preset") else \
        custom_preset({**settings, "name": name}, timezone=timezone)
    prefix = ""
    if settings.get("schema"):
        if not _IDENT.match(settings["schema"]):
            raise ConfigError(f"source '{name}': schema '{settings['schema']}' is not a plain identifier")
        prefix = f"{settings['schema']}."
    tp = settings.get("table_prefix", preset.default_prefix)
    if tp and not _IDENT.match(tp):
        raise ConfigError(f"source '{name}': table_prefix '{tp}' is not a plain identifier")
    prefix += tp
    engine = sa.create_engine(url, pool_pre_ping=True)
    label = url.render_as_string(hide_password=True)
    return SqlSource(name, engine, preset, prefix=prefix, batch_rows=batch_rows, timezone=timezone, url_label=label)


def _first_line(e: Exception) -> str:
    orig = getattr(e, "orig", None) or e
    return str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__
