"""Cached calls into insights/ for the SLA, Vendors & sites, Quality and Insights pages.

Same rule as `dashboard.data`: each function takes the viewer's Scope (hashed by `Scope.key`),
the filters as a sorted tuple, and the data version, so a cached answer never crosses viewers or
imports; the insights modules read through `ws.scan(table, scope)`, the one choke point.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, cast

import polars as pl
import streamlit as st

from connectors.store import Scope, Workspace
from dashboard.data import HASH
from insights.analyses import coverage as _coverage, quality, scorecard, sla

Filters = tuple[tuple[str, str], ...]


@st.cache_data(show_spinner="Reading the contracts' SLA targets …", hash_funcs=HASH, max_entries=64)
def sla_view(ws: Workspace, scope: Scope, filters: Filters, week: date, version: tuple) -> sla.SlaView:
    """Every contractual target in the view with its attainment, streak and penalty exposure."""
    return sla.sla_view(ws, scope, week=week, filters=dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def attainment_by(ws: Workspace, scope: Scope, filters: Filters, metric: str, split: str, start: date, end: date,
                  version: tuple) -> pl.DataFrame:
    """Weekly attainment of `metric` per value of `split`."""
    return sla.attainment_by(ws, scope, metric=metric, split=split, start=start, end=end, filters=dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def contract_targets(ws: Workspace, scope: Scope, filters: Filters, version: tuple) -> pl.DataFrame:
    """The sla_targets rows binding work in the view."""
    return sla.contract_targets(ws, scope, dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=32)
def tickets_behind(ws: Workspace, scope: Scope, filters: Filters, metric: str, week: date,
                   segment: tuple[tuple[str, str], ...], version: tuple) -> pl.DataFrame:
    """The tickets behind one point of an SLA chart (no bodies)."""
    return sla.tickets_behind(ws, scope, metric=metric, week=week, filters=dict(filters), segment=dict(segment))


@st.cache_data(hash_funcs=HASH, max_entries=32)
def counts_behind(ws: Workspace, scope: Scope, filters: Filters, metric: str, week: date,
                  segment: tuple[tuple[str, str], ...], version: tuple) -> tuple[int, int]:
    """(tickets, breached) behind one point of an SLA chart, however many are listed."""
    return sla.counts_behind(ws, scope, metric=metric, week=week, filters=dict(filters), segment=dict(segment))


@st.cache_data(show_spinner="Scoring vendors and sites …", hash_funcs=HASH, max_entries=64)
def scorecard_for(ws: Workspace, scope: Scope, filters: Filters, level: str, week: date, weeks: int,
                  version: tuple) -> scorecard.Scorecard:
    """The framework's KPIs per vendor, site or tier."""
    return scorecard.scorecard(ws, scope, level=level, week=week, weeks=weeks, filters=dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def mix_adjusted(ws: Workspace, scope: Scope, filters: Filters, kpi: str, level: str, week: date, weeks: int,
                 version: tuple) -> pl.DataFrame:
    """Crude vs channel-mix-adjusted KPI per entity."""
    return scorecard.mix_adjusted(ws, scope, kpi=kpi, level=level, week=week, weeks=weeks, filters=dict(filters))


@st.cache_data(show_spinner="Reading QA evaluations …", hash_funcs=HASH, max_entries=32)
def quality_frames(ws: Workspace, scope: Scope, filters: Filters, week: date, weeks: int,
                   version: tuple) -> dict[str, pl.DataFrame]:
    """Sections, auto-fail reasons, calibration and the coaching list of the view."""
    evals = quality.evaluations(ws, scope, week=week, weeks=weeks, filters=dict(filters))
    csat = quality.csat_by_agent(ws, scope, week=week, weeks=weeks, filters=dict(filters))
    return {"evaluations": evals.select("period", "site_id", "score", "max_score"),
            "sections": quality.section_scores(evals), "auto_fail": quality.auto_fail_reasons(evals),
            "calibration": quality.calibration(evals), "coaching": quality.coaching_list(evals, csat)}


@st.cache_data(show_spinner="Rendering the export …", hash_funcs=HASH, max_entries=16)
def export_review(ws: Workspace, scope: Scope, filters: Filters, week: date | None, version: tuple, fmt: str,
                  title: str, tenant: str | None = None) -> bytes:
    """The (cached) review of the view rendered as html | pdf | pptx | md."""
    from dashboard import data
    from insights.export import render

    return render(data.review(ws, scope, filters, week, version, tenant), fmt, title=title)


@st.cache_data(show_spinner="Reading coverage by hour and language …", max_entries=64,
               hash_funcs=cast("dict[str | type[Any], Callable[[Any], Any]]", HASH))
def coverage(ws: Workspace, scope: Scope, filters: Filters, start: date, end: date, version: tuple) -> _coverage.Coverage:
    """The weekday × hour grid and the language breakdown of the view over the local days [start, end]."""
    return _coverage.coverage(ws, scope, start=start, end=end, filters=dict(filters))
