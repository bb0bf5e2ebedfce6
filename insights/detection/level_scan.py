"""Detectors that read a whole level at once rather than one segment's series: a channel mix that moves a ratio KPI
(a `driver` finding), a site's share of its client's contacts (routing), sites against their peers (funnel on
channel-standardised rates), KPIs billed by the month, and daily volume anomalies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from typing import Mapping

import numpy as np
import polars as pl

from insights.catalog import Kpi
from insights.detection import detectors as det
from insights.detection import drivers as drv
from insights.detection import stats
from insights.detection.reading import Run, series_of
from insights.detection.records import Candidate, Period, polarity
from insights.detection.scan import SUSTAINED_DIMENSIONS
from insights.detection.tiers import material_amount


def mix_shifts(run: Run, *, frame: pl.DataFrame, root: tuple[str, ...]) -> list[Candidate]:
    """Ratio KPIs whose overall change is mix, not performance (a `driver` insight).

    The exact mix/rate decomposition over channels between the baseline weeks and the current
    window (the review week alone, and the last `window_weeks`); the mix is news when it is
    material (at the sustained-shift share of the KPI's materiality), larger than the rate term,
    and the share change behind it is significant: a t test of the window's mean weekly share of
    the channel that carries most of the mix against the baseline's weekly shares (prediction
    form, df = baseline weeks − 1), Bonferroni over the windows tried.
    """
    th, week = run.th, run.week
    nb = th.baseline_weeks
    windows = sorted({1, th.window_weeks})
    dim = "channel"
    out: list[Candidate] = []
    for (client, name), rows in frame.partition_by(["client_id", "kpi"], as_dict=True).items():
        spec, kpi = run.specs.get(name), run.catalog.kpis.get(name)
        if spec is None or kpi is None or spec["kind"] != "proportion" or kpi.type != "ratio" or client is None:
            continue
        if not run.matures(spec):
            continue
        rows = rows.filter(pl.col(dim).is_not_null())
        weekly = rows.group_by("period", dim).agg(pl.col("denominator").sum())
        totals = weekly.group_by("period").agg(pl.col("denominator").sum().alias("total"))
        found = []
        for k in windows:
            cur = tuple(week - timedelta(weeks=i) for i in range(k - 1, -1, -1))
            base = tuple(week - timedelta(weeks=i) for i in range(k + nb - 1, k - 1, -1))
            rb, rc = rows.filter(pl.col("period").is_in(list(base))), rows.filter(pl.col("period").is_in(list(cur)))
            if rb.get_column("period").n_unique() < nb // 2 or rc.get_column("period").n_unique() < k:
                continue
            dec = drv.decompose(dim, drv.cells_from_rows(rb.to_dicts(), dim), drv.cells_from_rows(rc.to_dicts(), dim))
            mat = material_amount(kpi, dec.before) * th.shift_materiality
            if abs(dec.mix) < mat or abs(dec.mix) <= abs(dec.rate) or dec.mix * dec.total <= 0:
                continue
            top = max(dec.segments, key=lambda e: abs(e.mix_effect))
            sh = weekly.filter(pl.col(dim) == top.value).join(totals, on="period")
            share = dict(zip(sh.get_column("period").to_list(), (sh["denominator"] / sh["total"]).to_list()))
            t, p = stats.share_shift_test([share.get(w, 0.0) for w in base], [share.get(w, 0.0) for w in cur])
            found.append((p * len(windows), k, cur, base, dec, top, t))
        if not found:
            continue
        p, k, cur, base, dec, top, t = min(found, key=lambda f: f[0])
        n_cur = int(rows.filter(pl.col("period").is_in(list(cur))).get_column("denominator").sum())
        # the driver is the dimension's mix (the channels' shifts offset each other); its rates are the shares
        driver = drv.Driver(dim, str(top.value), "mix", dec.mix, dec.mix / dec.total, top.share_after,
                            t, top.share_before, top.share_after)
        out.append(Candidate(
            type="driver", kpi=name, segment={"client_id": client}, level=root,
            period=Period(cur[0], week + timedelta(days=6)), observed=dec.after, expected=dec.before, delta=dec.total,
            ci=None, n=n_cur, baseline=f"the {nb} weeks before",
            test=f"exact mix/rate decomposition by {dim}; t test of {top.value}'s weekly share of volume vs the {nb} "
                 f"weeks before (Bonferroni over {len(windows)} windows)",
            p_value=min(p, 1.0), material=True, polarity=polarity(kpi.direction, dec.total), reach=1.0, weeks=k,
            seen_before=0, impact_value=dec.total * n_cur,
            evidence={"shift_week": cur[0].isoformat(), "weeks": k, "mix": dec.mix, "rate": dec.rate,
                      "share_before": top.share_before, "share_after": top.share_after, "t": t,
                      "_drivers": [driver.to_dict()],
                      "_decomposition": {"dimension": dim, "total": dec.total, "rate": dec.rate, "mix": dec.mix,
                                         "before": dec.before, "after": dec.after}},
            windows=(base, cur)))
    return out


def routing_shifts(run: Run, *, frame: pl.DataFrame, root: tuple[str, ...]) -> list[Candidate]:
    """A site whose share of its client's contacts moved (work routed elsewhere, or to it).

    Volume at a site can fall with the client's demand; its *share* of the client's contacts only
    moves when work is routed differently (a vendor change, an overflow rule, a queue moved), which
    is what committed minimums and capacity plans hang on.  The share of the review week (and of
    the last `window_weeks`) is tested against the baseline weeks' shares (prediction t, Bonferroni
    over the windows tried); material when the share moves by `routing_min_change` of itself.
    """
    th, week = run.th, run.week
    nb, kw = th.baseline_weeks, th.window_weeks
    windows = sorted({1, kw})
    kpi = run.catalog.kpis["tickets_created"]
    rows = frame.filter((pl.col("kpi") == "tickets_created") & pl.col("site_id").is_not_null())
    out: list[Candidate] = []
    for (client,), crows in rows.partition_by(["client_id"], as_dict=True).items():
        counts = {(r["period"], r["site_id"]): float(r["value"] or 0.0) for r in crows.iter_rows(named=True)}
        sites = sorted({k[1] for k in counts})
        totals: dict[date, float] = defaultdict(float)
        for (period, _), v in counts.items():
            totals[period] += v
        if len(sites) < 2:
            continue
        for site in sites:
            share = {p: counts.get((p, site), 0.0) / t for p, t in totals.items() if t > 0}
            found = []
            for k in windows:
                cur = [week - timedelta(weeks=i) for i in range(k - 1, -1, -1)]
                base = [week - timedelta(weeks=i) for i in range(k + nb - 1, k - 1, -1)]
                if any(w not in share for w in cur) or sum(w in share for w in base) < nb // 2 + 1:
                    continue
                base_shares, cur_shares = [share[w] for w in base if w in share], [share[w] for w in cur]
                before, after = float(np.mean(base_shares)), float(np.mean(cur_shares))
                if max(before, after) < th.min_test_share:
                    continue
                t, p = stats.share_shift_test(base_shares, cur_shares)
                found.append((min(1.0, p * len(windows)), k, cur, base, before, after, t))
            if not found:
                continue
            p, k, cur, base, before, after, t = min(found, key=lambda f: f[0])
            observed = sum(counts.get((w, site), 0.0) for w in cur)
            expected = before * sum(totals[w] for w in cur)
            delta = observed - expected
            material = abs(after - before) >= th.routing_min_change * before
            out.append(Candidate(
                type="routing_shift", kpi=kpi.name, segment={"client_id": client, "site_id": site},
                level=root + ("site_id",), period=Period(cur[0], week + timedelta(days=6)), observed=observed,
                expected=expected, delta=delta, ci=None, n=int(observed),
                baseline=f"its share of {client}'s contacts in the {nb} weeks before",
                test=f"t test of the site's weekly share of the client's contacts vs the {nb} weeks before "
                     f"(prediction form, Bonferroni over {len(windows)} windows)",
                p_value=p, material=material, polarity="neutral", reach=min(1.0, after), weeks=k, seen_before=0,
                impact_value=delta,
                evidence={"share_before": before, "share_after": after, "t": t, "weeks": k,
                          "shift_week": cur[0].isoformat()},
                windows=(tuple(base), tuple(cur))))
    return out


def _strata(frame: pl.DataFrame, dim: str) -> dict[str, dict[str, tuple[float, float]]]:
    """unit -> channel -> (numerator, denominator), the strata of the direct standardisation."""
    out: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    agg = frame.group_by(dim, "channel").agg(pl.col("numerator").sum(), pl.col("denominator").sum())
    for r in agg.iter_rows(named=True):
        if r[dim] is not None and r["channel"] is not None and (r["denominator"] or 0) > 0:
            out[r[dim]][r["channel"]] = (float(r["numerator"] or 0), float(r["denominator"]))
    return dict(out)


def peers(run: Run, *, kframe: pl.DataFrame, pairs: pl.DataFrame, level: tuple[str, ...], kpi: Kpi) -> list[Candidate]:
    """Sites against the other sites of the same client (funnel on channel-standardised rates), this week and over the
    baseline; `pairs` is the KPI's site × channel frame (the strata)."""
    th, week = run.th, run.week
    dim = level[-1]
    cur = kframe.filter(pl.col("period") == week)
    base_start = week - timedelta(weeks=th.baseline_weeks)
    base = kframe.filter((pl.col("period") >= base_start) & (pl.col("period") < week))
    out = []
    for (client,), rows in cur.partition_by(["client_id"], as_dict=True).items():
        rows = rows.filter(pl.col("denominator") > 0)
        units = rows.get_column(dim).to_list()
        cp = pairs.filter(pl.col("client_id") == client)
        found = det.peer_outlier(units, rows.get_column("numerator").to_list(), rows.get_column("denominator").to_list(),
                                 strata=_strata(cp.filter(pl.col("period") == week), dim))
        if not found:
            continue
        b = base.filter(pl.col("client_id") == client).group_by(dim).agg(pl.col("numerator").sum(), pl.col("denominator").sum())
        bp = cp.filter((pl.col("period") >= base_start) & (pl.col("period") < week))
        before = {o.unit: o for o in det.peer_outlier(b.get_column(dim).to_list(), b.get_column("numerator").to_list(),
                                                      b.get_column("denominator").to_list(), strata=_strata(bp, dim))}
        for o in found:
            mat = material_amount(kpi, o.peer)
            o = replace(o, delta=o.adjusted_delta)  # judged on the mix-adjusted gap
            standing = o.unit in before and np.sign(before[o.unit].delta) == np.sign(o.delta)
            reach = o.n / max(run.client_volume.get((client, kpi.name), 0.0), 1.0)
            out.append(Candidate(
                type="peer_outlier", kpi=kpi.name, segment={"client_id": client, dim: o.unit}, level=level,
                period=Period(week, week + timedelta(days=6)), observed=o.observed, expected=o.peer, delta=o.delta,
                ci=o.limits, n=o.n, baseline="its peers this week", test=o.test, p_value=o.p_value,
                material=abs(o.delta) >= mat, polarity=polarity(kpi.direction, o.delta), reach=reach, weeks=1,
                seen_before=4 if standing else 0, impact_value=o.delta * o.n,
                evidence={"adjusted": o.adjusted, "adjusted_delta": o.adjusted_delta, "tau": o.tau, "z": o.z,
                          "standing": bool(standing)},
                windows=((), (week,))))
    return out


