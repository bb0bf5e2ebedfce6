"""Mapping files: how a source layout becomes a canonical table (DESIGN §5).

```toml
[mapping]
table = "tickets"                    # canonical table
timezone = "America/Chicago"         # for timestamps that carry no offset (default UTC)
ambiguous = "earliest"               # a local time the autumn change repeats: error (default) | earliest | latest
nonexistent = "shift"                # a local time the spring change skips: error (default) | shift
datetime_format = "%d/%m/%Y %H:%M"   # optional; otherwise inferred per column, ambiguity is an error
null_values = ["?", "", "N/A"]
source_system = "servicenow"         # lineage (default "file")
delimiter = ";"                      # optional; otherwise ',' for .csv and tab for .tsv
event_log = { id = "number", status = "state", at = "sys_updated_on" }   # one row per change: see below
[mapping.columns]                    # canonical column = source column
ticket_id = "number"
[mapping.columns.requester_hash]     # or a table: the source column and its own null values
from = "caller"                      # (applied before combining, as the global ones are)
null_values = ["0", "anonymous"]
[mapping.values.channel]             # normalise source values (case-insensitive)
"Phone" = "voice"
[mapping.values.handled_by]          # one source column may feed two canonical ones (handled_by = "Source")
"Bot" = "bot"                        # "*" maps every other value; "" leaves it empty (unknown)
"*" = ""
[mapping.units]                      # durations given in other units: seconds | minutes | hours
first_response_seconds = "minutes"
[mapping.constants]                  # fill columns for a whole file
client_id = "acme"
[mapping.combine]                    # a source column built from others, joined with a space
Interval = ["DATE", "HALF HOUR"]     # (then map interval_start = "Interval")
[mapping.totals.handle_seconds]      # exports that give averages: sum = average x count
average = "Average handle time"
count = "Contacts handled"
unit = "seconds"                     # of the average (seconds | minutes | hours | days | hh:mm:ss)
```

A mapping file may start from a built-in preset with `extends = "five9_intervals"` under
[mapping] and override only what differs (typically `timezone`).  Durations written as
"HH:MM:SS" use the unit "hh:mm:ss".

Local interval times: when the table's time column is part of its primary key (contact
intervals) and the times carry no offset, the hour repeated when clocks go back is told apart by
order: within each queue/channel/direction, the first 01:00 is daylight time and the second is
standard time, so neither interval is lost nor doubled.  Times in the hour skipped in spring do
not exist and are reported as bad values.

Event logs (`event_log`): one row per change of each ticket becomes one ticket (`derive.collapse_event_log`)
with its own times where the log maps them (first created_at, last resolved_at/closed_at when its last
state is solved/closed), its last status translated by [mapping.values.status] like any status, and
reopens counted over the state changes.  Optional lists `solved`, `closed` and `responded` (event values
that are agent replies) say which events are which.

Built-in presets are mapping files under `connectors/presets/`; presets set `lenient = true` so a
vendor export that lacks an optional column still imports (a user mapping naming an absent
column is an error: it is almost always a typo).
"""

from __future__ import annotations

import itertools
import re
import difflib
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from connectors.errors import ConfigError, SchemaError
from connectors.files import ROW, RawFile, read_bytes
from connectors.schema import TABLES, UTC, VOCABULARY, Table, get_table
from connectors.schema import TENANT as TENANT_COLUMNS

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_NULLS = ("", "N/A", "NA", "n/a", "NULL", "null", "None", "-")
UNITS = {"milliseconds": 0.001, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0, "hh:mm:ss": 1.0}
CLOCK_UNITS = ("hours", "minutes", "hh:mm:ss")  # units whose values may be written as HH:MM:SS
TRUE = {"true", "t", "yes", "y", "1", "1.0"}
FALSE = {"false", "f", "no", "n", "0", "0.0"}
# filled by the importer itself, never required from a source
LINEAGE = ("source_system", "source_instance", "ingested_at", "updated_at")
TENANT = tuple(TENANT_COLUMNS)
TENANT_FLAGS = {"client_id": "--client", "vendor_id": "--vendor", "site_id": "--site"}
# normalised like a code: lower case, spaces to underscores
AMBIGUOUS = ("error", "earliest", "latest")
"""[mapping] ambiguous: a local time that happens twice (clocks go back) is an error, the first or the second."""
NONEXISTENT = ("error", "shift")
"""[mapping] nonexistent: a local time that never happens (clocks go forward) is an error, or read with the offset
in force before the change (02:30 in the skipped hour is 03:30 after it)."""
CODE_COLUMNS = ("channel", "status", "priority", "direction", "billing_model", "kind", "role",
                "termination_type", "handled_by", "survey_type")


@dataclass(frozen=True)
class EventLog:
    """A source with one row per status change; collapsed to one row per ticket."""

    id: str
    status: str
    at: str
    responded: tuple[str, ...] = ("responded", "replied", "agent_reply", "first_response")
    solved: tuple[str, ...] = ("solved", "resolved")
    closed: tuple[str, ...] = ("closed",)


@dataclass(frozen=True)
class Total:
    """A sum the export gives as an average: average (in `unit`) x count."""

    average: str
    count: str
    unit: str = "seconds"

    @property
    def column(self) -> str:
        return f"{self.average} x {self.count}"


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file (or preset)."""

    name: str
    table: str
    columns: dict[str, str]
    timezone: str = "UTC"
    datetime_format: str | None = None
    null_values: tuple[str, ...] = DEFAULT_NULLS
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)
    source_system: str = "file"
    delimiter: str | None = None
    event_log: EventLog | None = None
    lenient: bool = False
    combine: dict[str, tuple[str, ...]] = field(default_factory=dict)
    totals: dict[str, Total] = field(default_factory=dict)
    column_nulls: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical -> its own null values
    ambiguous: str = "error"  # a local time the autumn change repeats: error | earliest | latest
    nonexistent: str = "error"  # a local time the spring change skips: error | shift

    @property
    def spec(self) -> Table:
        return get_table(self.table)

    @property
    def canonical(self) -> bool:
        """A built-in canonical layout: the file's header must be canonical column names."""
        return Path(self.name).stem == f"canonical_{self.table}"


