"""Weekly review: the KPI tiles, the trend charts, then the insights (the meeting's page)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboard import charts, components, data, state
from insights import format
from insights.catalog import load_catalog
from insights.review import MIN_JUDGED_DAYS, split_dimension, split_lines, to_date_caption, view_words

CHARTS_PER_ROW = 2
MIN_CHARTS = 6

ctx = state.context()
f = ctx.filters
review = data.review(ctx.ws, ctx.viewer.scope, tuple(sorted(f.dimensions().items())), f.week, ctx.version,
                     ctx.tenant)

st.title("Weekly review")
st.caption(format.markdown(f"Week of {review.week:%d %b} – {review.week + timedelta(days=6):%d %b %Y} "
                           f"({state.week_label(review.week)}, {review.calendar.name}) · "
                           + view_words(review.filters, review.names, review.part, everything="all work in your view")
                           + f" · compared with {state.COMPARISONS[f.compare].lower()}"))
components.notices(review.notices)
if review.has_data:
    components.kpi_tiles(review.tiles, compare=f.compare)
    st.caption(f"MTD, QTD, YTD: {to_date_caption(review.week)} ✓ meets, ✗ misses the contract target "
               f"(a default target is shown, never marked); a total of fewer than {MIN_JUDGED_DAYS} days shows "
               f"its days and is not judged.")
    st.subheader("Last 12 months")
    drawn = [t for t in review.tiles if review.series(t.kpi).get_column("value").drop_nulls().len()]
    first = set(load_catalog().preset("weekly_review_charts"))
    # the preset's charts first, topped up to MIN_CHARTS in tile order when some have no data in this view
    chosen = [t for t in drawn if t.kpi in first]
    chosen += [t for t in drawn if t not in chosen][:max(0, MIN_CHARTS - len(chosen))]
    rest = [t for t in drawn if t not in chosen]
    tiles = [t for t in drawn if t in chosen]
    if rest and st.toggle(f"Show the other {len(rest)} KPIs' charts", key="more_charts",
                          help=", ".join(t.label for t in rest)):
        tiles = drawn
    reference = charts.REFERENCE_OF_COMPARE[f.compare]
    for i in range(0, len(tiles), CHARTS_PER_ROW):
        for col, tile in zip(st.columns(CHARTS_PER_ROW), tiles[i:i + CHARTS_PER_ROW]):
            fig = charts.trend(review.series(tile.kpi), title=tile.label, unit=tile.unit, target=tile.target,
                               events=review.events, reference=reference, target_name=tile.target_name)
            col.plotly_chart(fig, key=f"trend_{tile.kpi}", config={"displayModeBar": False})
    split = {t.label: split_dimension(review.series(t.kpi)) for t in tiles if split_lines(review.series(t.kpi))}
    for dimension in sorted({d for d in split.values() if d is not None}):  # KPIs the catalog marks comparable only within one channel
        st.caption(f"{', '.join(k for k, d in split.items() if d == dimension)}: {format.split_note(dimension)}; "
                   f"the pooled line is in the legend.")
    if tiles:
        periods = review.series(tiles[0].kpi).get_column("period")
        components.events_caption(review.events, periods.min(), periods.max() + timedelta(days=6))
    st.subheader("Insights")
    components.insight_list(review.insights, review.names)
    st.subheader("Export")
    components.export_buttons(review, f"Weekly review, {state.week_label(review.week)}",
                              "-".join(["weekly-review", state.week_label(review.week), *review.filters.values()]))
