"""Which contract term binds which work: the one matcher, for a ticket at import and for a segment on every page.

A term is one `sla_targets` row.  It binds the work of its client that meets each of its conditions
(`CONDITIONS`: vendor, site, channel, priority, queue, i.e. the group or team; a null condition is
every value) on a day from `effective_from` to `effective_to` (null: open).  Its `conditions` map
(JSON text: dimension → the values it accepts, e.g. `{"organisation": ["509974"], "channel":
["email", "chat"]}`) adds conditions the columns cannot say: further dimensions of the work
(`MAP_DIMENSIONS`: organisation, contact reason, language), or several accepted values of one;
every key must hold (the work's value is one of the key's values).  A key that names no column of
the work (a vendor's condition the product does not store, e.g. `ticket_form_id`) never holds for
a ticket, so such a term binds no ticket at import; a segment that does not fix that dimension
still shows the term in force (it binds some of the segment's work).  When several terms for
one metric bind the same piece of work, one wins, by these rules in turn:

1. the term with more conditions (columns and map keys, each dimension once);
2. on equal count, the term naming the condition that comes first in `PRECEDENCE`
   (queue, then priority, channel, site, vendor);
3. with the same conditions, the later `effective_from` (a new version, or a new term, supersedes);
4. then the smaller `target_id` (two terms alike in everything: the choice is still the same every run).

A ticket is work whose every dimension is known (no priority is a value: a term naming a priority
does not bind it), so exactly one term wins for it (`bind`).  A segment (acme · email) holds every
kind of work with its values, so the terms in force for it are those that win for some of its work
(`in_force`): acme email's low and high priority terms, not the term for all of acme's channels
that both of them override.  Over a span of days, a term's newest version in force wins (rule 3).

Metric names are KPI names (`sla_first_response`); the aliases older files use (`first_response_sla`,
`frt`, ...) are read as the KPI they name (`METRIC_ALIASES`), by every reader alike.

>>> rows = prepare(ws.read("sla_targets", Scope.everything()))                      # doctest: +SKIP
>>> in_force(rows, "sla_first_response", {"client_id": "acme", "channel": "email"}, date(2026, 10, 26))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import polars as pl

from connectors.errors import BpoError

# sla_targets columns that narrow the work a term binds (null: every value); the conditions map's keys
CONDITIONS: tuple[str, ...] = ("vendor_id", "site_id", "channel", "priority", "queue")
# the map column of further conditions, and the dimensions of work it may name beyond CONDITIONS
MAP = "conditions"
MAP_DIMENSIONS: tuple[str, ...] = ("organisation", "contact_reason", "language")
# rule 2: at an equal count of conditions, the term naming the earlier of these wins
PRECEDENCE: tuple[str, ...] = ("queue", "priority", "channel", "site_id", "vendor_id")
# names a segment may use for a dimension -> the canonical column
NAMES: dict[str, str] = {"client": "client_id", "vendor": "vendor_id", "site": "site_id", "channel": "channel",
                         "priority": "priority", "queue": "queue", "group": "queue", "team": "queue",
                         "organisation": "organisation", "organization": "organisation", "company": "organisation",
                         "contact_reason": "contact_reason", "language": "language"}
# the milestone a ticket's target columns hold -> the KPI its targets name
MILESTONES: dict[str, str] = {"first_response": "sla_first_response", "resolution": "sla_resolution"}
# metric names older target files use -> the KPI they mean (matched trimmed and lower-cased)
METRIC_ALIASES: dict[str, str] = {
    **{a: "sla_first_response" for a in ("first_response_sla", "first_response", "first_reply_sla", "first_reply",
                                         "first_reply_time", "frt", "frt_sla")},
    **{a: "sla_resolution" for a in ("resolution_sla", "resolution", "resolve", "resolution_time", "requester_wait_time")},
}
WORK = "__work"
_SPAN = ("__start", "__end")


class TargetError(BpoError):
    """A question the matcher cannot answer as asked (a dimension no term can bind)."""


def effective(start: pl.Expr | date, end: pl.Expr | date) -> pl.Expr:
    """Rows in force at some day from `start` to `end` (dates or per-row expressions): effective dating in one place."""
    start = start if isinstance(start, pl.Expr) else pl.lit(start)
    end = end if isinstance(end, pl.Expr) else pl.lit(end)
    return (pl.col("effective_from") <= end) & (pl.col("effective_to").is_null() | (pl.col("effective_to") >= start))


def newest(rows: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """The newest version (latest `effective_from`) of each term among `rows`, per `by` (e.g. target_id, period)."""
    return rows.sort("effective_from").unique(list(by), keep="last", maintain_order=True)


def metric_name(metric: pl.Expr) -> pl.Expr:
    """The KPI a target's metric names: its alias resolved, else the name as written."""
    key = metric.str.strip_chars().str.to_lowercase()
    return key.replace_strict(METRIC_ALIASES, default=metric, return_dtype=pl.String)


