"""Coverage by hour, weekday and language: is the work met around the clock and in every language?

`coverage(ws, scope, start=..., end=...)` answers for the local days [start, end] of each client's
reporting calendar (bpo.toml `timezone`), one cell per weekday × hour of day:

* volume: tickets created plus inbound contacts offered (voice/chat interval reports);
* first-response SLA attainment (Σmet/Σwith-target, the catalog KPI) and, where interval reports
  exist, the service level of the live queues;
* demand and the Erlang-required agents: per channel, the mean arrivals in that hour of that
  weekday (contacts offered where the channel has interval reports, else tickets created) at the
  channel's handle time over the whole window, staffed by Erlang C to a service-level target (the
  contract's for live channels, else 80 % in 20 s; `text_target` for asynchronous channels), the
  channels summed as separate queues.  Actual staffing per hour is not shown: no interval schedule
  source exists (the roster holds on-queue time per day, not shifts).

and one row per language (tickets only: contacts carry no language) with volume, first-response
attainment and CSAT.  A value resting on fewer records than the KPI's `min_volume` (the catalog's,
or `min_n`) is flagged thin: the page greys it rather than stating it as a confident number.

>>> cov = coverage(ws, scope, start=date(2026, 11, 2), end=date(2026, 11, 29))  # doctest: +SKIP
>>> cov.cells.filter(pl.col("hour") == "21").select("weekday", "volume", "sla", "sla_thin")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from connectors.store import Scope, Workspace
from insights.analyses.staffing import ServiceLevelTargets, StaffingTarget, _required_vector
from insights.catalog import Catalog, load_catalog
from insights.errors import InsightsError
from insights.metrics.kpis import compute_in_view
from insights.view import WEEKDAYS, View

HOURS = tuple(f"{h:02d}" for h in range(24))
LIVE_CHANNELS = ("voice", "chat")  # contacts answered in seconds: staffed to the service-level target
LIVE_DEFAULT = StaffingTarget(0.8, 20.0)
TEXT_DEFAULT = StaffingTarget(0.8, 3600.0)  # asynchronous channels: 80 % picked up within the hour
NOT_RECORDED = "(not recorded)"
CELL_KPIS = ("tickets_created", "contacts_offered", "sla_first_response", "service_level", "aht",
             "ticket_handle_time")
LANGUAGE_KPIS = ("tickets_created", "sla_first_response", "csat")


class CoverageError(InsightsError):
    """A coverage question that cannot be answered as asked (an empty or reversed range)."""


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """The weekday × hour grid and the language breakdown of one view over the local days [start, end].

    `cells`: one row per weekday (monday … sunday, `weekday_no` 0–6) and hour ("00" … "23"): tickets,
    contacts, volume, sla (first-response attainment), sla_n, sla_thin, service_level, sl_n, sl_thin,
    days (how many of that weekday the range holds), demand (mean arrivals in that hour), required
    (Erlang-required agents, None where no handle time is recorded), required_note.
    `languages`: one row per language (NOT_RECORDED for tickets without one), busiest first: volume,
    sla, sla_n, sla_thin, csat, csat_n, csat_thin.
    """

    cells: pl.DataFrame
    languages: pl.DataFrame
    start: date
    end: date
    calendar: str  # the reporting calendar the hours and weekdays are in (insights.view.Calendar.name)
    min_n: Mapping[str, int]  # KPI -> the records below which its value is thin
    live_target: StaffingTarget
    text_target: StaffingTarget
    notes: tuple[str, ...] = ()  # what the figures cannot show and why (no handle time, no language on contacts)


def _weekday_counts(start: date, end: date) -> dict[str, int]:
    """How many of each weekday the days [start, end] hold."""
    counts = dict.fromkeys(WEEKDAYS, 0)
    for i in range((end - start).days + 1):
        counts[WEEKDAYS[(start + timedelta(days=i)).weekday()]] += 1
    return counts


def _kpis(ws: Workspace, view: View, kpis: tuple[str, ...], by: tuple[str, ...], start: date, end: date,
          catalog: Catalog) -> pl.DataFrame:
    """`kpis` over the window, split by `by`, of the rows the view's row filters keep (split, then kept).

    A KPI whose tables cannot honour a filter (contacts have no language) is computed without it, for every
    language (`View.for_tables`): never narrowed to nothing; `coverage` says so in its notes."""
    return compute_in_view(ws, view, kpis, grain="window", by=by, start=start, end=end, catalog=catalog)


def _value(frame: pl.DataFrame, kpi: str, keys: list[str], name: str) -> pl.DataFrame:
    """One KPI's value and n per key, renamed (`name`, `name_n`)."""
    return frame.filter(pl.col("kpi") == kpi).select(*keys, pl.col("value").alias(name), pl.col("n").alias(f"{name}_n"))


