"""Coverage (the brand's operations lead): is the work met around the clock and in every language?

A weekday × hour heatmap, in the client's reporting calendar, of volume, first-response attainment, the live
queues' service level and the agents Erlang C requires for the demand; a language breakdown of volume,
attainment and CSAT.  Thin cells are grey and show their n, never a confident rate.  The numbers come from
`insights.analyses.coverage`."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import analyses, charts, components, state
from insights import format

WEEKS = 4  # the review week and the three before: four of each weekday per cell
TABS = {"volume": "Volume", "sla": "First-response SLA", "service_level": "Service level (voice, chat)",
        "required": "Agents required"}

ctx = state.context()
dims = tuple(sorted(ctx.filters.dimensions().items()))
st.title("Coverage")
week = components.page_week(ctx)
if week is None:
    components.no_data()
    st.stop()
start, end = week - timedelta(weeks=WEEKS - 1), week + timedelta(days=6)
names = format.Names.of(ctx.ws.config)
cov = analyses.coverage(ctx.ws, ctx.viewer.scope, dims, start, end, ctx.version)
where = format.filters(dict(dims), names) or "all work in your view"
st.caption(format.markdown(f"{start:%d %b} – {end:%d %b %Y} ({WEEKS} reporting weeks to {state.week_label(week)}) · "
                           f"{where}"))
st.markdown(f"Hours and weekdays are in the client's reporting calendar: **{format.markdown(cov.calendar)}**.")

cells = cov.cells
volume = float(cells.get_column("volume").sum())
met, with_target = float((cells["sla"].fill_null(0) * cells["sla_n"]).sum()), int(cells["sla_n"].sum())
busiest = cells.sort("volume", descending=True).row(0, named=True)
confident = cells.filter(~pl.col("sla_thin") & pl.col("sla").is_not_null())
worst = confident.sort("sla").row(0, named=True) if confident.height else None
components.metric_row([
    ("Tickets and contacts", format.count(volume), f"over the {WEEKS} weeks, in view"),
    ("First-response SLA", format.share(met / with_target) if with_target else format.EMPTY,
     f"tickets answered within their first-response target, of {format.count(with_target)} with one"),
    ("Busiest hour", f"{charts.WEEKDAY_SHORT[busiest['weekday']]} {busiest['hour']}:00" if volume else format.EMPTY,
     f"{format.count(busiest['volume'])} tickets and contacts over {busiest['days']} {busiest['weekday']}s ({cov.calendar})"),
    ("Weakest hour (not thin)",
     f"{charts.WEEKDAY_SHORT[worst['weekday']]} {worst['hour']}:00 · {format.share(worst['sla'])}" if worst else format.EMPTY,
     f"the lowest first-response attainment among hours with at least {cov.min_n['sla_first_response']} tickets"),
])
for note in cov.notes:
    st.info(format.markdown(note), icon="ℹ️")

st.subheader("By weekday and hour")
st.caption(format.markdown(
    f"Grey cells are thin: fewer than {cov.min_n['sla_first_response']} tickets with a first-response target "
    f"(or {cov.min_n['service_level']} contacts offered) — they show their n, not a rate, and are not judged."))
for tab, (metric, label) in zip(st.tabs(list(TABS.values())), TABS.items()):
    with tab:
        fig = charts.coverage_heatmap(cells, metric=metric, calendar=cov.calendar,
                                      title=f"{label} by weekday and hour ({cov.calendar})")
        st.plotly_chart(fig, key=f"coverage_{metric}", config={"displayModeBar": False})
        if metric == "service_level" and cells.get_column("sl_n").sum() == 0:
            st.caption("No voice or chat interval reports in view: the service level needs them "
                       "(`bpo-insights import FILE --preset canonical_contact_intervals`).")
        if metric == "required":
            st.caption(format.markdown(
                f"Erlang C for the mean demand in each hour (arrivals over the {WEEKS} weeks ÷ the number of that "
                f"weekday), at each channel's handle time over the period; voice and chat to the contract's service "
                f"level (else {cov.live_target}), other channels to {cov.text_target}; channels are staffed as separate "
                f"queues and summed. '?' marks hours whose work has no recorded handle time. Actual staffing per hour "
                f"is not shown: it needs an interval schedule source, and the roster holds on-queue time per day."))

st.subheader("By language")
st.caption(format.markdown(
    f"Tickets only (interval reports carry no language). A rate on fewer than {cov.min_n['sla_first_response']} "
    f"tickets (CSAT: {cov.min_n['csat']} answers) is marked thin."))


def _rate(value: float | None, n: int, thin: bool) -> str:
    if value is None:
        return format.EMPTY
    return f"{format.share(value)} (thin, n {n})" if thin else f"{format.share(value)} (n {n})"


langs = cov.languages
if langs.height == 0:
    st.info("No tickets in view for these weeks.", icon="ℹ️")
else:
    table = pl.DataFrame({
        "language": langs.get_column("language"),
        "tickets": [format.count(v) for v in langs.get_column("volume")],
        "first-response SLA": [_rate(r["sla"], r["sla_n"], r["sla_thin"]) for r in langs.iter_rows(named=True)],
        "CSAT": [_rate(r["csat"], r["csat_n"], r["csat_thin"]) for r in langs.iter_rows(named=True)],
    })
    components.dataframe(table, hide_index=True, width="stretch", key="coverage_languages")
