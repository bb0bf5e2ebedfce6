"""The source contract: streams, endpoints and declarative field maps; the engine (sync.py) does the rest.

A vendor file declares *what* to read (`Endpoint`) and *how each field lands in a canonical column*
(`FieldMap` of `Field`s); a `Source` yields raw `Page`s of records since a cursor.  Mapping,
validation, upserting and cursor bookkeeping belong to the engine, so every source gets them right
the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal, Protocol

import polars as pl

from connectors.schema import get_table

Paginator = Literal["cursor", "link-header", "page-number", "search-cursor", "none"]
CursorFormat = Literal["epoch", "iso"]

ROUTING_PREFIX = "_"  # FieldMap keys starting with it feed tenant routing (group, brand, tags), never the store
ALWAYS_HASHED = frozenset({"requester_hash"})  # hashed on every path, whatever a field map or preset declares


@dataclass(frozen=True)
class Endpoint:
    """One HTTP resource: where it lives, where its records sit in the body, how it pages."""

    path: str
    data_key: str | None
    paginator: Paginator
    cursor_param: str | None = None  # the incremental "since" parameter (start_time, updated_since ...)
    cursor_format: CursorFormat = "iso"
    cursor_field: str = "updated_at"  # record field that orders the stream and becomes the saved cursor
    params: Mapping[str, str | list[str]] = field(default_factory=dict)  # a list: the parameter repeated
    page_size_param: str | None = None
    page_size: int = 100
    method: Literal["GET", "POST"] = "GET"


@dataclass(frozen=True)
class Field:
    """Where a canonical column comes from in a record (dotted path), its dtype and value normalisation."""

    path: str
    dtype: pl.DataType | type[pl.DataType] = pl.String
    values: Mapping[Any, Any] | None = None  # source value -> canonical value (unlisted values kept)
    scale: float = 1.0  # numeric factor, e.g. 60 for minutes -> seconds
    hashed: bool = False  # keyed hash with the workspace key (requester ids)
    timezone: str = "UTC"  # for naive timestamps (SQL databases)


@dataclass(frozen=True)
class FieldMap:
    """A canonical table's columns, each declared as a `Field` of the source's records."""

    table: str
    fields: Mapping[str, Field]

    def __post_init__(self) -> None:
        spec = get_table(self.table)
        unknown = [c for c in self.fields if not c.startswith(ROUTING_PREFIX) and c not in spec.columns]
        if unknown:
            raise ValueError(f"FieldMap for {self.table}: unknown canonical column(s) {', '.join(unknown)}")

    def apply(self, records: list[dict], *, hasher: Callable[[str], str] | None = None,
              also_hash: frozenset[str] = frozenset()) -> MappedBatch:
        """Map raw records to a frame with the declared dtypes; unconvertible values are listed, not guessed.

        Requester ids, fields declared `hashed` and the columns in `also_hash` (agent ids when the
        workspace pseudonymises agents) are replaced by their keyed hash."""
        columns: dict[str, pl.Series] = {}
        problems: list[FieldProblem] = []
        for name, f in self.fields.items():
            parts = f.path.split(".")
            raw = [dig(r, parts) for r in records]
            if f.values is not None:
                raw = [f.values.get(_value_key(v), v) if v is not None else None for v in raw]
            converted = _fast_datetimes(raw, f) or [_convert(v, f) for v in raw]
            for i, (v, c) in enumerate(zip(raw, converted)):
                if c is _BAD:
                    problems.append(FieldProblem(i, name, v, f"cannot read {v!r} as {f.dtype}"))
            values = [None if c is _BAD else c for c in converted]
            if f.hashed or name in ALWAYS_HASHED or name in also_hash:
                if hasher is None:
                    raise ValueError(f"FieldMap for {self.table}: '{name}' is hashed; pass the workspace's hasher")
                values = [None if v is None else hasher(str(v)) for v in values]
            columns[name] = pl.Series(name, values, dtype=f.dtype if not isinstance(f.dtype, pl.Datetime) else pl.Datetime("us", "UTC"))
        return MappedBatch(pl.DataFrame(columns, height=len(records)), problems)


@dataclass(frozen=True)
class FieldProblem:
    """One value of one record that could not be converted (row is 0-based within the page)."""

    row: int
    column: str
    value: Any
    message: str


@dataclass(frozen=True)
class MappedBatch:
    frame: pl.DataFrame
    problems: list[FieldProblem]


@dataclass(frozen=True)
class Page:
    """Raw records from one request, and the stream position they reach (the cursor to save once stored)."""

    records: list[dict]
    position: datetime | None
    label: str = ""  # request description for messages (never carries secrets)


@dataclass(frozen=True)
class Stream:
    """A named stream of a source and the field map its records land through.

    A `patch` stream fills some columns of rows another stream owns (Freshdesk satisfaction
    ratings complete their tickets); the engine merges it into the stored rows and keeps those
    columns when the owning stream later brings the row again without them.  A `vendor_truth`
    patch stream's stored values also win over what the engine derives for those columns (Zendesk
    SLA breach flags beat flags derived from `sla_targets`); its `once_true` flags, once stored
    true, stay true (a breach is not undone by a later fulfilment).
    """

    name: str
    fields: FieldMap
    patch: bool = False
    vendor_truth: bool = False
    once_true: tuple[str, ...] = ()


class Source(Protocol):
    """What the engine needs from any source: its streams, and pages since a position."""

    name: str
    system: str

    def streams(self) -> tuple[Stream, ...]: ...

    def read(self, stream: str, since: datetime) -> Iterator[Page]: ...

    def stats(self) -> dict[str, int]: ...


# --------------------------------------------------------------------------- conversion

_BAD = object()


def dig(record: Any, parts: list[str]) -> Any:
    """Follow a dotted path; a missing key or a non-object on the way gives None (fields come and go)."""
    cur = record
    for p in parts:
        if isinstance(cur, dict):
            cur = cur.get(p)
        else:
            return None
        if cur is None:
            return None
    return cur


def _value_key(v: Any) -> Any:
    """Value maps are keyed by text: 2, 2.0 and "2" all find the entry "2"."""
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _convert(v: Any, f: Field) -> Any:
    if v is None or v == "":
        return None
    dt = f.dtype
    try:
        if isinstance(dt, pl.Datetime):
            return to_utc(v, f.timezone)
        if dt == pl.String:
            if isinstance(v, (list, tuple)):
                return " ".join(str(x) for x in v) or None
            if isinstance(v, dict):
                return _BAD
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            return str(v)
        if dt == pl.Boolean:
            if isinstance(v, bool):
                return v
            s = str(v).strip().lower()
            if s in ("true", "1", "yes", "t", "y"):
                return True
            if s in ("false", "0", "no", "f", "n"):
                return False
            return _BAD
        if dt == pl.Float64:
            if isinstance(v, bool):
                return _BAD
            return float(v) * f.scale
        if dt == pl.Int64:
            if isinstance(v, bool):
                return _BAD
            x = float(v) * f.scale
            return int(x) if x.is_integer() else _BAD
    except (TypeError, ValueError, OverflowError):
        return _BAD
    return _BAD


def _fast_datetimes(raw: list, f: Field) -> list | None:
    """ISO-8601 'Z' texts parsed in one vectorised pass (the common API case); None: use the general path."""
    if not isinstance(f.dtype, pl.Datetime) or not raw:
        return None
    if not all(v is None or (isinstance(v, str) and len(v) == 20 and v[-1] == "Z" and v[10] == "T") for v in raw):
        return None
    parsed = pl.Series(raw, dtype=pl.String).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC", strict=False)
    out = parsed.to_list()
    if any(o is None and v is not None for o, v in zip(out, raw)):
        return None
    return out


def to_utc(v: Any, tz: str = "UTC") -> datetime:
    """ISO-8601 text, epoch seconds or a (naive: in `tz`) datetime, as an aware UTC datetime."""
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, (int, float)):
        return datetime.fromtimestamp(float(v), tz=timezone.utc)
    if isinstance(v, datetime):
        d = v
    elif isinstance(v, date):
        d = datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        s = v.strip()
        d = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
    else:
        raise ValueError(v)
    if d.tzinfo is None:
        from zoneinfo import ZoneInfo

        d = d.replace(tzinfo=ZoneInfo(tz))
    return d.astimezone(timezone.utc)


def iso(d: datetime) -> str:
    """A UTC timestamp as the cursor text saved in state.db (second precision is not enough: keep micros)."""
    s = d.astimezone(timezone.utc).isoformat()
    return s.replace("+00:00", "Z")
