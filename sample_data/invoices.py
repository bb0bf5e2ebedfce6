"""Monthly vendor invoices: hourly and per-contact lines, committed minimums, SLA credits.

in_house (hq-denver) is not invoiced: its cost is payroll, outside the cost_invoices table.
"""

from __future__ import annotations

import calendar as pycal
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl

from connectors.schema import get_table
from sample_data.calendar import Calendar
from sample_data.operation import (BILLING, CHANNELS, COMMITTED_SHARE, CONTACT_RATE, CONTACT_TIER_FACTOR, CURRENCY,
                                   HOURLY_RATE, ROUTING, SITES, SOURCE_SYSTEM)
from sample_data.targets import SERVICE_LEVEL, penalties
from sample_data.volume import CLIENT_IDS, SITE_IDS, Lanes

MIN_CREDIT_BASE = 30  # no credit computed on fewer tickets than this in a month


def month_sums(t: dict[str, np.ndarray]) -> pl.DataFrame:
    """Per (client, site, channel, month): contacts and SLA counts of one block of tickets."""
    month = t["created"].astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    thr = np.where(t["channel"] == CHANNELS.index("voice"), SERVICE_LEVEL["voice"][0], SERVICE_LEVEL["chat"][0])
    f = pl.DataFrame({
        "client": t["client"], "site": t["site"], "channel": t["channel"], "month": month,
        "fr_base": t["fr_breached"] >= 0, "fr_met": t["fr_breached"] == 0,
        "sl_base": t["fr_known"], "sl_met": t["fr_known"] & (t["fr"] <= thr),
    })
    return f.group_by("client", "site", "channel", "month").agg(
        pl.len().alias("contacts"), *[pl.col(c).sum() for c in ("fr_base", "fr_met", "sl_base", "sl_met")])


def _months(cal: Calendar) -> list[tuple[date, date]]:
    """Billing months: complete months inside the calendar, the first one possibly partial."""
    out = []
    d = date(cal.start.year, cal.start.month, 1)
    while d <= cal.end:
        last = date(d.year, d.month, pycal.monthrange(d.year, d.month)[1])
        if last <= cal.end:
            out.append((max(d, cal.start), last))
        d = last + timedelta(days=1)
    return out


def _month_index(d: date) -> int:
    return (d.year - 1970) * 12 + d.month - 1


def committed_volumes(cal: Calendar, lanes: Lanes) -> dict[tuple[int, int, int], float]:
    """(client, site, channel) -> committed contacts per full month on per-contact contracts."""
    months = np.array([_month_index(d) for d in cal.dates])
    out = {}
    for i in range(lanes.n):
        client, site = CLIENT_IDS[lanes.client[i]], SITE_IDS[lanes.site[i]]
        if BILLING.get((SITES[site].vendor, client)) != "per_contact":
            continue
        full = [m for m in np.unique(months) if (months == m).sum() >= 28]
        monthly = [lanes.baseline[i, months == m].sum() / (months == m).sum() * 30.4 for m in full]
        if monthly:
            out[(int(lanes.client[i]), int(lanes.site[i]), int(lanes.channel[i]))] = float(np.floor(COMMITTED_SHARE * min(monthly)))
    return out