@lru_cache(maxsize=4096)
def parse(text: str | None) -> tuple[tuple[str, frozenset[str]], ...]:
    """A `conditions` map as (dimension, accepted values) pairs, dimensions by their canonical names.

    Empty text is no condition.  Text that is not a JSON object of dimension → value or list of
    values is refused with what to write instead.
    """
    if text is None or not str(text).strip():
        return ()
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise TargetError(f"sla_targets conditions {text!r} is not a JSON object; write e.g. "
                          '{"organisation": ["509974"], "channel": ["email", "chat"]}')
    out: dict[str, frozenset[str]] = {}
    for key, values in raw.items():
        items = values if isinstance(values, list) else [values]
        if not items or any(v is None or isinstance(v, (dict, list)) for v in items):
            raise TargetError(f"sla_targets conditions {text!r}: '{key}' needs a value or a list of values")
        accepted = frozenset(str(v) for v in items)
        dim = NAMES.get(str(key), str(key))
        out[dim] = out[dim] & accepted if dim in out else accepted
    return tuple(sorted(out.items()))


def encode(conditions: Mapping[str, Iterable[str] | str]) -> str | None:
    """The `conditions` text of a map (keys and values sorted, so one meaning has one text); None when empty."""
    clean = {k: sorted({str(v) for v in ([vs] if isinstance(vs, str) else vs)}) for k, vs in conditions.items()}
    return json.dumps(dict(sorted(clean.items())), separators=(", ", ": ")) if clean else None


