"""Workforce: forecast vs actual, SLA at risk next week, the interval staffing gap, talent health, the Erlang what-if."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import charts, components, data, state
from insights import format
from insights.analyses import QUEUE, StaffingError, StaffingTarget, plan_staffing

FORECAST_WEEKS = 4
HISTORY_WEEKS = 26
GAP_WEEKS = 8
OCCUPANCY_LIMIT, BURNOUT_WEEKS = 0.85, 3
NEXT_STEP = {  # what to import when a section has nothing to show
    "tickets": "import tickets with `bpo-insights import FILE --preset canonical_tickets`",
    "contact_intervals": "import voice/chat interval reports with "
                         "`bpo-insights import FILE --preset canonical_contact_intervals`, or call logs (one row "
                         "per call) with `bpo-insights import FILE --preset acd_calls` (or amazon_connect_contacts, "
                         "genesys_conversations, five9_calls)",
    "staffing_roster": "import the roster (one row per agent per day) with "
                       "`bpo-insights import FILE --preset canonical_staffing_roster`",
}
PERCENT = st.column_config.NumberColumn(format="percent")
ONE_DECIMAL = st.column_config.NumberColumn(format="%.1f")
WHOLE = st.column_config.NumberColumn(format="%.0f")


def empty(what: str, table: str, missing: data.Missing | None = None) -> None:
    """The section's empty state: what is missing and the command that fills it."""
    st.info(f"No {what} for this view yet: {NEXT_STEP[table]}."
            + (f"\n\n({format.markdown(missing.reason)})" if missing is not None else ""), icon="ℹ️")


ctx = state.context()
f = ctx.filters
dims = tuple(sorted(f.dimensions().items()))
ws, scope, version = ctx.ws, ctx.viewer.scope, ctx.version
names = format.Names.of_view(ws, scope)  # bpo.toml's names and the sources' group names this viewer may see
weeks = data.weeks(ws, scope, dims, version)
week = f.week or (weeks[0] if weeks else None)
end = data.week_end(week)


def queue_label(row: dict) -> str:
    """A queue by its name, else by the work it holds in names: 'Acme Home · site Northwind Bogotá · channel voice'."""
    return format.queue(row, names)


st.title("Workforce")
if week is not None:  # the week and its reporting calendar, named as every page names them
    components.view_caption(week, f.dimensions(), names=names)
else:
    st.caption(format.markdown(format.filters(f.dimensions(), names) or "all work in your view"))

# ----------------------------------------------------------------------------------- forecast vs actual
st.subheader("Volume: forecast vs actual")
components.not_split(f.dimensions(), "The volume forecast", ("tickets", "contacts", "contact_intervals"), plural=False)
now = data.volume_forecast(ws, scope, dims, end, FORECAST_WEEKS, version)
if isinstance(now, data.Missing) or now.filter(pl.col("kind") == "forecast").is_empty():
    empty("weekly volume history long enough to forecast", "tickets", now if isinstance(now, data.Missing) else None)
else:
    queues = now.filter(pl.col("kind") == "forecast").select(QUEUE).unique(maintain_order=True).to_dicts()
    chosen = st.selectbox("Queue", queues, format_func=queue_label, key="wf_forecast_queue")
    one = now.filter(pl.all_horizontal(pl.col(k) == chosen[k] for k in QUEUE))
    last_actual = one.filter(pl.col("kind") == "actual").get_column("period").max()
    past = data.volume_forecast(ws, scope, dims, last_actual - timedelta(days=7 * FORECAST_WEEKS - 6),
                                FORECAST_WEEKS, version)
    past_one = (past.filter(pl.all_horizontal(pl.col(k) == chosen[k] for k in QUEUE) & (pl.col("kind") == "forecast"))
                if not isinstance(past, data.Missing) else pl.DataFrame())
    actual = one.filter((pl.col("kind") == "actual") & (pl.col("period") > last_actual - timedelta(weeks=HISTORY_WEEKS)))
    fig = charts.forecast_vs_actual(
        actual, [(f"forecast, next {FORECAST_WEEKS} weeks", one.filter(pl.col("kind") == "forecast")),
                 (f"forecast made {FORECAST_WEEKS} weeks earlier", past_one)],
        title=f"Weekly contacts, {queue_label(chosen)}: the last {FORECAST_WEEKS} weeks against the forecast made "
              f"before them, and the next {FORECAST_WEEKS}")
    st.plotly_chart(fig, key="wf_forecast_chart", config={"displayModeBar": False})
    st.caption("ETS on log volume with simulated paths (80 % and 95 % intervals); the dotted line is the "
               "seasonal-naive baseline the forecast must beat. Calendar events are adjusted for.")
    table = now.filter(pl.col("kind") == "forecast").select(
        "period", *QUEUE, pl.col("mean").alias("forecast"), "lo80", "hi80", "lo95", "hi95",
        pl.col("naive").alias("seasonal naive"))
    with st.expander(f"Forecast per queue, next {FORECAST_WEEKS} weeks"):
        components.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: WHOLE for c in ("forecast", "lo80", "hi80", "lo95", "hi95", "seasonal naive")})