def invoices_frame(cal: Calendar, lanes: Lanes, roster: pl.DataFrame, sums: list[pl.DataFrame],
                   instance: str) -> pl.DataFrame:
    """The canonical cost_invoices table."""
    volume = pl.concat(sums).group_by("client", "site", "channel", "month").agg(pl.all().sum()) if sums else None
    vol = {(r["client"], r["site"], r["channel"], r["month"]): r for r in volume.iter_rows(named=True)} if volume is not None else {}
    hours = (roster.with_columns(((pl.lit(cal.start) + pl.duration(days=pl.col("date_idx"))).cast(pl.Date)).alias("d"))
             .group_by("client_idx", "site_idx", pl.col("d").dt.year().alias("y"), pl.col("d").dt.month().alias("m"))
             .agg((pl.col("logged_seconds").sum() / 3600).alias("hours")))
    hrs = {(r["client_idx"], r["site_idx"], (r["y"] - 1970) * 12 + r["m"] - 1): r["hours"] for r in hours.iter_rows(named=True)}
    commits = committed_volumes(cal, lanes)
    credits = penalties()
    rows: list[dict] = []
    for (vendor, client), model in BILLING.items():
        ci = CLIENT_IDS.index(client)
        lanes_vc = sorted({(SITE_IDS.index(s), CHANNELS.index(ch)) for (c, ch), sites in ROUTING.items() if c == client
                           for s in sites if SITES[s].vendor == vendor})
        sites_vc = sorted({s for s, _ in lanes_vc})
        for start, end in _months(cal):
            m = _month_index(start)
            lines: list[dict] = []
            common = dict(client_id=client, vendor_id=vendor, period_start=start, period_end=end, currency=CURRENCY)
            if model == "per_hour":
                for s in sites_vc:
                    site = SITES[SITE_IDS[s]]
                    q = round(hrs.get((ci, s, m), 0.0), 2)
                    lines.append(dict(common, site_id=site.id, channel=None, billing_model="per_hour",
                                      description=f"Agent hours, {site.name} ({site.tier} rate)", quantity=q,
                                      unit_rate=HOURLY_RATE[site.tier], amount=round(q * HOURLY_RATE[site.tier], 2),
                                      committed_volume=None))
            else:
                full_month = start.day == 1  # minimums count from the first full month of the sample
                for s, ch in lanes_vc:
                    site = SITES[SITE_IDS[s]]
                    rate = round(CONTACT_RATE[CHANNELS[ch]] * CONTACT_TIER_FACTOR[site.tier], 2)
                    q = float(vol.get((ci, s, ch, m), {}).get("contacts", 0))
                    commit = commits.get((ci, s, ch))
                    commit = commit if full_month else None
                    lines.append(dict(common, site_id=site.id, channel=CHANNELS[ch], billing_model="per_contact",
                                      description=f"{CHANNELS[ch].title()} contacts handled, {site.name}", quantity=q,
                                      unit_rate=rate, amount=round(q * rate, 2), committed_volume=commit))
                    if commit is not None and q < commit:
                        lines.append(dict(common, site_id=site.id, channel=CHANNELS[ch], billing_model="minimum_shortfall",
                                          description=f"Committed minimum not reached ({CHANNELS[ch]}: {q:.0f} of {commit:.0f})",
                                          quantity=commit - q, unit_rate=rate, amount=round((commit - q) * rate, 2),
                                          committed_volume=commit))
            for s, ch in lanes_vc:
                lines += _credit_lines(common, client, s, ch, vol.get((ci, s, ch, m)), credits)
            for k, line in enumerate(lines, 1):
                line.update(invoice_id=f"{vendor[:2].upper()}-{client.upper()}-{start:%Y-%m}", line_no=k)
            rows += lines
    if not rows:  # a sample shorter than a month has no complete billing month: no invoices, not a crash
        return pl.DataFrame(schema=get_table("cost_invoices").schema)
    stamp = lambda d: datetime(d.year, d.month, d.day, 9, tzinfo=timezone.utc) + timedelta(days=6)  # noqa: E731
    f = pl.DataFrame(rows, infer_schema_length=None)
    return f.with_columns(
        pl.lit(SOURCE_SYSTEM).alias("source_system"), pl.lit(instance).alias("source_instance"),
        pl.col("period_end").map_elements(stamp, return_dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
    ).with_columns((pl.col("updated_at") + pl.duration(days=1)).alias("ingested_at"))


def _credit_lines(common: dict, client: str, site: int, channel: int, v: dict | None,
                  credits: dict[tuple[str, str, str], tuple[float, float, float]]) -> list[dict]:
    """Service credits (negative) when a penalised target's monthly attainment is missed."""
    out = []
    if v is None:
        return out
    for metric, base, met in (("sla_first_response", "fr_base", "fr_met"), ("service_level", "sl_base", "sl_met")):
        key = (client, metric, CHANNELS[channel])
        if key not in credits or v[base] < MIN_CREDIT_BASE:
            continue
        _, target, penalty = credits[key]
        attained = v[met] / v[base]
        if attained < target:
            points = round((target - attained) * 100, 2)
            out.append(dict(common, site_id=SITE_IDS[site], channel=CHANNELS[channel], billing_model="credit",
                            description=f"SLA credit: {metric} {CHANNELS[channel]} {attained:.1%} vs {target:.0%}",
                            quantity=points, unit_rate=penalty, amount=-round(points * penalty, 2), committed_volume=None))
    return out