@dataclass(frozen=True)
class RowProblem:
    """One bad cell or row: 1-based spreadsheet row (header = row 1), source column, value, what to do."""

    row: int | None
    column: str | None
    value: str | None
    message: str

    def describe(self, file: str, row_word: str = "row") -> str:
        where = file if self.row is None else f"{file} {row_word} {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        value = "" if self.value is None else f"'{self.value}' "
        return f"{where}: {value}{self.message}"

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message}


# --------------------------------------------------------------------------- loading


def load_mapping(path: Path) -> Mapping:
    """Parse and validate a mapping TOML file; every problem is listed in one ConfigError."""
    path = Path(path)
    data = read_bytes(path, error=ConfigError, what="mapping file")
    try:
        raw = tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (a mapping is a TOML text file); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the syntax") from None
    return parse_mapping(raw, name=path.name)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_summaries() -> dict[str, str]:
    """Each built-in preset's name -> one line saying what export it reads (the first sentence of its file's comment)."""
    out = {}
    for name in preset_names():
        lines = (PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines()
        head = " ".join(line.lstrip("#").strip() for line in itertools.takewhile(lambda x: x.startswith("#"), lines))
        first = re.split(r"\.\s|\s\(|:\s", head, maxsplit=1)[0].strip().rstrip(".")
        out[name] = first or name
    return out


def load_preset(name: str) -> Mapping:
    """A built-in layout by name (`zendesk`, `freshdesk`, `canonical_tickets` ...)."""
    aliases = {"zendesk": "zendesk_tickets", "freshdesk": "freshdesk_tickets", "canonical": "canonical_tickets"}
    path = PRESETS_DIR / f"{aliases.get(name, name)}.toml"
    if not path.exists():
        raise ConfigError(f"unknown preset '{name}'; built-in presets are: {', '.join(preset_names())} "
                          f"(or write a mapping file and pass --mapping FILE)")
    return load_mapping(path)


def parse_mapping(raw: dict, *, name: str) -> Mapping:
    """Build a Mapping from parsed TOML, collecting every problem before raising."""
    m = raw.get("mapping")
    problems: list[str] = []
    if not isinstance(m, dict):
        raise ConfigError(f"{name}: no [mapping] table; start the file with [mapping] and table = \"tickets\"")
    if "extends" in m:
        m = _extend(m, name)
    table = m.get("table")
    if table not in TABLES:
        raise ConfigError(f"{name}: [mapping] table = {table!r} is not a canonical table; use one of {', '.join(TABLES)}")
    spec = get_table(table)
    columns: dict[str, str] = {}
    column_nulls: dict[str, tuple[str, ...]] = {}
    for canon, src in m.get("columns", {}).items():
        if isinstance(src, dict):  # [mapping.columns.<canon>] from = "...", null_values = [...]
            unknown = sorted(set(src) - {"from", "null_values"})
            nulls = src.get("null_values", [])
            if not isinstance(src.get("from"), str) or unknown:
                problems.append(f"[mapping.columns.{canon}] needs from = \"<source column>\" and optionally "
                                f"null_values = [...]" + (f" (unknown key(s): {', '.join(unknown)})" if unknown else ""))
                continue
            if not isinstance(nulls, list) or not all(isinstance(v, str) for v in nulls):
                problems.append(f"[mapping.columns.{canon}] null_values must be a list of strings, e.g. [\"0\", \"anonymous\"]")
                continue
            column_nulls[canon] = tuple(nulls)
            src = src["from"]
        if canon not in spec.columns:
            problems.append(f"[mapping.columns] '{canon}' is not a column of {table} (columns: {', '.join(spec.columns)})")
        elif not isinstance(src, str):
            problems.append(f"[mapping.columns] {canon} must be a source column name (a string), got {src!r}")
        else:
            columns[canon] = src
    global_nulls = m.get("null_values", DEFAULT_NULLS)
    if not isinstance(global_nulls, list | tuple) or not all(isinstance(v, str) for v in global_nulls):
        problems.append("[mapping] null_values must be a list of strings, e.g. [\"?\", \"\", \"N/A\"]")
        global_nulls = DEFAULT_NULLS
    for key, allowed in (("ambiguous", AMBIGUOUS), ("nonexistent", NONEXISTENT)):
        if m.get(key, "error") not in allowed:
            problems.append(f"[mapping] {key} = {m[key]!r}; use one of {', '.join(allowed)}")
    for section in ("values", "units", "constants", "totals"):
        for canon in m.get(section, {}):
            if canon not in spec.columns:
                problems.append(f"[mapping.{section}] '{canon}' is not a column of {table}")
    for canon, unit in m.get("units", {}).items():
        if unit not in UNITS:
            problems.append(f"[mapping.units] {canon} = {unit!r}; use one of {', '.join(UNITS)}")
    for canon, vmap in m.get("values", {}).items():
        if not isinstance(vmap, dict) or not all(isinstance(v, str) for v in vmap.values()):
            problems.append(f"[mapping.values.{canon}] must map source values to canonical strings")
    tz = m.get("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"[mapping] timezone = {tz!r} is not an IANA time zone (e.g. 'America/Chicago', 'UTC')")
    fmt = m.get("datetime_format")
    if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
        problems.append(f"[mapping] datetime_format = {fmt!r} is not a strftime format such as '%d/%m/%Y %H:%M'")
    event_log = None
    if "event_log" in m:
        ev = m["event_log"]
        missing = [k for k in ("id", "status", "at") if not isinstance(ev, dict) or k not in ev]
        if missing:
            problems.append(f"[mapping] event_log needs {', '.join(missing)} (source columns), e.g. "
                            "event_log = {id = \"number\", status = \"state\", at = \"changed_at\"}")
        elif table != "tickets":
            problems.append("[mapping] event_log only applies to table = \"tickets\"")
        else:
            extra = {k: tuple(_code(str(x)) for x in ev[k]) for k in ("responded", "solved", "closed") if k in ev}
            event_log = EventLog(id=ev["id"], status=ev["status"], at=ev["at"], **extra)
    combine = {}
    for new, parts in m.get("combine", {}).items():
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            problems.append(f"[mapping.combine] {new} must be a list of source column names, e.g. [\"DATE\", \"HALF HOUR\"]")
        else:
            combine[new] = tuple(parts)
    totals = {}
    for canon, t in m.get("totals", {}).items():
        if not isinstance(t, dict) or not isinstance(t.get("average"), str) or not isinstance(t.get("count"), str):
            problems.append(f"[mapping.totals.{canon}] needs average = \"<source column>\" and count = \"<source column>\"")
        elif t.get("unit", "seconds") not in UNITS:
            problems.append(f"[mapping.totals.{canon}] unit = {t['unit']!r}; use one of {', '.join(UNITS)}")
        else:
            totals[canon] = Total(t["average"], t["count"], t.get("unit", "seconds"))
            columns = {**columns, canon: totals[canon].column}
    if problems:
        raise ConfigError(f"{name}: {len(problems)} problem(s): " + "; ".join(problems))
    return Mapping(
        name=name, table=table, columns=dict(columns), timezone=tz, datetime_format=fmt,
        null_values=tuple(global_nulls), column_nulls=column_nulls,
        ambiguous=m.get("ambiguous", "error"), nonexistent=m.get("nonexistent", "error"),
        values={k: {str(a): b for a, b in v.items()} for k, v in m.get("values", {}).items()},
        units=dict(m.get("units", {})), constants=dict(m.get("constants", {})),
        source_system=m.get("source_system", "file"), delimiter=m.get("delimiter"),
        event_log=event_log, lenient=bool(m.get("lenient", False)), combine=combine, totals=totals,
    )


def _extend(m: dict, name: str) -> dict:
    """The preset named by `extends`, with this file's [mapping] keys (and sub-table entries) on top."""
    base_name = m["extends"]
    path = PRESETS_DIR / f"{base_name}.toml"
    if not isinstance(base_name, str) or not path.exists():
        raise ConfigError(f"{name}: extends = {base_name!r} is not a built-in preset; use one of {', '.join(preset_names())}")
    base = dict(tomllib.loads(path.read_text(encoding="utf-8"))["mapping"])
    for key, value in m.items():
        if key == "extends":
            continue
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


# --------------------------------------------------------------------------- applying


def check_columns(raw: RawFile, m: Mapping, *, tenant: dict[str, str | None],
                  frame: pl.DataFrame | None = None) -> dict[str, str]:
    """canonical -> source column actually present; SchemaError listing EVERY missing column.

    `frame` is the source after `prepare_source` (computed columns from [mapping.combine],
    [mapping.totals] and local interval times); default `raw.frame`.
    """
    if m.canonical:
        _refuse_unknown_columns(raw, m)
    problems: list[str] = _missing_inputs(raw.frame, m)
    present = set((raw.frame if frame is None else frame).columns) - {ROW}
    used: dict[str, str] = {}
    filled = {k for k, v in tenant.items() if v is not None} | set(m.constants)
    for canon, src in m.columns.items():
        if src in present:
            used[canon] = src
        elif canon in filled:
            continue
        elif canon in TENANT and canon in m.spec.required:
            problems.append(f"{canon} (no column '{src}'; map a column under [mapping.columns], set {canon} under "
                            f"[mapping.constants], or pass {TENANT_FLAGS[canon]})")
        elif not m.lenient or (canon in m.spec.required and canon not in LINEAGE):
            problems.append(f"'{src}' (mapped to {canon} under [mapping.columns])")
    if m.event_log:
        for key in ("id", "status", "at"):
            src = getattr(m.event_log, key)
            if src not in present:
                problems.append(f"'{src}' (event_log {key} under [mapping])")
    provided = set(used) | filled | set(LINEAGE)
    if m.event_log:
        provided |= {"ticket_id", "created_at"}
    for canon in m.spec.required:
        if canon in provided or canon in m.columns:
            continue
        if canon in TENANT:
            problems.append(f"{canon} (map a column under [mapping.columns], set {canon} under "
                            f"[mapping.constants], or pass {TENANT_FLAGS[canon]})")
        else:
            problems.append(f"{canon} (set {canon} = \"<source column>\" under [mapping.columns])")
    if problems:
        cols = ", ".join(f"'{c}'" for c in raw.frame.columns if c != ROW)
        raise SchemaError(
            f"{raw.path.name}: missing required column(s) for {m.table} ({m.name}): " + "; ".join(problems)
            + f". The file has: {cols}", problems)
    return used


def _refuse_unknown_columns(raw: RawFile, m: Mapping) -> None:
    """A canonical file names canonical columns only: a misspelt one would otherwise be dropped without a word."""
    unknown = [c for c in raw.frame.columns if c != ROW and c not in m.spec.columns]
    if not unknown:
        return
    problems = []
    for c in unknown:
        close = did_you_mean(c, list(m.spec.columns))
        problems.append(f"'{c}' ({f'did you mean {close!r}?' if close else f'not a column of {m.table}'})")
    raise SchemaError(
        f"{raw.path.name}: unknown column(s) for a canonical {m.table} file: {'; '.join(problems)}. Rename them to "
        f"the canonical names (README, 'Canonical schema'), remove them, or import the file with --mapping FILE "
        f"that maps the file's own names", problems)


def did_you_mean(word: str, choices: list[str]) -> str | None:
    """The choice `word` most likely misspells or abbreviates (`first_response_s` -> `first_response_seconds`)."""
    w = word.strip().lower()
    starts = sorted((c for c in choices if c.startswith(w)), key=len)
    if starts:
        return starts[0]
    close = difflib.get_close_matches(w, choices, n=1, cutoff=0.6)
    return close[0] if close else None


# Values an export commonly uses for a canonical code, offered as the likely fix
USUAL_MEANING = {"medium": "normal", "med": "normal", "critical": "urgent", "phone": "voice", "call": "voice",
                 "telephone": "voice", "sms": "messaging", "whatsapp": "messaging", "web": "web_form",
                 "form": "web_form", "portal": "web_form", "mail": "email", "hold": "on_hold", "resolved": "solved",
                 "in_progress": "open", "assigned": "open", "waiting": "pending", "cancelled": "closed"}


def vocabulary_problems(frame: pl.DataFrame, m: Mapping, used: dict[str, str]) -> list[RowProblem]:
    """Rows whose channel, status or priority is outside the canonical vocabulary, each with the mapping fix."""
    out: list[RowProblem] = []
    vocab = VOCABULARY.get(m.table, {})
    rows = frame.get_column(ROW)
    for canon, allowed in vocab.items():
        if canon not in frame.columns or frame.schema[canon] != pl.String:
            continue
        source = m.event_log.status if canon == "status" and m.event_log else used.get(canon, canon)
        s = frame.get_column(canon)
        for i in (s.is_not_null() & ~s.is_in(list(allowed))).arg_true().to_list():
            value = str(s[i])
            guess = USUAL_MEANING.get(value) if USUAL_MEANING.get(value) in allowed else did_you_mean(value, list(allowed))
            target = guess or ("other" if "other" in allowed else f"<one of {', '.join(allowed)}>")
            fix = f"[mapping.values.{canon}] \"{value}\" = \"{target}\""
            if m.canonical:
                fix = (f"correct the file, or import it with --mapping FILE holding [mapping] extends = "
                       f"\"{Path(m.name).stem}\" and {fix}")
            else:
                fix = f"say what it means in the mapping: {fix}"
            out.append(RowProblem(int(rows[i]), source, value,
                                  f"is not a {canon} bpo-insights knows ({', '.join(allowed)}); {fix}"))
    return out


def looks_like_placeholder(s: pl.Series, timezone: str) -> pl.Series:
    """Timestamps an export writes for 'no value': before 2000, or exactly midnight in the file's time zone (0:00:00)."""
    if not isinstance(s.dtype, pl.Datetime):
        return pl.Series([False] * s.len())
    local = s.dt.convert_time_zone(timezone) if s.dtype.time_zone else s
    midnight = (local.dt.hour() == 0) & (local.dt.minute() == 0) & (local.dt.second() == 0)
    return (midnight | (local.dt.year() < 2000)).fill_null(False)


def placeholder_fix(m: Mapping, canon: str) -> str:
    """The mapping lines that turn a placeholder in `canon`'s source column(s) into an empty value."""
    src = m.columns.get(canon, canon)
    parts = m.combine.get(src)
    where = f" (it is combined from {', '.join(repr(p) for p in parts)}: the null values apply to each part)" if parts else ""
    return (f"the value looks like a placeholder for 'none yet' (such as 0:00:00 or 1900-01-01), not a time: list the "
            f"placeholder as a null value of this column, [mapping.columns.{canon}] from = \"{src}\", null_values = "
            f"[\"<the placeholder as the file writes it>\"]{where}, or empty those cells")


def event_log_hint(m: Mapping, used: dict[str, str]) -> str:
    """For a ticket file whose ids repeat: the [mapping] line that reads it as an event log (README, "Event logs")."""
    if m.table != "tickets" or m.event_log is not None:
        return ""
    ident = used.get("ticket_id", "<ticket id column>")
    status = used.get("status", "<status column>")
    at = used.get("updated_at", "<column with the time of each change, e.g. sys_updated_on>")
    return (f"; if the file is an event log (one row per change of each ticket, e.g. a ServiceNow audit export), add "
            f"under [mapping]: event_log = {{ id = \"{ident}\", status = \"{status}\", at = \"{at}\" }} to collapse "
            f"it to one row per ticket (README, \"Event logs\")")


def _missing_inputs(frame: pl.DataFrame, m: Mapping) -> list[str]:
    """Source columns that [mapping.combine] and [mapping.totals] read but the file lacks."""
    present = set(frame.columns)
    out = [f"'{c}' (combined into '{new}' under [mapping.combine])"
           for new, parts in m.combine.items() for c in parts if c not in present]
    if not m.lenient:
        out += [f"'{c}' (read for {canon} under [mapping.totals])"
                for canon, t in m.totals.items() for c in (t.average, t.count) if c not in present]
    return out


def source_nulls(m: Mapping) -> dict[str, tuple[str, ...]]:
    """Source column -> the null values of the canonical column(s) it feeds, the parts of a combined column included."""
    out: dict[str, tuple[str, ...]] = {}
    for canon, nulls in m.column_nulls.items():
        src = m.columns.get(canon)
        for c in (src, *m.combine.get(src or "", ())):
            if c:
                out[c] = tuple(dict.fromkeys((*out.get(c, ()), *nulls)))
    return out


def _clean_columns(frame: pl.DataFrame, nulls: dict[str, tuple[str, ...]]) -> pl.DataFrame:
    """Cells of each column (trimmed, as text) listed among its null values become null; other cells stay as they are."""
    exprs = []
    for c, values in nulls.items():
        if c in frame.columns and c != ROW and values:
            col = pl.col(c)
            text = col.cast(pl.String).str.strip_chars()
            if frame.schema[c].is_float():  # a spreadsheet's 0 arrives as 0.0: compare it as written, "0"
                text = pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.String)).otherwise(text)
            exprs.append(pl.when(text.is_in(list(values))).then(None).otherwise(pl.col(c)).alias(c))
    return frame.with_columns(exprs) if exprs else frame