# ----------------------------------------------------------------------------------- SLA at risk
risk = data.sla_risk(ws, scope, dims, end, version)
RISK_NOTE = ("Service-level risk", ("contact_intervals", "staffing_roster"))
if isinstance(risk, data.Missing) or risk.frame.is_empty():
    st.subheader("SLA at risk next week")
    components.not_split(f.dimensions(), *RISK_NOTE, plural=False)
    empty("voice or chat interval data", "contact_intervals", risk if isinstance(risk, data.Missing) else None)
else:
    st.subheader(f"SLA at risk in the week of {risk.week:%d %b %Y}")
    components.not_split(f.dimensions(), *RISK_NOTE, plural=False)
    st.plotly_chart(charts.risk_bars(risk.frame, max_risk=risk.max_risk,
                                     title="Probability each queue misses its contractual service level"),
                    key="wf_risk_chart", config={"displayModeBar": False})
    last_week = risk.frame.get_column("last_week").max()
    last_label = f"last week ({last_week:%d %b})" if last_week else "last week"
    components.dataframe(risk.frame.select(
        "queue_id", "target", pl.col("last_week_service_level").alias(last_label),
        pl.col("predicted_service_level").alias("predicted"),
        pl.col("forecast_offered").alias("forecast offered"), "lo80", "hi80",
        pl.col("aht_seconds").alias("AHT (s)"), pl.col("scheduled_on_queue_hours").alias("scheduled on-queue h"),
        pl.col("p_miss").alias("P(miss)"), pl.col("fte_needed").alias(f"FTE to bring P(miss) under {risk.max_risk:.0%}")),
        hide_index=True, width="stretch", key="wf_risk_table",
        column_config={last_label: PERCENT, "predicted": PERCENT, "forecast offered": WHOLE, "lo80": WHOLE,
                       "hi80": WHOLE, "AHT (s)": WHOLE, "scheduled on-queue h": ONE_DECIMAL, "P(miss)": PERCENT,
                       f"FTE to bring P(miss) under {risk.max_risk:.0%}": ONE_DECIMAL})
    st.caption("P(miss) starts from each queue's measured service level over the last weeks, moved by the change "
               "Erlang C (calibrated to what the queue delivered) expects next week at the latest week's roster; "
               "a backtest on past weeks checks that these probabilities come true as often as they say "
               "(benchmarks/README.md). The FTE prices more rostered time through the calibrated Erlang C.")

# ----------------------------------------------------------------------------------- staffing gap
st.subheader("Staffing gap by weekday and interval")
components.not_split(f.dimensions(), "Interval staffing", ("contact_intervals", "staffing_roster"), plural=False)
gap = data.staffing_gap(ws, scope, dims, None if week is None else week - timedelta(weeks=GAP_WEEKS - 1), end, version)
if isinstance(gap, data.Missing) or gap.pattern.is_empty():
    empty("interval data to compare with the roster", "contact_intervals", gap if isinstance(gap, data.Missing) else None)
