"""Pilots: each pilot's KPIs before/after (or against a control group), the DiD estimate, its interval, test and verdict."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, components, data, state
from insights import format

HOW_TO_DEFINE = """Define a pilot as an `events` row of kind `pilot` (import it with
`bpo-insights import FILE --preset canonical_events`) or as a table in `bpo.toml`:

```toml
[[pilot]]
name = "nw-bogota coaching pilot"
scope = { site_id = "nw-bogota" }
start = 2026-08-10
end = 2026-09-20
kpis = ["csat", "repeat_contact_rate"]
control = { site_id = ["nw-manila"] }   # optional: default, the client's other sites
goals = { csat = 0.03 }                # optional: the change that counts as success
```"""
ctx = state.context()
f = ctx.filters
dims = tuple(sorted(f.dimensions().items()))
ws, scope, version = ctx.ws, ctx.viewer.scope, ctx.version

st.title("Pilots")
components.own_segments(f.dimensions(), "Each pilot is measured on its own segment and control group")
defined = data.pilots(ws, scope, dims, version)
if isinstance(defined, data.Missing) or not defined:
    st.info("No pilots in your view yet.", icon="ℹ️")
    if isinstance(defined, data.Missing):
        st.error(format.markdown(defined.reason))
    st.markdown(HOW_TO_DEFINE)
    st.stop()

name = st.selectbox("Pilot", sorted(defined), key="pilot_name")
report = data.pilot_report(ws, scope, dims, name, version)
if isinstance(report, data.Missing):
    st.warning(format.markdown(report.reason), icon="⚠️")
    st.stop()

p = report.pilot
where = ", ".join(f"{k.removesuffix('_id')} {'/'.join(v)}" for k, v in p.scope.items()) or "everything in view"
against = ("its own pre-period (no control group)" if report.control is None else
           "a control group: " + ", ".join(f"{k.removesuffix('_id')} {'/'.join(v)}" for k, v in report.control.items()))
st.caption(format.markdown(
    f"Pilot on {where}, from {p.start:%d %b %Y}" + (f" to {p.end:%d %b %Y}" if p.end else " (running)")
    + f". Before: {report.before[0]:%d %b} – {report.before[1]:%d %b %Y}; after: {report.after[0]:%d %b} – "
    f"{report.after[1]:%d %b %Y}; compared with {against}."))
if report.control_note:
    st.info(format.markdown(report.control_note), icon="ℹ️")

summary = pl.DataFrame([{
    "KPI": e.label, "pilot before": format.value(k, e.pilot_before.value),
    "pilot after": format.value(k, e.pilot_after.value),
    "control before": format.value(k, e.control_before.value if e.control_before else None),
    "control after": format.value(k, e.control_after.value if e.control_after else None),
    "estimate": format.delta(k, e.estimate), "95% CI": format.interval(k, *e.ci, change=True),
    "p": format.p_value(e.p_value), "verdict": e.verdict,
} for e in report.effects for k in [format.of(e.kpi, e.unit)]])
components.dataframe(summary, hide_index=True, width="stretch", key="pilot_summary")

for e in report.effects:
    k = format.of(e.kpi, e.unit)
    with st.container(border=True):
        st.markdown(f"#### {format.markdown(e.label)}")
        st.markdown(f"**{format.markdown(e.verdict)}**")
        left, right = st.columns([3, 2])
        rows = [{"group": "pilot", "before": e.pilot_before.value, "after": e.pilot_after.value}]
        if e.control_before is not None and e.control_after is not None:
            rows.append({"group": "control", "before": e.control_before.value, "after": e.control_after.value})
        left.plotly_chart(charts.cells_chart(rows, title=f"{e.label}: before → after",
                                             tickformat=format.DEFAULT_FORMATS.get(e.unit, ",.0f")),
                          key=f"pilot_cells_{e.kpi}", config={"displayModeBar": False})
        right.markdown(
            f"- **{e.design.capitalize()} estimate:** {format.delta(k, e.estimate)} "
            f"(95% CI {format.interval(k, *e.ci, change=True)})\n"
            f"- **Test:** {format.markdown(e.test)}, p = {format.p_value(e.p_value)}\n"
            f"- **Weeks with data:** {e.pilot_before.weeks} before, {e.pilot_after.weeks} after\n"
            f"- **Responses/contacts:** {e.pilot_before.denominator:,.0f} before, {e.pilot_after.denominator:,.0f} after\n"
            + (f"- **Goal:** {format.delta(k, e.goal)}\n" if e.goal is not None else "")
            + (f"- **More weeks needed:** about {e.weeks_needed}\n" if e.weeks_needed else "")
            + f"- Direction: {e.direction.replace('_', ' ')}")
