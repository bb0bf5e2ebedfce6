"""Language is an insights segment: a first-response collapse in one language is found and told as that language's.

acme (tiny's planted workspace: six tickets a day × five copies, ~5 % breaching every week) answers its Spanish
customers (copies 0 and 1 of every ticket, every channel) on time for 53 weeks; in the review week every Spanish
ticket breaches while English ones stay on time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.detection.engine import detect

from _tiny import tiny

SPANISH = 2  # copies 0 and 1 of each ticket


def _tickets() -> pl.DataFrame:
    rows = []
    for w in range(tiny.WEEKS):
        for d in range(7):
            day = tiny.FIRST_MONDAY + timedelta(weeks=w, days=d)
            for i, channel in enumerate(tiny.ACME_CHANNELS):
                vendor, site = ("northwind", "nw-manila") if i % 2 == 0 else ("southpeak", "sp-austin")
                for k in range(tiny.PLANTED_COPIES):
                    spanish = k < SPANISH
                    breached = (spanish and day >= tiny.REVIEW_WEEK) or (day.toordinal() + 3 * i + k) % 20 == 0
                    row = tiny._ticket("acme", day, i, vendor=vendor, site=site, channel=channel,  # noqa: SLF001
                                       breached=breached, queue="acme-support")
                    rows.append({**row, "ticket_id": f"{row['ticket_id']}-{k}", "language": "es" if spanish else "en",
                                 "requester_hash": f"{row['requester_hash']}-{k}"})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    w = Workspace.create(Path(tmp_path_factory.mktemp("language")) / "ws", tiny.TOML)
    w.upsert("tickets", _tickets())
    w.upsert("sla_targets", tiny.sla_targets())
    return w


def _segments(found) -> list[dict]:
    return [dict(i.segment) for i in found.insights if i.kpi == "sla_first_response"]


def test_a_collapse_in_one_language_is_found_in_that_languages_segment(ws):
    found = detect(ws, Scope.everything(), week=tiny.REVIEW_WEEK, filters={"client": "acme"})
    segments = _segments(found)
    assert {"client_id": "acme", "language": "es"} in segments, segments


def test_a_language_filter_puts_the_language_in_every_segment(ws):
    found = detect(ws, Scope.everything(), week=tiny.REVIEW_WEEK, filters={"client": "acme", "language": "es"})
    segments = _segments(found)
    assert segments and all(s.get("language") == "es" for s in segments), segments
    english = detect(ws, Scope.everything(), week=tiny.REVIEW_WEEK, filters={"client": "acme", "language": "en"})
    assert not [s for s in _segments(english) if s.get("language") == "en" and len(s) == 2], "English stayed on time"