else:
    gq = gap.pattern.get_column("queue_id").unique(maintain_order=True).to_list()
    first = gap.worst.get_column("queue_id")[0] if gap.worst.height else gq[0]
    keys = [c for c in ("queue_id", *format.QUEUE_PARTS) if c in gap.pattern.columns]
    rows = {r["queue_id"]: r for r in gap.pattern.select(keys).unique("queue_id").iter_rows(named=True)}
    queue = st.selectbox("Interval queue", gq, index=gq.index(first), format_func=lambda q: queue_label(rows[q]),
                         key="wf_gap_queue")
    st.plotly_chart(charts.staffing_heatmap(gap.pattern.filter(pl.col("queue_id") == queue),
                                            title=f"Required − scheduled agents, {queue_label(rows[queue])}: mean over the last "
                                                  f"{GAP_WEEKS} weeks at its contractual service level",
                                            calendar=gap.calendar),
                    key="wf_gap_chart", config={"displayModeBar": False})
    q = gap.queues.filter(pl.col("queue_id") == queue) if gap.queues.height else gap.queues
    if q.height and q["service_level"][0] is not None:
        r = q.row(0, named=True)
        factor = r["staffing_factor"]
        st.caption(f"Measured service level over these weeks: {r['service_level']:.1%} against {r['target']:.0%} "
                   f"({'met' if r['met'] else 'missed'}). "
                   + (f"Erlang C needs {factor:.1f}× the rostered on-queue time to reproduce that level, so required "
                      "agents are shown in rostered agents (Erlang C's figure ÷ that factor): a queue that met its "
                      "target at its roster shows no overall shortfall."
                      if factor is not None and not math.isnan(factor) else "No roster to calibrate Erlang C against."))
    if gap.worst.height:
        st.markdown("**Worst intervals** (required by Erlang C at the contractual service level vs the roster):\n\n"
                    + "\n".join(f"- {format.markdown(line)}" for line in gap.worst_named(names)))
    else:
        st.success("Every interval is staffed to the service level on average.")

# ----------------------------------------------------------------------------------- occupancy
st.subheader("Occupancy and burnout risk")
components.not_split(f.dimensions(), "Occupancy and adherence", ("staffing_roster",))
occ = data.occupancy(ws, scope, dims, OCCUPANCY_LIMIT, BURNOUT_WEEKS, version)
if isinstance(occ, data.Missing) or occ.is_empty():
    empty("roster", "staffing_roster", occ if isinstance(occ, data.Missing) else None)
else:
    left, right = st.columns(2)
    left.plotly_chart(charts.lines_by(occ, x="week", y="occupancy", split="site_id", tickformat=".0%",
                                      target=OCCUPANCY_LIMIT, target_name=f"burnout limit {OCCUPANCY_LIMIT:.0%}",
                                      flag="burnout_risk", from_zero=False, labels=names.site,
                                      title="Weekly occupancy (handle ÷ on-queue time)"),
                      key="wf_occupancy_chart", config={"displayModeBar": False})
    right.plotly_chart(charts.lines_by(occ, x="week", y="adherence", split="site_id", tickformat=".0%",
                                       from_zero=False, title="Schedule adherence", labels=names.site),
                       key="wf_adherence_chart", config={"displayModeBar": False})
    at_risk = occ.filter(pl.col("burnout_risk") & (pl.col("week") == occ.get_column("week").max()))
    if at_risk.height:
        st.warning("Burnout risk: occupancy above "
                   f"{OCCUPANCY_LIMIT:.0%} for {BURNOUT_WEEKS} weeks running at "
                   + ", ".join(f"{format.markdown(format.label('site', r['site_id'], names))} "
                               f"({format.share(r['occupancy'], 0)})" for r in at_risk.iter_rows(named=True)), icon="⚠️")
    else:
        st.caption(f"No site has run above {OCCUPANCY_LIMIT:.0%} occupancy for {BURNOUT_WEEKS} weeks in the latest week.")

# ----------------------------------------------------------------------------------- attrition
st.subheader("Attrition")
components.not_split(f.dimensions(), "Attrition", ("staffing_roster",), plural=False)
att = data.attrition(ws, scope, dims, ("client_id",), version)  # talent.attrition(by=()) fails: see report
sites = data.attrition(ws, scope, dims, ("site_id",), version)
if isinstance(att, data.Missing) or att.monthly.is_empty() or isinstance(sites, data.Missing):
    empty("roster", "staffing_roster", att if isinstance(att, data.Missing) else None)
