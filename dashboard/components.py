"""Reusable pieces of screen: KPI tiles, notices, the insight list, the access-denied page.

Text from data reaches the screen as typed: through `format.markdown` in every Markdown element (captions, notices,
insights, labels), through `html.escape` in the tiles' HTML, through `format.chart_text` in charts (`charts.inert`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from html import escape

import polars as pl
import streamlit as st

from connectors.errors import StoreBusy
from dashboard import charts
from dashboard.access import Denied
from insights.contracts import NOUNS
from insights.detection import Insight
from insights.review import Notice, Tile
from insights import format
from insights.detection.narrative import ci_is_change
from insights.review import MIN_JUDGED_DAYS

TILES_PER_ROW = 4
SPLIT_TILE_NOTE = ("comparable only within one channel: the figure over all channels moves with their mix, so it is "
                   "shown, not judged; each channel's value this week follows")
# plain words for record codes (underscores would read as Markdown emphasis)
TEST_NAMES = {"target_miss": "target miss", "rate_change": "rate change", "volume_anomaly": "volume anomaly",
              "level_shift": "level shift", "peer_outlier": "peer outlier", "small_count_rate": "small-count rate",
              "data_quality": "data quality", "routing_shift": "routing shift", "driver": "mix shift"}
TILE_CSS = """
<style>
.bpo-tile {border:1px solid #E3E3E3; border-left:6px solid var(--bpo-status); border-radius:6px;
           padding:10px 12px; margin-bottom:10px; background:#FFFFFF; min-height:170px}
.bpo-tile-label {font-size:0.85rem; color:#444; font-weight:600}
.bpo-tile-value {font-size:1.9rem; font-weight:700; color:#111; line-height:1.3}
.bpo-tile-cmp {font-size:0.82rem; color:#333; line-height:1.45}
.bpo-tile-cmp-main {font-weight:700; font-size:0.88rem}
.bpo-tile-lines {font-size:0.78rem; color:#555; margin-top:2px;}
.bpo-tile-todate {display:grid; grid-template-columns:repeat(3, 1fr); gap:0 6px; margin-top:4px;
                  border-top:1px solid #EEEEEE; padding-top:3px}
.bpo-tile-todate span {display:block; white-space:nowrap}
.bpo-tile-todate .l {font-size:0.68rem; color:#666; letter-spacing:0.04em}
.bpo-tile-todate .v {font-size:0.8rem; font-weight:600}
.bpo-tile-status {font-size:0.75rem; color:#555; margin-top:4px}
</style>
"""
# a to-date total against its contract target: a mark as well as a colour (never colour alone; a default
# target is never judged, so it gets neither)
TOTAL_MARKS = {"good": "✓", "bad": "✗", "neutral": ""}


def as_text(text: str, literal: str | None = None) -> str:
    """`text` escaped so Markdown shows it as written: no links, images, HTML, emphasis, icons or formulas.

    Each occurrence of `literal` (an identity from outside, e.g. an email) becomes a code span, which Markdown
    never turns into a link (an escaped email still would be).
    """
    if not literal:
        return format.markdown(text) if text else ""  # format.markdown shows an empty value as '–'; a gap is not one
    fence = "`" * (max((len(r) for r in re.findall(r"`+", literal)), default=0) + 1)
    return f"{fence} {literal} {fence}".join(as_text(part) for part in text.split(literal))


def denied_page(denied: Denied, on_sign_out: tuple[Callable[..., None], tuple] | None = None) -> None:
    """The only thing shown to a viewer who is not let in: why, what to do, and a way out when signed in."""
    st.title("Access denied")
    st.error(as_text(denied.reason, denied.identity))  # the reason may quote an identity from outside: shown as text
    for part in denied.fix.split("\n\n"):
        if part.startswith("    "):
            st.code(part.strip(), language="bash")
        else:
            st.markdown(as_text(part, denied.identity))
    if on_sign_out is not None:
        callback, args = on_sign_out
        st.button("Sign out", key="sign_out", icon=":material/logout:", on_click=callback, args=args)


def store_error_page(error: Exception) -> None:
    """The only thing shown while the store is damaged or busy: what is wrong and the fix, in the error's own words."""
    busy = isinstance(error, StoreBusy)
    st.title("The data store is busy" if busy else "The data store needs repair")
    st.error(as_text(str(error)))
    st.markdown("Nothing was changed. Reload this page when the store is free." if busy else
                "Nothing was changed. Do what the message says, then reload this page.")


def sign_in_page() -> None:
    """What someone who has not signed in sees: the way in, and nothing else."""
    st.title("Sign in")
    st.markdown("Sign in with your organisation's account to see the reviews of the clients and vendors you work with.")
    st.button("Sign in", key="sign_in", type="primary", icon=":material/login:", on_click=st.login)


def _comparison(delta: float | None, text: str, what: str, direction: str, name: str, main: bool = False) -> str:
    if delta is not None and text.startswith("±"):  # rounds to nothing on screen: no fall or rise drawn either
        delta = 0.0
    colour = charts.delta_colour(delta, direction)
    arrow = charts.arrow(delta)
    cls = "bpo-tile-cmp bpo-tile-cmp-main" if main else "bpo-tile-cmp"
    return (f'<div class="{cls}" data-compare="{name}"><span style="color:{colour}">{arrow} {escape(text)}</span> '
            f'{escape(what)}</div>')


def _comparisons(tile: Tile, compare: str) -> list[str]:
    """The three comparisons, the chosen one first and in bold."""
    rows = {
        "last_week": (tile.vs_last_week, tile.formatted_vs_last_week, "vs last week"),
        "last_year": (tile.vs_last_year, tile.formatted_vs_last_year, "vs last year"),
        "target": (tile.vs_target, tile.formatted_vs_target, f"vs {tile.target_text}"),
    }
    order = [compare] + [k for k in rows if k != compare] if compare in rows else list(rows)
    out = []
    for i, name in enumerate(order):
        if name == "target" and tile.target_source is None:
            out.append(f'<div class="bpo-tile-cmp{" bpo-tile-cmp-main" if i == 0 else ""}" data-compare="target">'
                       f'{escape(tile.target_text)}</div>')
            continue
        out.append(_comparison(*rows[name], tile.direction, name, main=i == 0))
    return out


def to_date_html(tile: Tile) -> str:
    """Three small cells, MTD / QTD / YTD over their values ('91.2% ✓'): each coloured and marked against its
    target; the span, n and distance to target on hover."""
    if not tile.to_date:
        return ""
    parts = []
    for t in tile.to_date:
        noun = NOUNS[t.target_source] if t.target_source is not None else ""
        vs = (f"; {t.formatted_vs_target} vs {noun} {format.value(tile, t.target)}"
              if t.target is not None and t.value is not None and noun else "")
        hover = f"{t.span[0].upper()}{t.span[1:]}: {t.formatted} (n = {t.n:,}){vs}"
        mark = TOTAL_MARKS[t.status] if t.value is not None else ""
        short = t.value is not None and t.days < MIN_JUDGED_DAYS  # too short to judge: no mark, and it says so
        label = f"{t.label}, {t.days} d" if short else t.label
        parts.append(f'<span data-total="{t.label}" title="{escape(hover)}"><span class="l">{label}</span>'
                     f'<span class="v" style="color:{charts.status_colour(t.status)}">{escape(t.formatted)}'
                     f'{" " + mark if mark else ""}</span></span>')
    return '<div class="bpo-tile-todate">' + "".join(parts) + "</div>"


def tile_html(tile: Tile, compare: str = "last_week") -> str:
    """One tile as HTML: label, value, the three comparisons with arrows (`compare` first, in bold), the
    month/quarter/year-to-date totals, status word and n."""
    colour = charts.status_colour(tile.status)
    volume = " · low volume" if tile.low_volume else ""
    count = f"n = {tile.n:,}{volume}" if tile.value is not None else "no data this week"
    return (
        f'<div class="bpo-tile" data-kpi="{escape(tile.kpi)}" data-status="{tile.status}" '
        f'style="--bpo-status:{colour}">'
        f'<div class="bpo-tile-label">{escape(tile.label)}</div>'
        f'<div class="bpo-tile-value" data-kpi="{escape(tile.kpi)}">{escape(tile.formatted)}</div>'
        + "".join(_comparisons(tile, compare))
        + (f'<div class="bpo-tile-lines" title="{escape(SPLIT_TILE_NOTE)}">'
           + escape(" · ".join(f"{segment} {text}" for segment, text in tile.per_line)) + "</div>" if tile.per_line else "")
        + (f'<div class="bpo-tile-lines" data-not-split="1" title="{escape(tile.not_split)}">'
           f'for {escape(tile.every)} (not split by {escape(" or ".join(n for n, _ in tile.unsplit))})</div>'
           if tile.unsplit else "")
        + to_date_html(tile)
        + f'<div class="bpo-tile-status" style="color:{colour}">● {charts.STATUS_WORDS[tile.status]}'
        f'<span style="color:#555"> · {count}</span></div></div>'
    )


def kpi_tiles(tiles: Sequence[Tile], per_row: int = TILES_PER_ROW, compare: str = "last_week") -> None:
    """The tiles in rows of `per_row`, each leading with the `compare` comparison."""
    st.markdown(TILE_CSS, unsafe_allow_html=True)
    for i in range(0, len(tiles), per_row):
        for col, tile in zip(st.columns(per_row), tiles[i:i + per_row]):
            col.markdown(tile_html(tile, compare), unsafe_allow_html=True)


def events_caption(events: pl.DataFrame | None, start, end, limit: int = charts.MAX_EVENTS) -> None:
    """One line under a set of charts: which events are marked on them and how many were left off."""
    shown, total = charts.events_in_window(events, start, end, limit)
    if not total:
        return
    names = " · ".join(f"{format.markdown(r['name'])} ({format.markdown(str(r['kind']).replace('_', ' '))}, "
                       f"{r['start_date']:%d %b %Y})"
                       for r in shown.sort("start_date").iter_rows(named=True))
    more = (f"; the {shown.height} most relevant of {total} in these weeks (recent first, then outages, launches, "
            f"vendor changes, pilots, promotions, holidays last)") if total > shown.height else ""
    st.caption(f"◆ Events marked on the charts: {names}{more}.")


def not_split(filters: Mapping[str, str], what: str, tables: Sequence[str], *, plural: bool = True) -> str:
    """Tell the viewer when a filter in force cannot narrow a section reading `tables` (insights.view: the one
    rule): 'Staffing is not split by language: these figures are for every language, not only language es.'
    Returns the sentence shown ('' when every filter applies)."""
    from connectors.store import Scope
    from insights.view import View

    text = View.of(Scope.everything(), dict(filters)).not_split_note(what, tables, plural=plural)
    if text:
        st.info(format.markdown(text), icon="ℹ️")
    return text


def own_segments(filters: Mapping[str, str], what: str) -> str:
    """Tell the viewer that the site, channel or language filters in force do not narrow a section measured on
    segments of its own (insights.view: `View.own_segments_note`); returns the sentence shown ('' when none)."""
    from connectors.store import Scope
    from insights.view import View

    text = View.of(Scope.everything(), dict(filters)).own_segments_note(what)
    if text:
        st.info(format.markdown(text), icon="ℹ️")
    return text


def not_split_kpis(filters: Mapping[str, str], kpis: Sequence[str]) -> list[str]:
    """Tell the viewer which of `kpis` a filter in force cannot narrow (their tables have no language column, say):
    one info line per set of such filters, naming the KPIs; returns the sentences shown."""
    from connectors.store import Scope
    from insights.catalog import load_catalog
    from insights.view import View

    catalog = load_catalog()
    sentences = View.of(Scope.everything(), dict(filters)).not_split_kpis(kpis, catalog.tables,
                                                                          lambda k: catalog.kpis[k].label)
    for text in sentences:
        st.info(format.markdown(text), icon="ℹ️")
    return sentences


def notices(items: Sequence[Notice]) -> None:
    """Data-quality notices, warnings first."""
    for n in sorted(items, key=lambda n: n.severity != "warning"):
        (st.warning if n.severity == "warning" else st.info)(format.markdown(n.message), icon="⚠️" if n.severity == "warning" else "ℹ️")


def insight_action(ins: Insight) -> str:
    """The 'what to do' sentence with its owner and the KPI and week that will verify it."""
    when = f" in the week of {ins.action.verify_week}" if ins.action.verify_week else ""
    return f"{ins.action.text} (owner: {ins.action.owner}; verify with {format.label('kpi', ins.action.verify_kpi)}{when})"


def insight_evidence(ins: Insight, names: format.Names | None = None) -> dict[str, object]:
    """The numbers behind an insight, as people read them: test, p, q, n, interval, drivers."""
    kpi = format.of(ins.kpi, ins.unit)
    ci = format.interval(kpi, *(ins.ci or (None, None)), change=ci_is_change(ins.type, ins.evidence))
    return {
        "type": TEST_NAMES.get(ins.type, ins.type),
        "test": format.text(ins.test),
        "p": format.p_value(ins.p_value),
        "q": format.p_value(ins.q_value),
        "n": format.count(ins.n),
        "observed": format.value(kpi, ins.observed),
        "expected": (f"{format.value(kpi, ins.expected)} ({ins.baseline})" if ins.baseline
                     else format.value(kpi, ins.expected)),
        "95% interval": ci,
        "period": f"{ins.period_start:%d %b} – {ins.period_end:%d %b %Y}",
        "confidence": f"{ins.confidence_label} ({ins.confidence:.2f})",
        "drivers": [f"{format.part(d['dimension'], d['value'], names)} ({d['kind']}, "
                    f"{format.share(d.get('share_of_change') or 0, 0)} of the change)" for d in ins.drivers] or format.EMPTY,
    }


def insight_list(items: Sequence[Insight], names: format.Names | None = None) -> None:
    """Each insight as what happened / what it means / what to do, with its evidence."""
    if not items:
        st.caption("No insights this week: no target missed and nothing changed enough to report.")
        return
    for i, ins in enumerate(items, 1):
        with st.container(border=True):
            st.markdown(f"**{i}. {format.markdown(ins.headline)}**")
            st.markdown(f"*What it means:* {format.markdown(ins.meaning)}")
            st.markdown(f"*What to do:* {format.markdown(insight_action(ins))}")
            st.caption(format.markdown(f"{TEST_NAMES.get(ins.type, ins.type)} · confidence {ins.confidence_label} · "
                                       f"n = {ins.n:,}" + (f" · {ins.test}" if ins.test else "")))
            with st.expander("Evidence"):
                st.json(insight_evidence(ins, names), expanded=True)


def dataframe(frame, *, where=None, **kwargs):
    """`st.dataframe` (or `where.dataframe`) of `frame` with every text cell neutralised for spreadsheets
    (`insights.export.spreadsheet.safe_frame`): the table's own 'Download as CSV' writes cells as shown, and
    Streamlit does not neutralise formulas, so a queue named '=HYPERLINK(...)' would run in the downloaded file."""
    from insights.export.spreadsheet import safe_frame

    return (where or st).dataframe(safe_frame(frame) if isinstance(frame, pl.DataFrame) else frame, **kwargs)


def _age(delta_hours: float | None) -> str:
    if delta_hours is None:
        return "never"
    if delta_hours < 1:
        return "within the hour"
    if delta_hours < 48:
        return f"{delta_hours:.0f} h ago"
    return f"{delta_hours / 24:.0f} days ago"


def table_summary_frame(summary: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """The store summary as people read it: rows, first and last day, and how fresh each table is."""
    hours = [None if t is None else (now - t).total_seconds() / 3600 for t in summary["last_ingested"].to_list()]
    return summary.select(
        pl.col("table"),
        pl.col("rows"),
        pl.col("first").str.slice(0, 10).alias("first day"),
        pl.col("last").str.slice(0, 10).alias("last day"),
        pl.col("last_ingested").dt.strftime("%Y-%m-%d %H:%M UTC").alias("last imported"),
        pl.Series("freshness", [_age(h) for h in hours], dtype=pl.String),
    )


# --------------------------------------------------------------------------- shared by the SLA, vendor, quality and insights pages


def page_week(ctx) -> "date | None":
    """The week the filters ask for, else the latest complete week in the view; None when the view has no data."""
    from dashboard import data

    weeks = data.weeks(ctx.ws, ctx.viewer.scope, tuple(sorted(ctx.filters.dimensions().items())), ctx.version)
    if not weeks:
        return None
    from dashboard.state import week_holding

    return week_holding(ctx.filters.week, weeks) or weeks[0]


def no_data(what: str = "this view") -> None:
    """The empty state: what is missing and what to do next."""
    st.warning(f"No data for {what} yet: import a file (`bpo-insights import PATH --preset NAME`) or add a source "
               f"in bpo.toml, then reload. If you filtered, widen the filters in the sidebar.", icon="⚠️")


def view_caption(week, filters: dict[str, str], extra: str = "", names: format.Names | None = None) -> None:
    """One line under a page title: the week (ISO label, reporting calendar) and the filters in force."""
    from datetime import timedelta

    from dashboard.state import context, week_label
    from insights.review import seen_part, view_words
    from insights.view import Calendars

    ctx = context()  # the week is cut in the view's reporting calendar: named like the weekly review names it
    scope = ctx.viewer.scope.narrow(clients=filters.get("client"), vendors=filters.get("vendor"))
    calendar = Calendars.of(ctx.ws.config, scope.clients).reference.name
    part = seen_part(ctx.viewer.scope, filters, names.site_vendor if names is not None else {})
    where = view_words(filters, names, part, everything="all work in your view")  # a vendor's share says so
    st.caption(format.markdown(f"Week of {week:%d %b} – {week + timedelta(days=6):%d %b %Y} ({week_label(week)}, "
                               f"{calendar}) · {where}" + (f" · {extra}" if extra else "")))


def metric_row(items: Sequence[tuple[str, str, str | None]]) -> None:
    """A row of (label, value, help) metrics."""
    for col, (label, value, help_text) in zip(st.columns(len(items)), items):
        col.metric(format.markdown(label), value, help=None if help_text is None else format.markdown(help_text))


EXPORT_LABELS = {"pptx": "PowerPoint", "pdf": "PDF", "html": "HTML page", "md": "Markdown"}


def export_buttons(review, title: str, stem: str) -> None:
    """One download button per export format; each file is rendered only when its button is clicked."""
    from functools import partial

    from insights.export import MEDIA_TYPES, SUFFIXES, render

    from dashboard import audit, state

    ctx = state.context()
    view = audit.query_text(ctx.filters.to_query())
    st.caption("Take the review into the meeting: each file holds only the view on screen.")
    for col, (fmt, label) in zip(st.columns(len(EXPORT_LABELS)), EXPORT_LABELS.items()):
        what = f"{stem}{SUFFIXES[fmt]}" + (f" ({view})" if view else "")
        col.download_button(f"Download {label}", data=audit.exported(partial(render, review, fmt, title=title), ctx.ws,
                                                                     ctx.viewer, title, what),
                            file_name=f"{stem}{SUFFIXES[fmt]}", mime=MEDIA_TYPES[fmt], key=f"export_{fmt}",
                            icon=":material/download:", on_click="ignore", width="stretch")
