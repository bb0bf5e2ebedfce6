"""Periods: a day is cut into its week in one place, and 'the latest complete week' means one thing everywhere."""
from __future__ import annotations

from datetime import date

import pytest

from insights.metrics.periods import latest_complete_week, week_start


@pytest.mark.parametrize(("day", "monday"), [
    pytest.param(date(2026, 11, 2), date(2026, 11, 2), id="a-monday-is-its-own-week"),
    pytest.param(date(2026, 11, 8), date(2026, 11, 2), id="a-sunday-closes-the-week"),
    pytest.param(date(2027, 1, 1), date(2026, 12, 28), id="a-week-across-new-year"),
])
def test_a_day_belongs_to_the_week_of_its_monday(day: date, monday: date) -> None:
    assert week_start(day) == monday


@pytest.mark.parametrize(("last_day", "week"), [
    pytest.param(date(2026, 11, 8), date(2026, 11, 2), id="data-to-a-sunday-the-week-is-complete"),
    pytest.param(date(2026, 11, 9), date(2026, 11, 2), id="one-monday-of-data-does-not-complete-its-week"),
    pytest.param(date(2026, 11, 14), date(2026, 11, 2), id="data-to-a-saturday-the-week-is-still-running"),
])
def test_the_latest_complete_week_ends_on_or_before_the_last_day(last_day: date, week: date) -> None:
    assert latest_complete_week(last_day) == week