def _month_bounds(week_end: date) -> tuple[date, date]:
    """(first day, last day) of the latest calendar month complete by `week_end`."""
    last = week_end if (week_end + timedelta(days=1)).day == 1 else week_end.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def monthly(run: Run, *, levels: list[tuple[str, ...]], kpis: list[str], last_day: date | None) -> list[Candidate]:
    """KPIs billed by the month (cost per contact), judged on complete months only.

    Invoices cover whole months, so a week's share of a month's invoice is an allocation, not a
    measurement (and a month not yet invoiced makes its weeks look free): the latest month complete
    by the review week is compared with the months before it, like with like, for a few weeks after
    it closes.
    """
    th, week_end, catalog = run.th, run.week_end, run.catalog
    m_start, m_end = _month_bounds(week_end)
    since = (week_end - m_end).days // 7
    if last_day is None or last_day < m_end or since >= th.month_news_weeks:
        return []
    months = th.history_months
    first = m_start
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    out: list[Candidate] = []
    for level in levels:
        if len(level) > len(levels[0]) + 1 or (len(level) > len(levels[0]) and level[-1] not in SUSTAINED_DIMENSIONS):
            continue
        f = run.kpis(kpis, grain="month", by=level, start=first, end=m_end)
        f = run.view.apply(f, rows_only=True).filter(
            pl.col("numerator").is_not_null() & (pl.col("numerator") != 0) & (pl.col("denominator") > 0))
        for key, rows in f.partition_by([*level, "kpi"], as_dict=True).items():
            if any(v is None for v in key):
                continue
            segment, kpi = dict(zip(level, key[:-1])), catalog.kpis[key[-1]]
            periods = tuple(sorted(rows.get_column("period").to_list()))
            if not periods or periods[-1] != m_start:
                continue
            s = series_of(rows, periods, "mean")
            r = det.rate_change(s, baseline_weeks=th.baseline_months, history_weeks=months,
                                min_history=th.min_history_months)
            if r is None or r.n < (kpi.min_volume or 0):
                continue
            mat = material_amount(kpi, r.expected)
            out.append(Candidate(
                type="rate_change", kpi=kpi.name, segment=segment, level=level, period=Period(m_start, m_end),
                observed=r.observed, expected=r.expected, delta=r.delta, ci=r.ci, n=r.n,
                baseline=f"trailing {r.baseline_weeks} complete months", test=r.test, p_value=r.p_value,
                material=abs(r.delta) >= mat, polarity=polarity(kpi.direction, r.delta), reach=1.0, weeks=1,
                seen_before=since, impact_value=r.delta * float(s.denominator[-1]),
                evidence={"sigma": r.sigma, "mde": r.mde, "z": r.z, "grain": "month", "n_baseline": r.n_baseline,
                          "standing": since > 0},
                windows=((), ())))
    return out


