"""Cached calls into `insights/` and the store; every cache key holds the viewer's scope.

Nothing here reads Parquet itself: the review and the summaries read through `ws.scan(table,
scope)`, the one choke point.  Each function takes the Scope (hashed by `Scope.key`) and a data
version (the tables' manifests), so a new import or another viewer never gets a stale or foreign
answer.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from connectors import sanity as _sanity
from connectors.store import MANIFEST, Scope, Workspace
from insights import review as reviews

HASH = {Scope: lambda s: s.key, Workspace: lambda w: str(w.path.resolve())}


def data_version(ws: Workspace) -> tuple[tuple[str, int], ...]:
    """Modification stamps of every table manifest and the metadata db: changes on each import."""
    stamps = [(p.parent.name, p.stat().st_mtime_ns) for p in sorted(ws.tables_dir.glob(f"*/{MANIFEST}"))]
    db = ws.path / "state.db"
    if db.exists():
        stamps.append(("state.db", db.stat().st_mtime_ns))
    return tuple(stamps)


@st.cache_data(show_spinner="Computing the review …", hash_funcs=HASH, max_entries=64)
def review(ws: Workspace, scope: Scope, filters: tuple[tuple[str, str], ...], week: date | None,
           version: tuple, tenant: str | None = None) -> reviews.Review:
    """The review of the week for the scope and filters (cached per scope, filters, week, data and the viewer's
    insight-log tenant, whose notes alone weigh novelty)."""
    return reviews.build_review(ws, scope, week=week, filters=dict(filters), tenant=tenant)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def events(ws: Workspace, scope: Scope, filters: tuple[tuple[str, str], ...], start: date, end: date,
           version: tuple) -> pl.DataFrame:
    """The view's events calendar between start and end, most relevant first (read through the scope)."""
    return reviews.read_events(ws, scope, dict(filters), start=start, end=end)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def weeks(ws: Workspace, scope: Scope, filters: tuple[tuple[str, str], ...], version: tuple) -> tuple[date, ...]:
    """Complete weeks in the view, newest first."""
    return reviews.available_weeks(ws, scope, dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def dimension_values(ws: Workspace, scope: Scope, version: tuple) -> dict[str, list[str]]:
    """Client, vendor, site and channel values present in the data the scope may see."""
    return reviews.dimension_values(ws, scope)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def table_summary(ws: Workspace, scope: Scope, version: tuple) -> pl.DataFrame:
    """Rows, date span and freshness per canonical table, for the scope."""
    return ws.table_summary(scope)


def import_history(ws: Workspace, limit: int = 200) -> pl.DataFrame:
    """The import log (not cached: it is small and must be current)."""
    return ws.import_history(limit=limit)


def sanity_findings(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """The current sanity findings (what makes a stored table's KPIs misleading) the viewer's scope allows."""
    return _sanity.current(ws, scope)


def rejected(ws: Workspace, limit: int = 1000) -> pl.DataFrame:
    """Rows rejected by imports, newest first."""
    return ws.rejected(limit=limit)



# --------------------------------------------------------------------------- workforce, cost and pilots
# Each wrapper narrows the viewer's scope by the client/vendor filters (never widening it), asks
# `insights/` with the filtered dimensions kept as segments, and keeps only the filtered segments.
# A question the data cannot answer comes back as `Missing` (cached like an answer) for the page's
# empty state.

from dataclasses import dataclass as _dataclass  # noqa: E402
from dataclasses import replace as _replace  # noqa: E402
from datetime import timedelta as _timedelta  # noqa: E402

from insights.analyses import forecast as _forecast  # noqa: E402
from insights.analyses import pilots as _pilots  # noqa: E402
from insights.analyses import pricing as _pricing  # noqa: E402
from insights.analyses import staffing as _staffing  # noqa: E402
from insights.analyses import talent as _talent  # noqa: E402
from insights import view as _view  # noqa: E402
from insights.errors import InsightsError  # noqa: E402

Filter = tuple[tuple[str, str], ...]
FILTER_COLUMNS = _view.DIMENSIONS  # filter name -> canonical column: the View's, the one list


@_dataclass(frozen=True)
class Missing:
    """Why `insights/` could not answer for this view (its message names what to import)."""

    reason: str


def view_scope(scope: Scope, filters: Filter) -> Scope:
    """The viewer's scope narrowed by the client and vendor filters (insights.view: the one filter)."""
    return _view.View.of(scope, dict(filters)).scope_for_read()


def for_tables(filters: Filter, tables: tuple[str, ...]) -> Filter:
    """The filters a section reading `tables` is computed with: those the tables can narrow (insights.view), so its
    figures are for every language (say) rather than none; the page says so (`components.not_split`)."""
    return _view.View.of(Scope.everything(), dict(filters)).for_tables(tables).filters


def keep_filtered(frame: pl.DataFrame, filters: Filter) -> pl.DataFrame:
    """Rows of a segmented result that match every filter whose column the frame has (insights.view)."""
    return _view.View.of(Scope.everything(), dict(filters)).apply(frame)


def segments(base: tuple[str, ...], filters: Filter, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """`base` plus the filtered dimensions among `allowed`, so a filter selects whole segments."""
    extra = tuple(FILTER_COLUMNS[n] for n, _ in filters if FILTER_COLUMNS[n] in allowed and FILTER_COLUMNS[n] not in base)
    return base + extra


def _answer(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except InsightsError as e:
        return Missing(str(e))


@st.cache_data(show_spinner="Forecasting volume …", hash_funcs=HASH, max_entries=64)
def _volume_forecast(ws: Workspace, scope: Scope, end: date | None, weeks: int, version: tuple) -> pl.DataFrame | Missing:
    fc = _answer(_forecast.forecast_volume, ws, scope, weeks=weeks, end=end, paths=300)
    return fc if isinstance(fc, Missing) else fc.frame


def volume_forecast(ws: Workspace, scope: Scope, filters: Filter, end: date | None, weeks: int,
                    version: tuple) -> pl.DataFrame | Missing:
    """Weekly volume per queue: actuals up to `end` and the forecast (mean, 80/95 % bands) for `weeks` weeks.

    Cached per client/vendor scope: a site or channel filter only picks queues out of the same forecast.
    """
    fc = _volume_forecast(ws, view_scope(scope, filters), end, weeks, version)
    return fc if isinstance(fc, Missing) else keep_filtered(fc, filters)


@st.cache_data(show_spinner="Simulating next week …", hash_funcs=HASH, max_entries=64)
def _sla_risk(ws: Workspace, scope: Scope, end: date | None, version: tuple) -> _forecast.SlaRisk | Missing:
    return _answer(_forecast.sla_at_risk, ws, scope, end=end, paths=300)


def sla_risk(ws: Workspace, scope: Scope, filters: Filter, end: date | None,
             version: tuple) -> _forecast.SlaRisk | Missing:
    """P(missing the contractual service level next week) per live queue, and the FTE that closes the gap."""
    r = _sla_risk(ws, view_scope(scope, filters), end, version)
    if isinstance(r, Missing):
        return r
    return _forecast.SlaRisk(keep_filtered(r.frame, filters), r.week, r.max_risk, r.paths)


@st.cache_data(show_spinner="Comparing required and scheduled agents …", hash_funcs=HASH, max_entries=64)
def _staffing_gap(ws: Workspace, scope: Scope, start: date | None, end: date | None,
                  version: tuple) -> _staffing.StaffingGap | Missing:
    return _answer(_staffing.staffing_gap, ws, scope, start=start, end=end)


def staffing_gap(ws: Workspace, scope: Scope, filters: Filter, start: date | None, end: date | None,
                 version: tuple) -> _staffing.StaffingGap | Missing:
    """Required vs scheduled agents per 30-minute interval between `start` and `end`, worst slots named."""
    g = _staffing_gap(ws, view_scope(scope, filters), start, end, version)
    if isinstance(g, Missing) or not any(FILTER_COLUMNS[n] in ("site_id", "channel") for n, _ in filters):
        return g
    # the worst slots among the filtered queues, ranked as staffing_gap ranks them
    pattern = keep_filtered(g.pattern, filters)
    worst = pattern.filter(pl.col("gap") > 0).sort("gap", descending=True).head(g.worst.height or 5)
    return _replace(g, intervals=keep_filtered(g.intervals, filters), pattern=pattern, worst=worst,
                    queues=keep_filtered(g.queues, filters) if g.queues.width else g.queues)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def attrition(ws: Workspace, scope: Scope, filters: Filter, by: tuple[str, ...],
              version: tuple) -> _talent.AttritionResult | Missing:
    """Monthly attrition per `by` segment (voluntary/involuntary, exact Poisson interval) and first-90-day attrition."""
    by = segments(by, filters, ("client_id", "vendor_id", "site_id", "channel"))
    a = _answer(_talent.attrition, ws, view_scope(scope, filters), by=by)
    if isinstance(a, Missing):
        return a
    return _talent.AttritionResult(keep_filtered(a.monthly, filters), keep_filtered(a.first_90_days, filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def occupancy(ws: Workspace, scope: Scope, filters: Filter, occupancy_limit: float, weeks: int,
              version: tuple) -> pl.DataFrame | Missing:
    """Weekly occupancy and adherence per site with the burnout-risk flag."""
    by = segments(("site_id",), filters, ("client_id", "vendor_id", "site_id", "channel"))
    o = _answer(_talent.occupancy, ws, view_scope(scope, filters), by=by, occupancy_limit=occupancy_limit, weeks=weeks)
    return o if isinstance(o, Missing) else keep_filtered(o, filters)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def speed_to_competency(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> pl.DataFrame | Missing:
    """Weeks from hire to the site median per new agent and KPI (null: not there yet)."""
    s = _answer(_talent.speed_to_competency, ws, view_scope(scope, filters))
    return s if isinstance(s, Missing) else keep_filtered(s, filters)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def nesting_cohorts(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> pl.DataFrame | Missing:
    """Hiring cohorts per site: size, retained at 30/60/90 days, left while nesting."""
    by = segments(("site_id",), filters, ("client_id", "vendor_id", "site_id", "channel"))
    c = _answer(_talent.nesting_cohorts, ws, view_scope(scope, filters), by=by)
    return c if isinstance(c, Missing) else keep_filtered(c, filters)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def cost_per_contact(ws: Workspace, scope: Scope, filters: Filter, by: tuple[str, ...],
                     version: tuple) -> pl.DataFrame | Missing:
    """Monthly cost per contact and per resolved contact split by `by` (plus the filtered dimensions)."""
    dims = segments(by, filters, ("client_id", "vendor_id", "site_id", "channel"))
    c = _answer(_pricing.cost_per_contact, ws, view_scope(scope, filters), by=dims)
    return c if isinstance(c, Missing) else keep_filtered(c, filters)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def lanes(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> pl.DataFrame | Missing:
    """Per month, client, site and channel: contacts handled and the lane's cost per contact (the what-if's prices)."""
    c = _answer(_pricing.lanes, ws, view_scope(scope, filters))
    return c if isinstance(c, Missing) else keep_filtered(c, filters)


@st.cache_data(show_spinner="Reconciling invoices …", hash_funcs=HASH, max_entries=64)
def reconciliation(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> _pricing.Reconciliation | Missing:
    """Invoice lines checked against measured hours and contacts, rates and credits owed."""
    r = _answer(_pricing.reconcile_invoices, ws, view_scope(scope, filters))
    if isinstance(r, Missing):
        return r
    return _pricing.Reconciliation(keep_filtered(r.lines, filters), keep_filtered(r.credits, filters), r.rules)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def unused_minimums(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> pl.DataFrame | Missing:
    """Committed per-contact lines: committed vs billed, unused volume and its cost."""
    u = _answer(_pricing.unused_minimums, ws, view_scope(scope, filters))
    return u if isinstance(u, Missing) else keep_filtered(u, filters)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def effective_hourly_rate(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> pl.DataFrame | Missing:
    """Monthly invoiced charges per logged hour per vendor and site, against the hourly card rate."""
    e = _answer(_pricing.effective_hourly_rate, ws, view_scope(scope, filters))
    return e if isinstance(e, Missing) else keep_filtered(e, filters)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def move_volume(ws: Workspace, scope: Scope, filters: Filter, client: str, channel: str, from_site: str,
                to_site: str, share: float, version: tuple) -> _pricing.VolumeMove | Missing:
    """What-if: move `share` of a lane's contacts between sites (cost and first-response attainment)."""
    return _answer(_pricing.move_volume, ws, view_scope(scope, filters), client=client, channel=channel,
                   from_site=from_site, to_site=to_site, share=share)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def pilots(ws: Workspace, scope: Scope, filters: Filter, version: tuple) -> dict[str, _pilots.Pilot] | Missing:
    """The pilots the viewer may see (events of kind 'pilot' and bpo.toml [[pilot]] tables)."""
    return _answer(_pilots.load_pilots, ws, view_scope(scope, filters))


@st.cache_data(show_spinner="Evaluating the pilot …", hash_funcs=HASH, max_entries=64)
def pilot_report(ws: Workspace, scope: Scope, filters: Filter, name: str, version: tuple) -> _pilots.PilotReport | Missing:
    """Each of the pilot's KPIs before/after (vs control), with the DiD estimate, interval, test and verdict."""
    return _answer(_pilots.evaluate_pilot, ws, view_scope(scope, filters), name)


def week_end(week: date | None) -> date | None:
    """The Sunday closing a review week (None stays None: the latest data)."""
    return None if week is None else week + _timedelta(days=6)
