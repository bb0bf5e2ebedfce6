"""The view's filters and their round trip through the URL (a copied link reproduces the view)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal
from datetime import date, timedelta

from insights.view import DIMENSIONS as VIEW_DIMENSIONS
from insights.format import week_number

DIMENSIONS = tuple(VIEW_DIMENSIONS)  # the view's filters, checked once in insights.view
# the comparison a view puts first: the tiles' leading delta and the trend charts' reference line
Compare = Literal["last_week", "last_year", "target"]
COMPARISONS: dict[Compare, str] = {"last_week": "Last week", "last_year": "Same week last year", "target": "Target"}
DEFAULT_COMPARE: Compare = "last_week"


def week_label(week: date) -> str:
    """The number of the reporting week starting on `week`, e.g. 2025-W10 (the ISO week of its Monday)."""
    return week_number(week)


def parse_week(text: str | None) -> date | None:
    """'2025-W10' (its Monday) or a date -> a day inside the wanted week; anything else -> None.

    A date is kept as given: which week holds it depends on the view's reporting calendar (a Sunday-week
    client's 2026-11-01 is in the week of Sun 1 Nov, not of Mon 26 Oct), decided by `week_holding`, as the
    command line's --week does."""
    if not text:
        return None
    t = text.strip().upper()
    try:
        if "-W" in t:
            y, w = t.split("-W")
            return date.fromisocalendar(int(y), int(w), 1)
        return date.fromisoformat(t)
    except ValueError:
        return None


def week_holding(day: date | None, weeks: Sequence[date]) -> date | None:
    """The available reporting week (its first day, from `weeks`) that holds `day`; None when none does."""
    if day is None:
        return None
    return next((w for w in weeks if w <= day < w + timedelta(days=7)), None)


def _one(params: Mapping[str, str | Sequence[str]], key: str) -> str | None:
    """The URL's value of `key` (the last one when repeated), None when absent or blank."""
    v = params.get(key)
    if isinstance(v, (list, tuple)):
        v = v[-1] if v else None
    return (v.strip() or None) if isinstance(v, str) else None


def parse_compare(text: str | None) -> Compare:
    """'last_week' | 'last_year' | 'target' (case-insensitive); anything else -> the default, last_week."""
    t = (text or "").strip().lower()
    return t if t in COMPARISONS else DEFAULT_COMPARE  # type: ignore[return-value]


def unread(params: Mapping[str, str | Sequence[str]]) -> list[str]:
    """What the URL asked for that could not be read, each saying what is shown instead."""
    notes = []
    week = _one(params, "week")
    if week and parse_week(week) is None:
        notes.append(f"week '{week}' is not a week (use e.g. 2025-W10); showing the latest complete week")
    compare = _one(params, "compare")
    if compare and compare.lower() not in COMPARISONS:
        notes.append(f"compare '{compare}' is not one of {', '.join(COMPARISONS)}; "
                     f"comparing with {COMPARISONS[DEFAULT_COMPARE].lower()}")
    return notes


@dataclass(frozen=True)
class Filters:
    """The view: one value (or None: all) per dimension, the review week (None: the latest) and the comparison."""

    client: str | None = None
    vendor: str | None = None
    site: str | None = None
    channel: str | None = None
    language: str | None = None
    week: date | None = None
    compare: Compare = DEFAULT_COMPARE

    @classmethod
    def from_query(cls, params: Mapping[str, str | Sequence[str]]) -> "Filters":
        """Read the URL's query parameters; unknown keys are ignored, blanks mean 'all', an unknown
        comparison means the default (`unread(params)` says what was not understood)."""
        return cls(**{d: _one(params, d) for d in DIMENSIONS}, week=parse_week(_one(params, "week")),
                   compare=parse_compare(_one(params, "compare")))

    def to_query(self) -> dict[str, str]:
        """The query parameters that reproduce this view (the dimensions set; the comparison unless the default)."""
        out = {d: getattr(self, d) for d in DIMENSIONS if getattr(self, d)}
        if self.week:
            out["week"] = week_label(self.week)
        if self.compare != DEFAULT_COMPARE:
            out["compare"] = self.compare
        return out

    def dimensions(self) -> dict[str, str]:
        """The set dimension filters, as given to `build_review(filters=...)`."""
        return {d: getattr(self, d) for d in DIMENSIONS if getattr(self, d)}

    def restricted_to(self, options: Mapping[str, Sequence[str]]) -> tuple["Filters", list[str]]:
        """Drop every value not among the viewer's options; returns the filters and what was dropped."""
        dropped = []
        kept = self
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in options and value is not None and value not in options[f.name]:
                dropped.append(f"{f.name} '{value}'")
                kept = replace(kept, **{f.name: None})
        return kept, dropped


@dataclass(frozen=True)
class Context:
    """What every page needs: the workspace, the viewer, the filters in force, the data version."""

    ws: Any
    viewer: Any
    filters: Filters
    version: tuple

    @property
    def tenant(self) -> str:
        """The viewer's insight-log tenant: whose notes the page shows and whose notes weigh novelty."""
        from insights.review import insight_log

        return insight_log.tenant_of(self.viewer)


CONTEXT_KEY = "_bpo_context"


def set_context(ctx: Context) -> None:
    """Hand the entry script's context to the page it runs."""
    import streamlit as st

    st.session_state[CONTEXT_KEY] = ctx


def context() -> Context:
    """The context the entry script set for this run (pages never resolve access themselves)."""
    import streamlit as st

    ctx = st.session_state.get(CONTEXT_KEY)
    if ctx is None:
        st.error("Open the dashboard through its entry page (dashboard/app.py).")
        st.stop()
    return ctx