def prepare_source(frame: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    """Per-column null values, then computed source columns: combined columns, sums from averages, local interval times.

    The parts of a combined column are cleaned of null values (the mapping's and their column's own) before they
    are joined, and a combined value with an empty part is empty: a date whose time is a placeholder is unknown,
    not midnight.
    """
    frame = _clean_columns(frame, source_nulls(m))
    for new, parts in m.combine.items():
        if all(p in frame.columns for p in parts):
            frame = _clean_columns(frame, {p: m.null_values for p in parts})
            frame = frame.with_columns(pl.concat_str([pl.col(p).cast(pl.String).str.strip_chars() for p in parts],
                                                     separator=" ").alias(new))
    for canon, t in m.totals.items():
        if t.average in frame.columns and t.count in frame.columns:
            frame = frame.with_columns(_total(frame, t).alias(t.column))
    if _local_key_times(frame, m):
        frame = _resolve_repeated_local_times(frame, m)
    return frame


def _total(frame: pl.DataFrame, t: Total) -> pl.Series:
    """average x count; an empty average over zero contacts is 0, over some contacts unknown (null)."""
    rows = frame.get_column(ROW) if ROW in frame.columns else pl.Series(ROW, range(frame.height))
    avg, _ = _to_number(clean_nulls(frame.select(t.average), DEFAULT_NULLS).to_series(), pl.Float64, rows, t.average,
                        UNITS[t.unit], hms=t.unit in CLOCK_UNITS)
    count, _ = _to_number(clean_nulls(frame.select(t.count), DEFAULT_NULLS).to_series(), pl.Float64, rows, t.count,
                          1.0, hms=False)
    return pl.select(pl.when(count == 0).then(pl.lit(0.0)).otherwise(avg * count)).to_series()


def _local_key_times(frame: pl.DataFrame, m: Mapping) -> bool:
    """Does the file key rows by a local wall-clock time (the autumn hour repeats)?"""
    spec = m.spec
    src = m.columns.get(spec.time_column or "")
    return (m.timezone != "UTC" and spec.time_column in spec.primary_key and src in frame.columns
            and frame.schema[src] == pl.String)


def _resolve_repeated_local_times(frame: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    """Rewrite local interval times as UTC; the n-th row of a repeated local time (per key) gets the n-th instant."""
    spec = m.spec
    src = m.columns[spec.time_column]
    text = frame.get_column(src)
    if text.str.strip_chars().str.contains(r"(?i)(Z|[+-]\d\d:?\d\d|UTC|GMT)$").any():
        return frame  # the export gives offsets: nothing is ambiguous
    rows = frame.get_column(ROW) if ROW in frame.columns else pl.Series(ROW, range(frame.height))
    wall, _ = parse_datetimes(clean_nulls(frame.select(src), m.null_values).to_series(), rows=rows, column=src,
                              fmt=m.datetime_format, timezone="UTC")
    keys = [m.columns[c] for c in spec.primary_key
            if c != spec.time_column and m.columns.get(c) in frame.columns]
    nth = frame.select(pl.int_range(pl.len()).over([*keys, wall.dt.replace_time_zone(None).alias("__wall")])).to_series()
    local = pl.select(wall.dt.replace_time_zone(None).dt.replace_time_zone(
        m.timezone, ambiguous=pl.when(nth == 0).then(pl.lit("earliest")).otherwise(pl.lit("latest")),
        non_existent="null").dt.convert_time_zone("UTC")).to_series()
    fixed = pl.select(pl.when(local.is_not_null()).then(local.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
                      .otherwise(text)).to_series()
    return frame.with_columns(fixed.alias(src))


def clean_nulls(frame: pl.DataFrame, null_values: tuple[str, ...]) -> pl.DataFrame:
    """Trim text cells and turn the mapping's null markers into nulls."""
    exprs = []
    for c, dtype in frame.schema.items():
        if dtype == pl.String:
            e = pl.col(c).str.strip_chars()
            exprs.append(pl.when(e.is_in(list(null_values))).then(None).otherwise(e).alias(c))
    return frame.with_columns(exprs) if exprs else frame


def map_values(s: pl.Series, vmap: dict[str, str], canon: str) -> pl.Series:
    """Apply a value map case-insensitively; unmatched values pass through (codes normalised).

    The key "*" maps every value no other key names (`"*" = ""` under [mapping.values.handled_by]
    with `"Bot" = "bot"`: a bot's tickets say so, the rest stay unknown); a value mapped to "" is empty.
    """
    if s.dtype != pl.String:
        s = _as_text(s)
    vmap = dict(vmap)
    rest = vmap.pop("*", None)
    code = canon in CODE_COLUMNS  # codes match their map key however spelt: "On Hold", "on-hold", "on_hold"
    lower = {(_code(k) if code else k.strip().lower()): v for k, v in vmap.items()}
    low = s.str.to_lowercase()
    if code:
        low = low.str.strip_chars().str.replace_all(r"[\s\-]+", "_")
    other = s if rest is None else pl.when(s.is_null()).then(s).otherwise(pl.lit(rest))
    out = pl.select(pl.when(low.is_in(list(lower))).then(low.replace(lower)).otherwise(other)).to_series()
    if canon in CODE_COLUMNS:
        out = out.str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    if "" in lower.values() or rest == "":
        out = pl.select(pl.when(out == "").then(None).otherwise(out)).to_series()
    return out.alias(s.name)


def _code(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def convert(s: pl.Series, dtype: pl.DataType, *, rows: pl.Series, column: str, unit: str | None = None,
            datetime_format: str | None = None, timezone: str = "UTC", file: str = "",
            non_negative: bool = False, ambiguous: str = "error", nonexistent: str = "error",
            date_choice: DateChoice | None = None) -> tuple[pl.Series, list[RowProblem]]:
    """Convert one source column to a canonical dtype; every unparseable cell becomes a RowProblem.

    `date_choice` fixes the date format a text column was found to have as a whole (a file read in batches)."""
    if isinstance(dtype, pl.Datetime):
        return parse_datetimes(s, rows=rows, column=column, fmt=datetime_format, timezone=timezone, file=file,
                               ambiguous=ambiguous, nonexistent=nonexistent, choice=date_choice)
    if dtype == pl.Date:
        out, problems = parse_datetimes(s, rows=rows, column=column, fmt=datetime_format, timezone="UTC", file=file,
                                        choice=date_choice)
        return out.dt.date(), problems
    if dtype == pl.String:
        return _as_text(s), []
    if dtype == pl.Boolean:
        return _to_bool(s, rows, column)
    if dtype.is_numeric():
        out, problems = _to_number(s, dtype, rows, column, UNITS[unit] if unit else 1.0, hms=unit in CLOCK_UNITS)
        if non_negative:
            problems += [RowProblem(int(rows[i]), column, str(s[i]), "is negative; durations and counts cannot be "
                                    "negative: fix the value in the source")
                         for i in (out < 0).fill_null(False).arg_true().to_list()]
        return out, problems
    raise ValueError(f"no conversion to {dtype}")


def _as_text(s: pl.Series) -> pl.Series:
    if s.dtype.is_float():
        whole = s.is_not_null() & (s == s.round(0))
        if bool(whole.all() or s.null_count() == s.len()):
            return s.cast(pl.Int64).cast(pl.String)
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.to_string("%Y-%m-%dT%H:%M:%S%.f")
    return s.cast(pl.String)


def _bad(s: pl.Series, out: pl.Series, rows: pl.Series, column: str, message: str) -> list[RowProblem]:
    mask = s.is_not_null() & out.is_null()
    idx = mask.arg_true().to_list()
    return [RowProblem(int(rows[i]), column, str(s[i]), message) for i in idx]


def _to_bool(s: pl.Series, rows: pl.Series, column: str) -> tuple[pl.Series, list[RowProblem]]:
    if s.dtype == pl.Boolean:
        return s, []
    low = _as_text(s).str.to_lowercase()
    out = pl.select(pl.when(low.is_in(list(TRUE))).then(True).when(low.is_in(list(FALSE))).then(False)
                    .otherwise(None).cast(pl.Boolean)).to_series()
    return out.alias(s.name), _bad(s, out, rows, column, "is not true/false; use true/false, yes/no or 1/0")


def _to_number(s: pl.Series, dtype: pl.DataType, rows: pl.Series, column: str, factor: float,
               hms: bool) -> tuple[pl.Series, list[RowProblem]]:
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        num = s.cast(pl.Float64)
    else:
        txt = s.cast(pl.String).str.replace_all(r"^\+", "")
        num = txt.cast(pl.Float64, strict=False)
        if hms:  # "HH:MM:SS" or "HH:MM" duration strings (Freshdesk hours columns)
            num = num.fill_null(_clock_seconds(txt) / factor)
    problems = _bad(s, num, rows, column, "is not a number")
    out = num * factor
    if dtype.is_integer():
        frac = out.is_not_null() & (out != out.round(0))
        problems += [RowProblem(int(rows[i]), column, str(s[i]), "is not a whole number")
                     for i in frac.arg_true().to_list()]
        out = pl.select(pl.when(frac).then(None).otherwise(out)).to_series().cast(pl.Int64)
    return out.cast(dtype).alias(s.name), problems


def _clock_seconds(txt: pl.Series) -> pl.Series:
    """'12:30:05' -> 45005.0 seconds; anything else -> null."""
    parts = txt.str.extract_groups(r"^(-?)(\d+):(\d{1,2})(?::(\d{1,2}))?$").struct.unnest()
    secs = (pl.col("2").cast(pl.Float64) * 3600 + pl.col("3").cast(pl.Float64) * 60
            + pl.col("4").cast(pl.Float64).fill_null(0))
    return parts.select(pl.when(pl.col("1") == "-").then(-secs).otherwise(secs)).to_series()


# --------------------------------------------------------------------------- dates

_ISO_DATES = ("%Y-%m-%d", "%Y/%m/%d")
# (day-first, month-first) pairs, same separators
_DMY_MDY = (("%d/%m/%Y", "%m/%d/%Y"), ("%d-%m-%Y", "%m-%d-%Y"), ("%d.%m.%Y", "%m.%d.%Y"),
            ("%d/%m/%y", "%m/%d/%y"))
_TIMES = ("T%H:%M:%S%.f", "T%H:%M", "T%I:%M:%S %p", "T%I:%M %p", "")


def _normalise(s: pl.Series) -> pl.Series:
    """One spelling for what varies between exports: 'Z' suffix, space or 'T' between date and time."""
    t = s.str.strip_chars().str.replace(r"(?i)\s*(Z|UTC|GMT)$", "+00:00")
    t = t.str.replace(r"^(\S+)[ T]+(\d)", "${1}T${2}")
    return t.str.replace(r"\s+([+-]\d\d:?\d\d)$", "${1}").str.replace(r"(?i)\s*([ap])\.?m\.?$", " ${1}M")


def _try(t: pl.Series, date_fmt: str, tz: str) -> pl.Series:
    """Parse with `date_fmt` and any of the usual time parts, with or without an offset; UTC out."""
    out = pl.Series(t.name, [None] * t.len(), dtype=UTC)
    for time in _TIMES:
        for offset in ("%z", ""):
            if offset and not time:
                continue
            todo = t.is_not_null() & out.is_null()
            if not todo.any():
                return out
            fmt = date_fmt + time + offset
            got = t.str.to_datetime(fmt, strict=False, time_unit="us")
            got = _to_utc(got, tz)
            out = out.zip_with(out.is_not_null(), got)
    return out


def _to_utc(s: pl.Series, tz: str) -> pl.Series:
    if s.dtype.time_zone is None:
        s = s.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return s.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


_OFFSET = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*[+-]\d\d:?\d\d$"  # a time written with its UTC offset


@dataclass(frozen=True)
class DateChoice:
    """The date format a whole text column reads as, decided over all of its batches (`DateStats`)."""

    fmt: str | None  # None: the column holds no value at all
    complete: bool  # every value reads under `fmt`
    hint: str = ""  # what the message of a value that does not read adds


_DATE_GROUPS: tuple[tuple[str, ...], ...] = tuple((f,) for f in _ISO_DATES) + _DMY_MDY


class DateStats:
    """What `parse_datetimes` learns from a whole column, gathered one batch at a time.

    Formats are tried in `parse_datetimes`' order; a batch stops at the first group (a format, or a
    day-first/month-first pair) that every batch so far reads whole, so a clean column costs one parse.
    `choice()` is None when a later batch broke that group and the skipped formats' counts are needed:
    gather again with `skip=False`.
    """

    def __init__(self, *, skip: bool = True) -> None:
        self.skip = skip
        self.batches = 0
        self.wanted = 0
        self.example: str | None = None
        self.count = {f: 0 for g in _DATE_GROUPS for f in g}
        self.seen = dict.fromkeys(self.count, 0)
        self.complete = dict.fromkeys(self.count, True)
        self.differ = dict.fromkeys(_DATE_GROUPS, False)

    def add(self, s: pl.Series, timezone: str) -> None:
        timezone = "UTC"  # formats are chosen on wall-clock times; the time zone is applied after (parse_datetimes)
        t = _normalise(s)
        wanted = int(t.is_not_null().sum())
        self.batches += 1
        self.wanted += wanted
        if self.example is None and s.null_count() < s.len():
            self.example = str(s.drop_nulls()[0])
        if wanted == 0:
            for f in self.count:
                self.seen[f] += 1
            return
        for group in _DATE_GROUPS:
            got = [_try(t, f, timezone) for f in group]
            for f, g in zip(group, got):
                n = wanted - int(g.null_count() - t.null_count())
                self.count[f] += n
                self.seen[f] += 1
                self.complete[f] = self.complete[f] and n == wanted
            if len(got) == 2 and not got[0].equals(got[1]):
                self.differ[group] = True
            if self.skip and any(self.complete[f] and self.seen[f] == self.batches for f in group):
                break

    def choice(self, *, file: str, column: str) -> DateChoice | None:
        """The format `parse_datetimes` would pick for the whole column (the ambiguity error included)."""
        if self.wanted == 0:
            return DateChoice(None, True)
        for group in _DATE_GROUPS:
            if any(self.seen[f] < self.batches for f in group):
                return None
            if len(group) == 2 and all(self.complete[f] for f in group) and self.differ[group]:
                day_first, month_first = group
                raise SchemaError(
                    f"{file}, column '{column}': dates such as '{self.example}' are ambiguous (every value reads as "
                    f"both {day_first} and {month_first}); set datetime_format = \"{day_first} %H:%M\" (or the "
                    f"month-first form) under [mapping] in a mapping file"
                )
            for f in group:
                if self.complete[f]:
                    return DateChoice(f, True)
        best = _DATE_GROUPS[0][0]
        for group in _DATE_GROUPS:
            for f in group:
                if self.count[f] > self.count[best]:
                    best = f
        n = self.count[best]
        hint = f" (the other values read as {best}); fix the value, or set datetime_format under [mapping]" if n else \
            "; use ISO 8601 (2025-03-04 10:22:11) or set datetime_format under [mapping]"
        return DateChoice(best, False, hint)


def parse_datetimes(s: pl.Series, *, rows: pl.Series, column: str, fmt: str | None, timezone: str,
                    file: str = "", ambiguous: str = "error", nonexistent: str = "error",
                    choice: DateChoice | None = None) -> tuple[pl.Series, list[RowProblem]]:
    """Parse a whole column to UTC; the format is inferred from the WHOLE column, never row by row.

    ISO 8601 first; then day-first vs month-first: the one under which every value parses wins,
    and a column where both do (every day <= 12) is ambiguous: an error asking for datetime_format.
    Times without an offset are read as wall-clock times in `timezone`: one the spring change skips
    or the autumn change repeats is a problem saying so, unless `nonexistent` / `ambiguous` say what
    it means (`shift`; `earliest` or `latest`).
    """
    wall, problems = _parse_wall(s, rows=rows, column=column, fmt=fmt, file=file, choice=choice)
    if timezone == "UTC" or wall.is_null().all():
        return wall, problems
    if isinstance(s.dtype, pl.Datetime):
        offset = pl.Series([s.dtype.time_zone is not None] * s.len())
    elif s.dtype == pl.String:
        offset = _normalise(s).str.contains(_OFFSET).fill_null(False)
    else:
        offset = pl.Series([False] * s.len())
    local, gap, twice = _localise(wall, timezone, ambiguous=ambiguous, nonexistent=nonexistent)
    out = pl.select(pl.when(offset).then(wall).otherwise(local)).to_series().alias(s.name)
    fix = "or export the times in UTC or with their UTC offset"
    for i in (gap & ~offset).arg_true().to_list():
        problems.append(RowProblem(int(rows[i]), column, str(s[i]), (
            f"does not exist in {timezone}: clocks went forward that night and skipped this time; if the source "
            f"writes such times, set nonexistent = \"shift\" under [mapping] (read with the offset before the "
            f"change, 02:30 becomes 03:30), {fix}")))
    for i in (twice & ~offset).arg_true().to_list():
        problems.append(RowProblem(int(rows[i]), column, str(s[i]), (
            f"is ambiguous in {timezone}: clocks went back that night, so this time happened twice; set ambiguous = "
            f"\"earliest\" (the first, before the change) or \"latest\" (the second) under [mapping], {fix}")))
    return out, problems


def _localise(wall: pl.Series, tz: str, *, ambiguous: str, nonexistent: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Wall-clock times (held as UTC) read in `tz`, to UTC; masks of the unresolved skipped and repeated times."""
    naive = wall.dt.replace_time_zone(None)
    early = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    late = naive.dt.replace_time_zone(tz, ambiguous="latest", non_existent="null")
    skipped = naive.is_not_null() & early.is_null()
    repeated = (early != late).fill_null(False)
    local = late if ambiguous == "latest" else early
    if nonexistent == "shift":  # the offset in force the day before: 02:30 in a skipped hour is 03:30 after it
        before = (naive - timedelta(days=1)).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        local = local.zip_with(~skipped, before + timedelta(days=1))
        skipped = skipped & local.is_null()
    if ambiguous == "error":
        local = local.zip_with(~repeated, pl.Series([None] * local.len(), dtype=local.dtype))
    else:
        repeated = repeated & False
    return local.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), skipped, repeated


def _parse_wall(s: pl.Series, *, rows: pl.Series, column: str, fmt: str | None,
                file: str = "", choice: DateChoice | None = None) -> tuple[pl.Series, list[RowProblem]]:
    """parse_datetimes before the time zone: times with an offset in UTC, the others as wall-clock times held as UTC."""
    timezone = "UTC"
    if isinstance(s.dtype, pl.Datetime):
        return _to_utc(s, timezone).alias(s.name), []
    if s.dtype == pl.Date:
        return _to_utc(s.cast(pl.Datetime("us")), timezone).alias(s.name), []
    if s.dtype != pl.String:
        return _datetime_problem_all(s, rows, column)
    t = _normalise(s)
    wanted = int(t.is_not_null().sum())
    if fmt:
        got = _to_utc(_normalise_explicit(s).str.to_datetime(fmt, strict=False, time_unit="us"), timezone)
        return got.alias(s.name), _bad(s, got, rows, column, f"does not match datetime_format '{fmt}'; fix the "
                                       "value or the format in the mapping")
    if choice is not None:  # the format was decided over the whole column (a file read in batches)
        if choice.fmt is None:
            return pl.Series(s.name, [None] * s.len(), dtype=UTC), []
        got = _try(t, choice.fmt, timezone).alias(s.name)
        return got, ([] if choice.complete else _bad(s, got, rows, column, f"is not a date/time{choice.hint}"))
    if wanted == 0:
        return pl.Series(s.name, [None] * s.len(), dtype=UTC), []
    best: tuple[int, pl.Series, str] | None = None
    for date_fmt in _ISO_DATES:
        got = _try(t, date_fmt, timezone)
        n = wanted - int(got.null_count() - t.null_count())
        if n == wanted:
            return got.alias(s.name), []
        if best is None or n > best[0]:
            best = (n, got, date_fmt)
    for day_first, month_first in _DMY_MDY:
        d = _try(t, day_first, timezone)
        m = _try(t, month_first, timezone)
        nd = wanted - int(d.null_count() - t.null_count())
        nm = wanted - int(m.null_count() - t.null_count())
        if nd == wanted and nm == wanted and not d.equals(m):
            example = s.drop_nulls()[0]
            raise SchemaError(
                f"{file}, column '{column}': dates such as '{example}' are ambiguous (every value reads as "
                f"both {day_first} and {month_first}); set datetime_format = \"{day_first} %H:%M\" (or the "
                f"month-first form) under [mapping] in a mapping file"
            )
        for n, got, f in ((nd, d, day_first), (nm, m, month_first)):
            if n == wanted:
                return got.alias(s.name), []
            if n > best[0]:
                best = (n, got, f)
    n, got, f = best
    hint = f" (the other values read as {f}); fix the value, or set datetime_format under [mapping]" if n else \
        "; use ISO 8601 (2025-03-04 10:22:11) or set datetime_format under [mapping]"
    return got.alias(s.name), _bad(s, got, rows, column, f"is not a date/time{hint}")


def _normalise_explicit(s: pl.Series) -> pl.Series:
    return s.str.strip_chars().str.replace(r"(?i)Z$", "+00:00")


def _datetime_problem_all(s: pl.Series, rows: pl.Series, column: str) -> tuple[pl.Series, list[RowProblem]]:
    out = pl.Series(s.name, [None] * s.len(), dtype=UTC)
    return out, _bad(s, out, rows, column, f"is a {s.dtype} value, not a date/time")

