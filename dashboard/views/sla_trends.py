"""SLA trends (the brand manager): every contractual target, attainment by week and by vendor/site/
channel/priority against the contract, breach streaks, penalty exposure, and the tickets behind a point."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

import polars as pl
import streamlit as st

from dashboard import analyses, charts, components, data, state
from insights import format
from insights.catalog import load_catalog
from insights.analyses import DRILL, target_line

METRICS = ("sla_first_response", "sla_resolution", "service_level")
SPLITS = {"vendor": "Vendor", "site": "Site", "channel": "Channel", "priority": "Priority"}
IDS_SHOWN = 20
STATUS_TEXT = {"met": "✔ met", "missed": "▼ missed", "no data": "– no data"}

ctx = state.context()
dims = tuple(sorted(ctx.filters.dimensions().items()))
catalog = load_catalog()
st.title("SLA trends")
week = components.page_week(ctx)
if week is None:
    components.no_data()
    st.stop()
names = format.Names.of_view(ctx.ws, ctx.viewer.scope)
components.view_caption(week, dict(dims), names=names)
view = analyses.sla_view(ctx.ws, ctx.viewer.scope, dims, week, ctx.version)
if view.targets.is_empty():
    st.info("No contractual SLA target binds the work in this view: add the contract's targets to the "
            "`sla_targets` table (`bpo-insights import targets.csv --preset canonical`).", icon="ℹ️")
    st.stop()

t = view.targets
credits = view.credits
components.metric_row([
    ("Contract targets in view", f"{t.height}", "sla_targets rows in force this week for the work in view"),
    ("Missed this week", f"{view.missed}", "targets whose attainment is on the wrong side of the contract"),
    ("Longest breach streak", f"{int(t.get_column('streak').max() or 0)} wk", "consecutive missed weeks up to this one"),
    (f"Credits at stake, {credits.label}" if credits else "Credits at stake",
     "–" if credits is None or credits.total is None else format.money(credits.total, credits.currency, cents=False),
     "per site and channel lane: points below the contract target × penalty per point, over the month"
     + (f" ({credits.reason})" if credits and credits.reason else "; the figure the vendor's invoice should credit")),
])
# credits are owed on the work the contract binds: its targets record no language, so neither do the credits
components.not_split(dict(dims), "Credits at stake", ("sla_targets",), plural=False)
if credits is not None and credits.total and credits.lanes.height:
    with st.expander(f"Credits at stake by lane, {credits.label}"):
        components.dataframe(credits.lanes.select("client_id", "vendor_id", "site_id", "channel", "metric", "base", "attained",
                                          "target", "points_below", "owed"),
                     hide_index=True, width="stretch", key="sla_credit_lanes", column_config={
                         "attained": st.column_config.NumberColumn(format="percent"),
                         "target": st.column_config.NumberColumn(format="percent"),
                         "base": st.column_config.NumberColumn(format="%.0f"),
                         "owed": st.column_config.NumberColumn(format="%.2f")})

st.subheader("Every contractual target")
st.caption(f"Attainment this week against each target in force, the misses that cost most tickets first; "
           f"tickets short = tickets that had to meet the target to reach it (rates only); streak = consecutive missed weeks; "
           f"missed = weeks missed of the last {(week - view.history_start).days // 7 + 1}.")
label = {k: v.label for k, v in catalog.kpis.items()}
table = t.select(
    pl.col("target_id").alias("target"),
    pl.col("metric").replace_strict(label, default=pl.col("metric")).alias("KPI"),
    pl.col("channel").fill_null("all"), pl.col("priority").fill_null("all"),
    pl.col("value_text").alias("attainment"), pl.col("target_text").alias("target value"),
    pl.col("status").replace_strict(STATUS_TEXT, default=pl.col("status")).alias("status"),
    pl.col("n"), pl.col("streak").alias("streak (weeks)"), pl.col("weeks_missed").alias("weeks missed"),
    pl.col("tickets_short").alias("tickets short"),
)
components.dataframe(table, hide_index=True, width="stretch", key="sla_targets_table")  # each KPI in its own unit
components.not_split_kpis(dict(dims), t.get_column("metric").unique(maintain_order=True).to_list())

st.subheader("Attainment by week")
present = [m for m in METRICS if m in set(t.get_column("metric"))] or list(METRICS)
left, right = st.columns(2)
metric = left.selectbox("KPI", present, format_func=lambda m: label.get(m, m), key="sla_metric")
split = right.radio("Split by", list(SPLITS), format_func=SPLITS.get, horizontal=True, key="sla_split",
                    index=list(SPLITS).index("channel") if "channel" not in dict(dims) else 0)
start = view.history_start
frame = analyses.attainment_by(ctx.ws, ctx.viewer.scope, dims, metric, split, start, week + timedelta(days=6), ctx.version)
targets = analyses.contract_targets(ctx.ws, ctx.viewer.scope, dims, ctx.version)
periods = [start + timedelta(weeks=i) for i in range((week - start).days // 7 + 1)]
line = target_line(targets, metric, dict(dims), periods)
events = data.events(ctx.ws, ctx.viewer.scope, dims, start, week + timedelta(days=6), ctx.version)
fig = charts.attainment_by(frame, split, title=f"{label.get(metric, metric)} by {split}", target=line, periods=periods,
                           events=events, labels=names.of_kind(split))
event = st.plotly_chart(fig, key="sla_attainment_chart", on_select="rerun", selection_mode="points",
                        config={"displayModeBar": False})
components.events_caption(events, start, week + timedelta(days=6))
components.not_split_kpis(dict(dims), [metric])
undrawn = sorted(set(frame.get_column(split).drop_nulls()) - set(frame.drop_nulls("value").get_column(split)))
if undrawn:
    st.caption(f"No line for {format.markdown(', '.join(map(str, undrawn)))}: no ticket there is under a "
               f"{label.get(metric, metric)} target.")
if all(v is None for v in line):
    st.caption("No single contract target covers every line here (targets differ by channel or priority): "
               "filter by channel, or read each target in the table above.")

st.subheader("Tickets behind a point")
if metric == "service_level":
    st.caption("Service level is measured on queue intervals, not tickets: pick first-response or resolution "
               "attainment to list tickets.")
    st.stop()
# this week's lines worst first; a line with no ticket under this target (voice has no first-reply SLA) last
this_week = frame.filter((pl.col("period") == week) & pl.col("value").is_not_null()).sort("value")
options = this_week.get_column(split).to_list() or frame.get_column(split).unique().sort().to_list()
points = (event.selection.points if event and event.selection else []) or []
weeks = sorted({d for d in frame.get_column("period").to_list()}, reverse=True)
# the pickers below hold the drill-down; they start at this week's worst line, and a new click moves them to the
# point clicked (the chart keeps its selection across reruns, so only a click not yet applied moves them)
view_key = (week, metric, split, dims)
if st.session_state.get("sla_drill_view") != view_key:
    st.session_state["sla_drill_view"] = view_key
    st.session_state["sla_drill_week"] = week if week in weeks else (weeks[0] if weeks else None)
    st.session_state["sla_drill_segment"] = options[0] if options else None
if points:  # a click on the chart: its week and line
    p = points[0]
    shown = (p.get("customdata") or [None])[0]  # the line's value as the chart writes it (format.chart_text)
    # a point's x is its period's first day, already a reporting week's (a Sunday for Sunday weeks): never re-cut it
    clicked = (date.fromisoformat(str(p["x"])[:10]), {format.chart_text(o): o for o in options}.get(shown, shown))
    if st.session_state.get("sla_drill_click") != clicked:
        st.session_state["sla_drill_click"] = clicked
        if clicked[0] in weeks:
            st.session_state["sla_drill_week"] = clicked[0]
        if clicked[1] in options:
            st.session_state["sla_drill_segment"] = clicked[1]
for key, allowed in (("sla_drill_week", weeks), ("sla_drill_segment", options)):
    if st.session_state.get(key) not in allowed:
        st.session_state[key] = allowed[0] if allowed else None
st.caption("Click a point on the chart, or pick the week and the line here. Ids, times and the breach reason only: "
           "no message bodies.")
c1, c2 = st.columns(2)
chosen_week = c1.selectbox("Week", weeks, format_func=state.week_label, key="sla_drill_week")
chosen = (c2.selectbox(SPLITS[split], options, format_func=lambda v: format.label(split, v, names), key="sla_drill_segment")
          if options else None)
if chosen is None:
    st.caption("No tickets with this target in the view.")
    st.stop()
tickets = analyses.tickets_behind(ctx.ws, ctx.viewer.scope, dims, metric, chosen_week, ((split, chosen),), ctx.version)
total, breached = analyses.counts_behind(ctx.ws, ctx.viewer.scope, dims, metric, chosen_week, ((split, chosen),),
                                        ctx.version)
point = frame.filter((pl.col("period") == chosen_week) & (pl.col(split) == chosen))
value = point.get_column("value")[0] if point.height else None
st.markdown(f"**{SPLITS[split]} {format.markdown(format.label(split, chosen, names))}, week of {chosen_week:%d %b %Y}:** "
            f"{format.value('percent', value)} attainment; {breached:,} breached of {total:,} tickets"
            + (f" (the table lists the first {tickets.height:,}, breaches first)" if tickets.height < total else ""))
ids = tickets.filter(pl.col(DRILL[metric][0])).get_column("ticket_id").head(IDS_SHOWN).to_list()
if ids:
    st.markdown(f'<div class="bpo-ticket-ids" style="font-size:0.85rem">Breached, to open in the helpdesk: '
                f'{escape(", ".join(ids))}{" …" if breached > len(ids) else ""}</div>', unsafe_allow_html=True)
components.dataframe(tickets.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M")), hide_index=True, width="stretch",
             key="sla_tickets_table")
