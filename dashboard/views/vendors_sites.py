"""Vendors & sites (multi-vendor governance): one scorecard framework, outcomes first; a mix-adjusted
comparison with the adjustment shown; peer funnel plots; onshore/nearshore/offshore; volume share."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import analyses, charts, components, state
from insights import format
from insights.analyses import FRAMEWORK, funnel, funnel_curve
from insights.catalog import Kpi, load_catalog

LEVELS = {"vendor": "Vendors", "site": "Sites", "tier": "Onshore / nearshore / offshore"}
COMPARABLE = ("csat", "fcr", "sla_first_response", "sla_resolution", "repeat_contact_rate")
WINDOWS = (4, 8, 13)

ctx = state.context()
dims = tuple(sorted(ctx.filters.dimensions().items()))
catalog = load_catalog()
st.title("Vendors & sites")
week = components.page_week(ctx)
if week is None:
    components.no_data()
    st.stop()
left, right = st.columns([3, 1])
level = left.radio("Compare", list(LEVELS), format_func=LEVELS.get, horizontal=True, key="vs_level")
weeks = right.selectbox("Window", WINDOWS, format_func=lambda w: f"last {w} weeks", key="vs_weeks")
card = analyses.scorecard_for(ctx.ws, ctx.viewer.scope, dims, level, week, weeks, ctx.version)
labels = format.Names.of_view(ctx.ws, ctx.viewer.scope)
components.view_caption(week, dict(dims), f"scorecard window {card.start:%d %b} – {card.end:%d %b %Y}", names=labels)


def name(entity: str) -> str:
    """Display name of a vendor or site id (tiers are already words)."""
    return format.label(level, entity, labels) if level in ("vendor", "site") else entity


if card.frame.is_empty():
    components.no_data("this comparison")
    st.stop()

entities = card.volume.get_column("entity").to_list() or sorted(card.frame.get_column("entity").unique().to_list())
st.subheader("Scorecard")
st.caption("Outcomes first (what customers got), then efficiency, then cost. Each cell: the value and its difference "
           "from the whole view (peer); n under the KPI's minimum volume is marked low n.")
if len(entities) == 1:
    st.info(f"Only {format.markdown(name(entities[0]))} is in your view, so it is its own peer: compare sites (above) to see "
            "where it does better or worse.", icon="ℹ️")


def scorecard_row(group: str, k: Kpi, within: str | None, part: pl.DataFrame) -> dict[str, str]:
    """One scorecard row: the KPI (in one channel when it is comparable only within one), the peer, each entity."""
    row = {"group": group, "KPI": f"{k.label} · {within}" if within else k.label,
           "peer": format.value(k, part.get_column("peer")[0])}
    for r in part.iter_rows(named=True):
        cell = format.value(k, r["value"])
        if r["value"] is not None and r["vs_peer"] is not None and len(entities) > 1:
            same = format.delta(k, r["vs_peer"]).startswith("±")
            good = "" if same else " ✔" if r["better"] else " ✖"  # level with the peer: neither
            cell += f" ({format.delta(k, r['vs_peer'])}{good})"
        if r["verdict"]:  # against the contract in force for this entity's work, durations and costs too
            cell += f"; contract {format.value(k, r['target'])} {'✓' if r['verdict'] == 'met' else '✗'}"
        if r["value"] is not None and (r["n"] or 0) < (k.min_volume or 0):
            cell += " low n"
        if r.get("note"):
            notes[r["note"]] = None
            cell += f" [{list(notes).index(r['note']) + 1}]"
        row[name(r["entity"])] = cell
    return row


rows = []
notes: dict[str, None] = {}  # why a cost cell is '–' or over which weeks it runs, numbered in order of appearance
for group, names in FRAMEWORK:
    for kpi in names:
        k = catalog.kpis.get(kpi)
        if k is None:
            continue
        # a KPI comparable only within one channel gets a row per channel (`within` null: one row, the whole pool)
        for (within,), part in card.frame.filter(pl.col("kpi") == kpi).group_by(["within"], maintain_order=True):
            rows.append(scorecard_row(group, k, within, part))
components.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch", key="scorecard_table")
shown_kpis = set(card.frame.get_column("kpi").to_list())
components.not_split_kpis(dict(dims), [k for _, group in FRAMEWORK for k in group if k in shown_kpis])
split = sorted({f"{catalog.kpis[k].label} ({catalog.kpis[k].within})" for k in card.frame.filter(
    pl.col("within").is_not_null()).get_column("kpi").unique().to_list()})
st.caption("✔ better than peer, ✖ worse, in each KPI's good direction; ✓ meets, ✗ misses the contract target in force "
           "for that vendor's or site's work over the window (no mark: no contract target). Cost is invoiced cost over the window's fully "
           "invoiced weeks against the contacts of the same weeks; '–' where no week is fully invoiced."
           + "".join(f" [{i}] {format.markdown(n)}." for i, n in enumerate(notes, 1))
           + (f" Compared within one channel, against the peer in that channel: {', '.join(split)}; a figure over "
              f"all channels moves with each one's channel mix (voice answers in seconds, email in hours), not "
              f"with performance." if split else ""))

st.subheader("Fair comparison: mix-adjusted")
kpi = st.selectbox("KPI", [k for k in COMPARABLE if k in catalog.kpis], format_func=lambda k: catalog.kpis[k].label,
                   key="vs_kpi")
adjusted = analyses.mix_adjusted(ctx.ws, ctx.viewer.scope, dims, kpi, level, week, weeks, ctx.version)
components.not_split_kpis(dict(dims), [kpi])
c1, c2 = st.columns(2)
c1.plotly_chart(charts.mix_adjusted(adjusted, title=f"{catalog.kpis[kpi].label}: as measured vs mix-adjusted",
                                    labels={e: name(e) for e in entities}), key="mix_chart",
                config={"displayModeBar": False})
c1.caption("Direct standardisation: each one's rate per channel re-weighted to the whole view's channel mix, so "
           "a site taking harder channels is not penalised for its mix. Coverage = share of that mix it serves.")
components.dataframe(adjusted.select(pl.col("entity").map_elements(name, return_dtype=pl.String), "crude", "adjusted",
                             "adjustment", "coverage", pl.col("denominator").alias("n")),
             where=c1, hide_index=True, width="stretch", key="mix_table", column_config={
                 c: st.column_config.NumberColumn(format="percent") for c in ("crude", "adjusted", "coverage")} | {
                 "adjustment": st.column_config.NumberColumn(format="%+.3f")})
points = card.frame.filter((pl.col("kpi") == kpi) & pl.col("denominator").is_not_null()).select(
    pl.col("entity").map_elements(name, return_dtype=pl.String), "numerator", "denominator")
peer = card.frame.filter(pl.col("kpi") == kpi).get_column("peer")
f = funnel(points, peer=peer[0] if peer.len() else None)
curve = funnel_curve(f.get_column("peer")[0], float(f.get_column("n").max())) if f.height else pl.DataFrame()
c2.plotly_chart(charts.funnel_plot(f, curve, title=f"{catalog.kpis[kpi].label}: peer funnel",
                                   higher_is_better=catalog.kpis[kpi].direction != "lower_is_better"),
                key="funnel_chart", config={"displayModeBar": False})
FUNNEL_STATUS = {"above": "above the 99.8 % limit", "below": "below the 99.8 % limit", "watch": "outside 95 % only"}
outside = f.filter(pl.col("status") != "within")
c2.caption("Inside the funnel is the expected range for that volume. Outside it: "
           + (", ".join(f"{format.markdown(r['entity'])} ({FUNNEL_STATUS[r['status']]})"
                        for r in outside.iter_rows(named=True))
              or "nobody") + ".")

st.subheader("Volume share and concentration")
v1, v2 = st.columns([3, 1])
v1.plotly_chart(charts.volume_share(card.volume, title="Share of tickets", labels={e: name(e) for e in entities}),
                key="volume_chart", config={"displayModeBar": False})
hhi = card.hhi
v2.metric("Concentration (HHI)", f"{hhi:,.0f}", help="Σ share² × 10,000: under 1,500 diversified, "
          "1,500–2,500 moderate, over 2,500 concentrated on few partners")
v2.caption("concentrated" if hhi > 2500 else "moderately concentrated" if hhi > 1500 else "diversified")