def volume(run: Run, *, daily: pl.DataFrame, root: tuple[str, ...],
           declared: Mapping[str | None, frozenset[date]]) -> list[Candidate]:
    """Volume anomalies of tickets created per client, client × site and client × channel (robust STL); the days of
    declared demand events (`declared`, by client; None for every client) are expected, not anomalies."""
    th, week = run.th, run.week
    out: list[Candidate] = []
    if daily.is_empty():
        return out
    first = daily.get_column("period").min()
    assert isinstance(first, date)
    days = [first + timedelta(days=i) for i in range((week + timedelta(days=6) - first).days + 1)]
    # lanes (site × channel) are too thin to judge; a dimension the view already filters on is in root
    for level in [root] + [root + (d,) for d in ("site_id", "channel") if d not in root]:
        agg = daily.group_by([*level, "period"]).agg(pl.col("value").sum())
        for key, rows in agg.partition_by(list(level), as_dict=True).items():
            segment = dict(zip(level, key))
            by_day = dict(zip(rows.get_column("period").to_list(), rows.get_column("value").to_list()))
            counts = [float(by_day.get(d, 0.0)) for d in days]
            if sum(counts[-7:]) < 7 * 10:
                continue
            client_days = declared.get(None, frozenset()) | declared.get(segment["client_id"], frozenset())
            r = det.volume_anomaly(counts, days, week, history_days=th.volume_history_days, declared=client_days)
            if r is None:
                continue
            total = run.client_volume.get((segment["client_id"], "tickets_created"), 0.0)
            material = abs(r.delta) >= th.volume_min_change * r.expected
            r_rel = r.delta / max(r.expected, 1.0)
            out.append(Candidate(
                type="volume_anomaly", kpi="tickets_created", segment=segment, level=level,
                period=Period(week, week + timedelta(days=6)), observed=r.observed, expected=r.expected, delta=r.delta,
                ci=(r.lo, r.hi), n=int(r.observed), baseline="robust STL expectation", test=r.test,
                p_value=r.p_value, material=material, polarity="neutral", reach=r.observed / max(total, 1.0),
                weeks=1, seen_before=0, impact_value=r.delta,
                evidence={"robust_z": r.robust_z, "dispersion": r.dispersion, "relative": r_rel},
                windows=((), (week,))))
    return out