def _targets(ws: Workspace, view: View, end: date) -> dict[str, StaffingTarget]:
    """Live channel -> the one service-level target the view's contracts set for it on `end` (when they agree)."""
    terms = ServiceLevelTargets.read(ws, view.scope_for_read())
    clients = view.scope_for_read().clients
    rows = terms.terms.rows
    if rows.height == 0:
        return {}
    wanted = sorted(set(rows.get_column("client_id").drop_nulls()) if clients is None else set(clients))
    out = {}
    for channel in LIVE_CHANNELS:
        found = {t for t in (terms.at(client, channel, end, end) for client in wanted) if t is not None}
        if len(found) == 1:
            out[channel] = found.pop()
    return out


def coverage(ws: Workspace, scope: Scope, *, start: date, end: date, filters: Mapping[str, Any] | None = None,
             min_n: int | None = None, text_target: StaffingTarget = TEXT_DEFAULT,
             catalog: Catalog | None = None) -> Coverage:
    """The weekday × hour coverage grid and the language breakdown of the view over the local days [start, end].

    `filters` are the view's (client, vendor, site, channel, language); `min_n` overrides the
    catalog's `min_volume` below which a rate is thin."""
    if end < start:
        raise CoverageError(f"the range ends ({end}) before it starts ({start}); swap the dates")
    catalog = catalog or load_catalog()
    view = View.of(scope, filters, config=ws.config)
    thin = {k: (min_n if min_n is not None else int(catalog.kpis[k].min_volume or 0))
            for k in ("sla_first_response", "service_level", "csat")}
    notes: list[str] = []

    # one pass per table over the window: weekday × hour × channel (channels become separate queues)
    frame = _kpis(ws, view, CELL_KPIS, ("weekday", "hour", "channel"), start, end, catalog)
    by_channel = _kpis(ws, view, ("contacts_offered", "aht", "ticket_handle_time"), ("channel",), start, end, catalog)
    cells = _cells(frame, by_channel, start, end, _targets(ws, view, end), text_target, notes)
    cells = cells.with_columns((pl.col("sla_n") < thin["sla_first_response"]).alias("sla_thin"),
                               (pl.col("sl_n") < thin["service_level"]).alias("sl_thin"))

    lang = _kpis(ws, view, LANGUAGE_KPIS, ("language",), start, end, catalog).with_columns(
        pl.col("language").fill_null(NOT_RECORDED))
    languages = (_value(lang, "tickets_created", ["language"], "volume").drop("volume_n")
                 .join(_value(lang, "sla_first_response", ["language"], "sla"), on="language", how="full", coalesce=True)
                 .join(_value(lang, "csat", ["language"], "csat"), on="language", how="full", coalesce=True)
                 .with_columns(pl.col("volume").fill_null(0.0), pl.col("sla_n").fill_null(0), pl.col("csat_n").fill_null(0))
                 .with_columns((pl.col("sla_n") < thin["sla_first_response"]).alias("sla_thin"),
                               (pl.col("csat_n") < thin["csat"]).alias("csat_thin"))
                 .sort(["volume", "language"], descending=[True, False]))
    contacts = ("contacts", "contact_intervals")
    unsplit = view.not_split_note("Contacts from call records and interval reports", contacts)
    if unsplit:  # the service level is theirs alone; volume and agents required add them to the filtered tickets
        only = " and ".join(f"{n} {v}" for n, v in view.unsplit(contacts))
        notes.append(f"{unsplit} The service level is theirs alone; the volume and agents required add them to the "
                     f"tickets, which are {only} only.")
    return Coverage(cells=cells, languages=languages, start=start, end=end, calendar=view.calendar.name,
                    min_n=thin, live_target=LIVE_DEFAULT, text_target=text_target, notes=tuple(notes))