def dimensions(term: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Every condition of a term, column and map alike: dimension → accepted values."""
    out = {c: frozenset({str(term[c])}) for c in CONDITIONS if term.get(c) is not None}
    for dim, accepted in parse(term.get(MAP)):
        out[dim] = out[dim] & accepted if dim in out else accepted
    return out


def _holds(accepted: frozenset[str] | None, value: str | frozenset[str] | None) -> bool:
    """A condition holds for work whose value (or every one of its values) it accepts; no value never matches."""
    if accepted is None:
        return True
    if value is None:
        return False
    return value <= accepted if isinstance(value, frozenset) else value in accepted


def prepare(rows: pl.DataFrame) -> pl.DataFrame:
    """Target rows ready to match: every condition column present (null: every value), metrics named as KPIs."""
    missing = [pl.lit(None, pl.String).alias(c) for c in ("target_id", *CONDITIONS, MAP) if c not in rows.columns]
    missing += [pl.lit(None, pl.Date).alias(c) for c in ("effective_to",) if c not in rows.columns]
    out = rows.with_columns(missing) if missing else rows
    return out.with_columns(metric_name(pl.col("metric")).alias("metric"))


def columns(segment: Mapping[str, Any]) -> dict[str, str | None]:
    """`segment` keyed by canonical columns ('client' -> 'client_id'); an unknown dimension is refused."""
    out: dict[str, str | None] = {}
    for key, value in segment.items():
        column = NAMES.get(key, key)
        if column != "client_id" and column not in CONDITIONS and column not in MAP_DIMENSIONS:
            raise TargetError(f"contract targets cannot bind the dimension '{key}'; use one of "
                              f"{', '.join(NAMES)} (or their columns)")
        out[column] = None if value is None else str(value)
    return out


def binding(rows: pl.DataFrame, segment: Mapping[str, Any], *, prepared: bool = False) -> pl.DataFrame:
    """The rows binding some of a segment's work: of its client, naming no other value of a dimension it fixes.

    `prepared`: the rows already went through `prepare` (a reader holding them prepared skips the work).
    """
    seg = columns(segment)
    t = rows if prepared else prepare(rows)
    if seg.get("client_id") is not None:
        t = t.filter(pl.col("client_id") == seg["client_id"])
    for column in CONDITIONS:
        if column in seg:
            value = seg[column]
            t = t.filter(pl.col(column).is_null() if value is None else pl.col(column).is_null() | (pl.col(column) == value))
    fixed = {k: v for k, v in seg.items() if k != "client_id"}
    if fixed and t.height and t.get_column(MAP).is_not_null().any():
        keep = [all(_holds(accepted, fixed[dim]) for dim, accepted in parse(text) if dim in fixed)
                for text in t.get_column(MAP).to_list()]
        t = t.filter(pl.Series(keep, dtype=pl.Boolean))
    return t


# rule 2 as a number: a bit per condition, the earlier in PRECEDENCE the heavier (equal counts compare by it)
WEIGHTS: dict[str, int] = {c: 1 << (len(PRECEDENCE) - 1 - i) for i, c in enumerate(PRECEDENCE)}


def _rank(t: pl.DataFrame) -> pl.DataFrame:
    """Rules 1 and 2 as two columns: the count of conditions and their weight (`WEIGHTS`; a map key naming no
    column weighs nothing)."""
    count = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in CONDITIONS])
    weight = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) * WEIGHTS[c] for c in CONDITIONS])
    t = t.with_columns(count.alias("__count"), weight.alias("__weight"))
    if not t.height or t.get_column(MAP).is_null().all():
        return t
    dims = [dimensions(r) for r in t.select(*CONDITIONS, MAP).iter_rows(named=True)]
    return t.with_columns(pl.Series("__count", [len(d) for d in dims], dtype=pl.Int32),
                          pl.Series("__weight", [sum(WEIGHTS.get(k, 0) for k in d) for d in dims], dtype=pl.Int32))


def _order(term: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """Rules 1-4 as one row's sort key, the winner smallest: `bind`'s sort, for the few terms of one segment."""
    named = dimensions(term)
    since = term["effective_from"]
    return (-len(named), -sum(WEIGHTS.get(c, 0) for c in named), -(since.toordinal() if since else 0),
            term["target_id"] or "")


def _binds(term: Mapping[str, Any], work: Mapping[str, str | frozenset[str] | None]) -> bool:
    """Whether every condition the term names holds for the work (a value the work lacks never matches)."""
    return all(_holds(accepted, work.get(dim)) for dim, accepted in dimensions(term).items())


def bind(work: pl.DataFrame, rows: pl.DataFrame, *, metrics: Sequence[str] | None = None) -> pl.DataFrame:
    """For each piece of work and metric, the one term that wins (rules 1-4), as its target row.

    `work` has `WORK` (an id), `client_id`, the condition columns it knows (an absent or null one is
    'none': a term naming it does not bind) and the span `__start`, `__end` (dates; a ticket's day twice).
    Returns `WORK`, `metric` and the winning row's columns; work no term binds has no row.
    """
    t = _rank(prepare(rows))
    if metrics is not None:
        t = t.filter(pl.col("metric").is_in(list(metrics)))
    # the map's conditions as one list column per dimension (null: the term does not name it)
    maps = [dict(parse(text)) for text in t.get_column(MAP).to_list()]
    named = sorted({d for m in maps for d in m})
    t = t.with_columns([pl.Series(f"__m_{d}", [sorted(m[d]) if d in m else None for m in maps],
                                  dtype=pl.List(pl.String)) for d in named])
    extra = [d for d in named if d not in CONDITIONS and d in work.columns]
    keys = ["client_id", *CONDITIONS, *extra, *_SPAN]
    w = work.with_columns([pl.lit(None, pl.String).alias(c) for c in CONDITIONS if c not in work.columns])
    w = w.with_columns([pl.col(d).cast(pl.String) for d in extra])
    # many tickets share a kind of work and a day: match each kind once
    kinds = w.select(keys).unique().with_row_index("__kind")
    cand = kinds.rename({c: f"__w_{c}" for c in (*CONDITIONS, *extra)}).join(t, on="client_id", how="inner")
    ok = effective(pl.col("__start"), pl.col("__end"))
    for c in CONDITIONS:
        ok = ok & (pl.col(c).is_null() | (pl.col(c) == pl.col(f"__w_{c}")).fill_null(False))
    for d in named:
        value = pl.col(f"__w_{d}") if d in CONDITIONS or d in extra else pl.lit(None, pl.String)
        ok = ok & (pl.col(f"__m_{d}").is_null() | pl.col(f"__m_{d}").list.contains(value).fill_null(False))
    won = (cand.filter(ok)
           .sort(["__kind", "metric", "__count", "__weight", "effective_from", "target_id"],
                 descending=[False, False, True, True, True, False])
           .unique(["__kind", "metric"], keep="first", maintain_order=True)
           .drop([f"__w_{c}" for c in (*CONDITIONS, *extra)], [f"__m_{d}" for d in named],
                 "__count", "__weight", "client_id", *_SPAN))
    ids = w.select(WORK, *keys).join(kinds, on=keys, how="inner", nulls_equal=True).select(WORK, "__kind")
    return ids.join(won, on="__kind", how="inner").drop("__kind").sort(WORK, "metric")


def in_force(rows: pl.DataFrame, metric: str, segment: Mapping[str, Any], start: date,
             end: date | None = None, *, prepared: bool = False, bound: bool = False) -> pl.DataFrame:
    """The terms for `metric` in force for some of a segment's work from start to end (default: start's week).

    `segment` maps dimensions to values (None: the work has none); a dimension it leaves out spans
    every value.  A term is in force when it wins (rules 1-4) for the work it names within the
    segment, so the result of a fully named segment (a ticket's) is one term at most, the one `bind`
    gives that work.  Sorted by client and target_id.
    """
    end = start + timedelta(days=6) if end is None else end
    seg = columns(segment)
    # `bound`: the rows are already `binding(rows, segment)` (a reader asking about one segment many weeks keeps it)
    t = (rows if bound else binding(rows, seg, prepared=prepared)).filter((pl.col("metric") == metric)
                                                                          & effective(start, end))
    if t.height <= 1:
        return t
    t = t.with_row_index("__i")
    terms = t.to_dicts()  # the few terms of one segment: the rules row by row
    keep = []
    for term in terms:
        # the work the term names: the segment's values, the term's own conditions, no value elsewhere
        own = dimensions(term)
        work: dict[str, str | frozenset[str] | None] = {
            d: seg[d] if d in seg else own.get(d) for d in {*CONDITIONS, *own, *seg} if d != "client_id"}
        rivals = [u for u in terms if u["client_id"] == term["client_id"] and _binds(u, work)]
        if min(rivals, key=_order)["__i"] == term["__i"]:
            keep.append(term["__i"])
    return t.filter(pl.col("__i").is_in(keep)).drop("__i").sort("client_id", "target_id")
