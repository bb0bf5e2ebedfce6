"""Vendors & sites (multi-vendor governance): one scorecard framework, outcomes first; a mix-adjusted
comparison with the adjustment shown; peer funnel plots; onshore/nearshore/offshore; volume share."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import access, analyses, charts, components, state
from insights.catalog import load_catalog
from insights.review import format_delta, format_value
from insights.scorecard import FRAMEWORK, funnel, funnel_curve

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
components.view_caption(week, dict(dims), f"scorecard window {card.start:%d %b} – {card.end:%d %b %Y}")


def name(entity: str) -> str:
    """Display name of a vendor or site id (tiers are already words)."""
    return access.label_of(ctx.ws, level, entity) if level in ("vendor", "site") else entity


if card.frame.is_empty():
    components.no_data("this comparison")
    st.stop()

entities = card.volume.get_column("entity").to_list() or sorted(card.frame.get_column("entity").unique().to_list())
st.subheader("Scorecard")
st.caption("Outcomes first (what customers got), then efficiency, then cost. Each cell: the value and its difference "
           "from the whole view (peer); n under the KPI's minimum volume is marked low n.")
if len(entities) == 1:
    st.info(f"Only {name(entities[0])} is in your view, so it is its own peer: compare sites (above) to see "
            "where it does better or worse.", icon="ℹ️")
rows = []
notes: dict[str, None] = {}  # why a cost cell is '–' or over which weeks it runs, numbered in order of appearance
for group, names in FRAMEWORK:
    for kpi in names:
        k = catalog.kpis.get(kpi)
        part = card.frame.filter(pl.col("kpi") == kpi)
        if k is None or part.is_empty():
            continue
        row = {"group": group, "KPI": k.label,
               "peer": format_value(part.get_column("peer")[0], k.unit, k.format)}
        for r in part.iter_rows(named=True):
            cell = format_value(r["value"], k.unit, k.format)
            if r["value"] is not None and r["vs_peer"] is not None and len(entities) > 1:
                same = format_delta(r["vs_peer"], k.unit, k.format) == format_delta(0.0, k.unit, k.format)
                good = "" if same else " ✔" if r["better"] else " ✖"  # level with the peer: neither
                cell += f" ({format_delta(r['vs_peer'], k.unit, k.format)}{good})"
            if r["value"] is not None and (r["n"] or 0) < (k.min_volume or 0):
                cell += " low n"
            if r.get("note"):
                notes[r["note"]] = None
                cell += f" [{list(notes).index(r['note']) + 1}]"
            row[name(r["entity"])] = cell
        rows.append(row)
st.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch", key="scorecard_table")
st.caption("✔ better than peer, ✖ worse, in each KPI's good direction. Cost is invoiced cost over the window's fully "
           "invoiced weeks against the contacts of the same weeks; '–' where no week is fully invoiced."
           + "".join(f" [{i}] {n}." for i, n in enumerate(notes, 1)))

st.subheader("Fair comparison: mix-adjusted")
kpi = st.selectbox("KPI", [k for k in COMPARABLE if k in catalog.kpis], format_func=lambda k: catalog.kpis[k].label,
                   key="vs_kpi")
adjusted = analyses.mix_adjusted(ctx.ws, ctx.viewer.scope, dims, kpi, level, week, weeks, ctx.version)
c1, c2 = st.columns(2)
c1.plotly_chart(charts.mix_adjusted(adjusted, title=f"{catalog.kpis[kpi].label}: as measured vs mix-adjusted",
                                    labels={e: name(e) for e in entities}), key="mix_chart",
                config={"displayModeBar": False})
c1.caption("Direct standardisation: each one's rate per channel re-weighted to the whole view's channel mix, so "
           "a site taking harder channels is not penalised for its mix. Coverage = share of that mix it serves.")
c1.dataframe(adjusted.select(pl.col("entity").map_elements(name, return_dtype=pl.String), "crude", "adjusted",
                             "adjustment", "coverage", pl.col("denominator").alias("n")),
             hide_index=True, width="stretch", key="mix_table", column_config={
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
           + (", ".join(f"{r['entity']} ({FUNNEL_STATUS[r['status']]})" for r in outside.iter_rows(named=True))
              or "nobody") + ".")

st.subheader("Volume share and concentration")
v1, v2 = st.columns([3, 1])
v1.plotly_chart(charts.volume_share(card.volume, title="Share of tickets", labels={e: name(e) for e in entities}),
                key="volume_chart", config={"displayModeBar": False})
hhi = card.hhi
v2.metric("Concentration (HHI)", f"{hhi:,.0f}", help="Σ share² × 10,000: under 1,500 diversified, "
          "1,500–2,500 moderate, over 2,500 concentrated on few partners")
v2.caption("concentrated" if hhi > 2500 else "moderately concentrated" if hhi > 1500 else "diversified")
