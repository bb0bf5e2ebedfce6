"""Quality & coaching: QA by section, auto-fail reasons, evaluator calibration, and the agents to coach."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import analyses, charts, components, data, state
from insights import contracts
from insights import format
from insights.catalog import load_catalog
from insights.analyses import SECTION_LABELS

WINDOWS = (13, 8, 26)

ctx = state.context()
dims = tuple(sorted(ctx.filters.dimensions().items()))
st.title("Quality & coaching")
week = components.page_week(ctx)
if week is None:
    components.no_data()
    st.stop()
weeks = st.selectbox("Window", WINDOWS, format_func=lambda w: f"last {w} weeks", key="qa_weeks")
# QA evaluations carry no language: the whole page (the coaching list's CSAT too) is computed for every language
frames = analyses.quality_frames(ctx.ws, ctx.viewer.scope, data.for_tables(dims, ("qa_evaluations",)), week, weeks,
                                 ctx.version)
components.view_caption(week, dict(dims), f"last {weeks} weeks", names=format.Names.of_view(ctx.ws, ctx.viewer.scope))
components.not_split(dict(dims), "QA evaluations, and so this page's scores, auto-fails, calibration and coaching list",
                     ("qa_evaluations",))
evals = frames["evaluations"]
if evals.is_empty():
    components.no_data("QA evaluations in this view")
    st.stop()

sections, coaching, cal = frames["sections"], frames["coaching"], frames["calibration"]
this = evals.filter(pl.col("period") == week)
fails = frames["auto_fail"]
score = this.get_column("score").sum() / this.get_column("max_score").sum() if this.height else None
components.metric_row([
    ("QA score this week", format.value(load_catalog().kpis["qa_score"], score), "Σ points / Σ points possible"),
    ("Evaluations this week", f"{this.height:,}", None),
    ("Auto-fails in the window", f"{int(fails.get_column('auto_fails').sum()) if fails.height else 0:,}", None),
    ("Agents to coach", f"{coaching.height}", "trail their site's peers by a test (q < 0.10, ≥ 3 pts), not a rank"),
])

qa = contracts.read(ctx.ws, ctx.viewer.scope).target(load_catalog().kpis["qa_score"], dict(dims), week)
st.plotly_chart(charts.section_trends(sections, title="QA score by section", target=None if qa is None else qa.value,
                                      target_name=f"QA {'target' if qa is None else qa.noun}"),
                key="sections_chart", config={"displayModeBar": False})
c1, c2 = st.columns(2)
if fails.is_empty():
    c1.markdown("**Auto-fail reasons**")
    c1.caption("No auto-fail in the window.")
else:
    c1.plotly_chart(charts.reasons(fails, title="Auto-fail reasons"), key="reasons_chart",
                    config={"displayModeBar": False})
c2.plotly_chart(charts.calibration(cal, title="Evaluator calibration"), key="calibration_chart",
                config={"displayModeBar": False})
if cal.get_column("evaluator_id").n_unique() < 2 if cal.height else True:
    c2.caption("Calibration needs at least two evaluators with 10 or more evaluations at a site in the window.")
else:
    spread = cal.group_by("site_id").agg(pl.col("spread").first()).sort("spread", descending=True)
    worst = spread.row(0, named=True)
    c2.caption(f"Offset of each evaluator from the site's weekly mean (auto-fails left out), 95 % interval; ◆ = "
               f"interval excludes zero. Widest spread: "
               f"{format.markdown(format.label('site', worst['site_id'], format.Names.of_view(ctx.ws, ctx.viewer.scope)))} "
               f"{format.magnitude('percent', worst['spread'])} between "
               f"its most lenient and strictest evaluator: run a calibration session.")

st.subheader("Coaching list")
st.caption("Agents whose evaluator-adjusted QA section (or CSAT) trails the same site's other agents, with at least "
           "8 evaluations (20 survey responses): one-sided Welch t test / binomial test, Benjamini–Hochberg across "
           "every agent and section tested.")
if coaching.is_empty():
    st.success("Nobody trails their peers by enough, on enough evaluations, to call for coaching.")
else:
    agents = format.Names.of_view(ctx.ws, ctx.viewer.scope).agent  # the source's agent names (none when pseudonymised)
    components.dataframe(coaching.select(
        pl.col("agent_id").replace_strict(dict(agents), default=pl.col("agent_id"), return_dtype=pl.String).alias("agent_id"),
        "site_id", pl.col("section").replace_strict({**SECTION_LABELS, "csat": "CSAT"},
                                                                 default=pl.col("section")).alias("coach on"),
        "agent_score", "peer_score", (pl.col("gap") * 100).alias("gap (pts)"), "evaluations", "q_value", "reason"),
        hide_index=True, width="stretch", key="coaching_table", column_config={
            "agent_score": st.column_config.NumberColumn("agent", format="percent"),
            "peer_score": st.column_config.NumberColumn("site peers", format="percent"),
            "gap (pts)": st.column_config.NumberColumn(format="%.1f"),
            "q_value": st.column_config.NumberColumn("q", format="%.3f")})