else:
    since = att.monthly.get_column("month").max() - timedelta(days=365)
    recent = att.monthly.filter(pl.col("month") > since)
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.attrition_chart(recent, split="client_id", title="Annualised attrition per client, "
                                                                                "with the exact 95% Poisson interval"),
                      key="wf_attrition_chart", config={"displayModeBar": False})
    right.plotly_chart(charts.leavers_bars(recent, title="Leavers: voluntary vs involuntary"),
                       key="wf_leavers_chart", config={"displayModeBar": False})
    st.markdown("**First-90-day attrition** (hires who left within 90 days, exact Clopper–Pearson 95% interval)")
    components.dataframe(sites.first_90_days.rename({"left_within_90": "left within 90 days", "lo": "95% low", "hi": "95% high"}),
                 hide_index=True, width="stretch", key="wf_first90",
                 column_config={"share": PERCENT, "95% low": PERCENT, "95% high": PERCENT})
    with st.expander("Monthly attrition per site"):
        components.dataframe(sites.monthly.filter(pl.col("month") > since).sort("month", "site_id", descending=[True, False]),
                     hide_index=True, width="stretch",
                     column_config={"rate": PERCENT, "annualised": PERCENT, "lo": PERCENT, "hi": PERCENT,
                                    "headcount": ONE_DECIMAL, "exposure_months": ONE_DECIMAL})

# ----------------------------------------------------------------------------------- competency and cohorts
st.subheader("Speed to competency and nesting cohorts")
components.not_split(f.dimensions(), "Speed to competency and nesting cohorts", ("staffing_roster", "qa_evaluations"))
stc = data.speed_to_competency(ws, scope, dims, version)
if isinstance(stc, data.Missing) or stc.is_empty():
    empty("new hires", "staffing_roster", stc if isinstance(stc, data.Missing) else None)
else:
    st.plotly_chart(charts.competency_chart(stc, title="Weeks from hire until QA, AHT and CSAT reach the site median"),
                    key="wf_competency_chart", config={"displayModeBar": False})
    st.caption("One dot per new agent who got there; agents still below the median are listed in the table.")
    with st.expander("Per agent"):
        components.dataframe(stc, hide_index=True, width="stretch")
cohorts = data.nesting_cohorts(ws, scope, dims, version)
if not isinstance(cohorts, data.Missing) and cohorts.height:
    st.markdown("**Nesting cohorts** (hire week × site: still employed after 30/60/90 days; blank: too recent)")
    components.dataframe(cohorts.sort("cohort_week", descending=True), hide_index=True, width="stretch", key="wf_cohorts",
                 column_config={"cohort_week": st.column_config.DateColumn(format="D MMM YYYY"),
                                **{c: PERCENT for c in ("retained_30d", "retained_60d", "retained_90d")}})

# ----------------------------------------------------------------------------------- what-if
st.subheader("What-if: agents for one interval")
with st.form("wf_what_if"):
    c = st.columns(7)
    calls = c[0].number_input("Calls", min_value=1.0, value=100.0, step=10.0, format="%g", key="wi_calls")
    aht = c[1].number_input("AHT (s)", min_value=1.0, value=180.0, step=10.0, format="%g", key="wi_aht")
    interval = c[2].selectbox("Interval (min)", [15, 30, 60], index=1, key="wi_interval")
    share = c[3].number_input("Target %", min_value=1.0, max_value=99.0, value=80.0, step=5.0, format="%g", key="wi_share")
    seconds = c[4].number_input("within (s)", min_value=1.0, value=20.0, step=5.0, format="%g", key="wi_seconds")
    patience = c[5].number_input("Patience (s, 0 = none)", min_value=0.0, value=0.0, step=30.0, format="%g", key="wi_patience")
    shrinkage = c[6].number_input("Shrinkage %", min_value=0.0, max_value=95.0, value=30.0, step=5.0, format="%g", key="wi_shrinkage")
    st.form_submit_button("Calculate")
try:
    plan = plan_staffing(calls=calls, aht=aht, interval_minutes=float(interval),
                         target=StaffingTarget(share / 100, seconds), patience=patience or None,
                         shrinkage=shrinkage / 100)
except StaffingError as e:
    st.error(str(e))
else:
    m = st.columns(6)
    m[0].metric("Agents on the phones", f"{plan.agents:,}")
    m[1].metric("FTE to schedule", f"{plan.fte:,.1f}")
    m[2].metric("Service level", format.value("percent", plan.service_level))
    m[3].metric("ASA", format.duration(plan.asa))
    m[4].metric("Occupancy", format.value("percent", plan.occupancy))
    m[5].metric("Abandonment", format.value("percent", plan.abandonment))
    st.caption(f"{plan.model}: {plan.load:,.2f} Erlangs of load, target {plan.target}"
               + ("; callers never hang up" if plan.patience is None else f"; mean patience {plan.patience:g} s")
               + f"; FTE after {plan.shrinkage:.0%} shrinkage.")