def _cells(frame: pl.DataFrame, by_channel: pl.DataFrame, start: date, end: date,
           targets: Mapping[str, StaffingTarget], text_target: StaffingTarget, notes: list[str]) -> pl.DataFrame:
    """The 7 × 24 grid: volume and attainment summed over channels, Erlang-required agents per channel summed."""
    grid = pl.DataFrame({"weekday": [d for d in WEEKDAYS for _ in HOURS],
                         "weekday_no": [i for i in range(7) for _ in HOURS],
                         "hour": [h for _ in WEEKDAYS for h in HOURS]},
                        schema={"weekday": pl.String, "weekday_no": pl.Int32, "hour": pl.String})
    days = _weekday_counts(start, end)
    keys = ["weekday", "hour", "channel"]
    wide = frame.pivot(on="kpi", index=keys, values=["numerator", "denominator", "value", "n"],
                       aggregate_function="first") if frame.height else pl.DataFrame(schema={k: pl.String for k in keys})

    def col(kind: str, kpi: str) -> pl.Expr:
        name = f"{kind}_{kpi}"
        return pl.col(name).fill_null(0.0) if name in wide.columns else pl.lit(0.0)

    wide = wide.with_columns(
        col("value", "tickets_created").alias("tickets"), col("value", "contacts_offered").alias("contacts"),
        col("numerator", "sla_first_response").alias("sla_met"), col("denominator", "sla_first_response").alias("sla_den"),
        col("n", "sla_first_response").alias("sla_n"),
        col("numerator", "service_level").alias("sl_num"), col("denominator", "service_level").alias("sl_den"),
        col("n", "service_level").alias("sl_n"))

    # per channel over the whole window: does it have interval reports, and its handle time
    live = set(by_channel.filter((pl.col("kpi") == "contacts_offered") & (pl.col("value") > 0)).get_column("channel"))
    aht = {r["channel"]: r["value"] for r in by_channel.filter(pl.col("kpi") == "aht").iter_rows(named=True)
           if r["value"] is not None}
    ticket_aht = {r["channel"]: r["value"] for r in by_channel.filter(pl.col("kpi") == "ticket_handle_time")
                  .iter_rows(named=True) if r["value"] is not None}
    rows = wide.select(*keys, "tickets", "contacts").to_dicts()
    arrivals, handle, share, seconds = [], [], [], []
    for r in rows:
        channel = r["channel"]
        is_live = channel in live
        arrivals.append((r["contacts"] if is_live else r["tickets"]) / max(days[r["weekday"]], 1))
        handle.append(aht.get(channel) if is_live else ticket_aht.get(channel, aht.get(channel)))
        target = targets.get(channel, LIVE_DEFAULT) if channel in LIVE_CHANNELS else text_target
        share.append(target.share)
        seconds.append(target.seconds)
    known = np.array([h is not None and h > 0 for h in handle], dtype=bool)
    calls = np.array(arrivals, dtype=float)
    ahts = np.array([h if k else 0.0 for h, k in zip(handle, known)], dtype=float)
    required = (_required_vector(np.where(known, calls, 0.0), ahts, np.full(len(rows), 3600.0), np.array(share),
                                 np.array(seconds)) if rows else np.zeros(0))
    wide = wide.with_columns(pl.Series("demand", calls, dtype=pl.Float64),
                             pl.Series("required", np.where(known | (calls == 0), required, np.nan), dtype=pl.Float64))
    unstaffed = sorted({r["channel"] or NOT_RECORDED for r, k, c in zip(rows, known, calls) if not k and c > 0})
    if unstaffed:
        notes.append(f"No handle time is recorded for {', '.join(unstaffed)}: the agents it requires are not known, "
                     "and cells holding its work show no requirement.")
    summed = wide.group_by("weekday", "hour").agg(
        pl.col("tickets").sum(), pl.col("contacts").sum(), pl.col("sla_met").sum(), pl.col("sla_den").sum(),
        pl.col("sla_n").sum(), pl.col("sl_num").sum(), pl.col("sl_den").sum(), pl.col("sl_n").sum(),
        pl.col("demand").sum(),
        pl.when(pl.col("required").is_nan().any()).then(None).otherwise(pl.col("required").sum()).alias("required"))
    out = grid.join(summed, on=["weekday", "hour"], how="left").with_columns(
        pl.col("tickets", "contacts", "sla_met", "sla_den", "sl_num", "sl_den", "demand").fill_null(0.0),
        pl.col("sla_n", "sl_n").fill_null(0).cast(pl.Int64),
        pl.col("required").fill_null(pl.when(pl.col("demand").fill_null(0.0) == 0).then(0.0)))
    return out.with_columns(
        (pl.col("tickets") + pl.col("contacts")).alias("volume"),
        pl.when(pl.col("sla_den") > 0).then(pl.col("sla_met") / pl.col("sla_den")).alias("sla"),
        pl.when(pl.col("sl_den") > 0).then(pl.col("sl_num") / pl.col("sl_den")).alias("service_level"),
        pl.col("weekday").replace_strict(days, return_dtype=pl.Int64).alias("days"),
    ).select("weekday", "weekday_no", "hour", "tickets", "contacts", "volume", "sla", "sla_n", "service_level",
             "sl_n", "days", "demand", "required").sort("weekday_no", "hour")
