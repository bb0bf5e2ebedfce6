"""Notices about the data itself, told before any insight: an incomplete week, missing days, a feed that stopped,
tickets that arrived twice from two sources; a notice that `withhold`s holds back its client's insights."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

import polars as pl

from connectors.store import Scope, Workspace
from insights import format
from insights.catalog import Catalog
from insights.catalog.rules import Rules, Thresholds
from insights.detection import detectors as det
from insights.detection import narrative
from insights.detection.reading import series_of
from insights.detection.records import Action, Insight, Period, stable_id
from insights.format import Names
from insights.view import View

def data_quality(daily: pl.DataFrame, root_frame: pl.DataFrame, *, week: date, last_day: date | None,
                 specs: Mapping[str, Mapping[str, Any]], catalog: Catalog, rules: Rules,
                 names: Names | None = None) -> list[Insight]:
    """Notices about the data itself; `withhold` marks the clients whose insights are held back."""
    out: list[Insight] = []
    week_end = week + timedelta(days=6)
    clients = sorted(set(daily.get_column("client_id").drop_nulls().to_list())) if daily.height else []
    for client in clients:
        d = daily.filter(pl.col("client_id") == client).group_by("period").agg(pl.col("value").sum())
        by_day = dict(zip(d.get_column("period").to_list(), d.get_column("value").to_list()))
        seg = {"client_id": client}
        if last_day is not None and last_day < week_end:
            out.append(_notice("incomplete_week", segment=seg, week=week, count=0, rules=rules,
                               message=f"{format.label('client', client, names)}: the week of {week.isoformat()} is not "
                                       f"complete: the data ends on {last_day.isoformat()}.",
                               extra={"days": [last_day.isoformat()], "withhold": True}))
            continue
        issue = det.missing_days(by_day, week)
        if issue:
            days = ", ".join(x.isoformat() for x in issue.days)
            out.append(_notice("missing_days", segment=seg, week=week, count=issue.count, rules=rules,
                               message=f"No tickets for {format.label('client', client, names)} on {days}: "
                                       f"{issue.count} of the week's days are missing.",
                               extra={"days": [x.isoformat() for x in issue.days], "count": issue.count,
                                      "withhold": True}))
    periods = (week - timedelta(weeks=8),) + tuple(week - timedelta(weeks=8 - i) for i in range(1, 9))
    for (client, kpi_name), rows in root_frame.partition_by(["client_id", "kpi"], as_dict=True).items():
        if kpi_name not in specs or specs[kpi_name]["kind"] not in det.WEEKLY_KINDS:
            continue
        s = series_of(rows, tuple(periods), "mean")
        issue = det.denominator_zero(s)
        if issue:
            label = catalog.kpis[kpi_name].label
            out.append(_notice("denominator_zero", segment={"client_id": client, "kpi": kpi_name}, week=week, count=0,
                               rules=rules, extra={"withhold": False},
                               message=f"{label} has no volume for {format.label('client', client, names)} in the week "
                                       f"of {week.isoformat()} after weeks with volume: a feed may have stopped."))
    return out


def duplicate_sources(ws: Workspace, scope: Scope, view: View, *, week: date, th: Thresholds, catalog: Catalog,
                      rules: Rules, names: Names | None = None) -> list[Insight]:
    """Tickets of the week that arrived from two sources under the same id (a file export and an API sync of the
    same helpdesk, named differently): every count is inflated; above `duplicate_withhold_share` the client's
    insights are withheld."""
    cols = ["client_id", "ticket_id", "source_system", "source_instance", "created_at", "site_id", "channel"]
    lf = view.apply(ws.scan("tickets", scope, columns=cols), rows_only=True)
    start = datetime.combine(week, time.min, tzinfo=timezone.utc)
    lf = lf.filter((pl.col("created_at") >= start) & (pl.col("created_at") < start + timedelta(days=7)))
    per_id = lf.group_by("client_id", "ticket_id").agg(
        (pl.col("source_system").fill_null("") + "/" + pl.col("source_instance").fill_null("")).n_unique().alias("sources"))
    counts = per_id.group_by("client_id").agg(pl.len().alias("total"), (pl.col("sources") > 1).sum().alias("dup")).collect()
    out = []
    for client, total, dup in counts.sort("client_id").iter_rows():
        issue = det.duplicate_ids(int(dup), int(total))
        if issue is None or client is None:
            continue
        withhold = dup / max(total, 1) > th.duplicate_withhold_share
        out.append(_notice(
            "duplicates", segment={"client_id": client}, week=week, count=int(dup), rules=rules,
            message=f"{dup:,} of the {total:,} tickets {format.label('client', client, names)} opened in the week of "
                    f"{week.isoformat()} arrived from two sources under the same id, so every count is inflated"
                    + (": insights for the client are withheld until one source is removed or both are mapped to one "
                       "source name." if withhold else "; remove one source or map both to one source name."),
            extra={"count": int(dup), "total": int(total), "withhold": withhold}))
    return out


def _notice(kind: str, *, segment: dict[str, str], week: date, message: str, extra: dict[str, Any], count: int,
            rules: Rules) -> Insight:
    """A data-quality notice in the insight record (tier 'notice', ranked first)."""
    book = rules.playbook(kpi="tickets_created", type_="data_quality", driver_kind=None, polarity="bad",
                          segment_owner="brand")
    draft = {"type": "data_quality", "kpi": "tickets_created", "segment": segment, "unit": "count",
             "period": {"start": week, "end": week + timedelta(days=6)}, "observed": float(count), "expected": None,
             "delta": 0.0, "ci": None, "n": count, "baseline": "", "impact": None, "drivers": [],
             "evidence": {"message": message, **extra},
             "action": {"text": book.action, "owner": book.owner, "verify_kpi": book.verify_kpi,
                        "verify_week": week.isoformat()}}
    text = narrative.render(draft, "Data quality", rules)
    evidence = {"tier": "notice", "confidence_label": "high", "kind": kind, "message": message, **extra,
                "narrative": {s: text[s] for s in narrative.SLOTS}}
    return Insight(id=stable_id("data_quality", kind, segment, week), type="data_quality", kpi="tickets_created",
                   segment=segment, period=Period(week, week + timedelta(days=6)), observed=float(count), expected=None,
                   baseline="", delta=None, unit="count", ci=None, n=count, test=None, p_value=None, q_value=None,
                   impact=None, confidence=1.0, score=100.0, headline=text["headline"], meaning=text["meaning"],
                   action=Action(text=book.action, owner=book.owner, verify_kpi=book.verify_kpi,
                                 verify_week=week.isoformat()), drivers=(),
                   evidence=evidence)
