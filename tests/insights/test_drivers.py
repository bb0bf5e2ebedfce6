"""Drivers: the exact mix/rate identity, Simpson's paradox called mix, concentration, broad-based."""

from __future__ import annotations

import pytest

from insights.detection.drivers import MISSING, Cell, cells_from_rows, decompose, search


def cells(**kv: tuple[float, float]) -> dict[str, Cell]:
    return {k: Cell(*v) for k, v in kv.items()}


@pytest.mark.parametrize(("base", "cur"), [
    pytest.param(cells(email=(880, 1000), chat=(960, 1000)), cells(email=(1320, 1500), chat=(290, 300)), id="mix-shift"),
    pytest.param(cells(a=(50, 100), b=(30, 50)), cells(a=(20, 100), b=(45, 50), c=(5, 10)), id="new-segment"),
    pytest.param(cells(a=(10, 20), b=(5, 5)), cells(a=(12, 20)), id="segment-gone"),
])
def test_mix_plus_rate_equals_total(base, cur):
    d = decompose("channel", base, cur)
    assert d.mix + d.rate == pytest.approx(d.total, abs=1e-12)
    assert sum(e.total for e in d.segments) == pytest.approx(d.total, abs=1e-12)


def test_simpsons_paradox_is_called_mix():
    # chat moves to email: each channel's rate unchanged, the total falls
    base = cells(email=(880, 1000), chat=(960, 1000))
    cur = cells(email=(1496, 1700), chat=(288, 300))
    found = search({"channel": (base, cur)})
    assert found.drivers[0].kind == "mix" and found.drivers[0].dimension == "channel"
    assert found.decompositions[0].rate == pytest.approx(0.0, abs=1e-9)


def test_concentrated_rate_change_names_its_segment():
    base = {"site_id": (cells(manila=(880, 1000), bogota=(900, 1000), denver=(950, 1000)),
                        cells(manila=(600, 1000), bogota=(902, 1000), denver=(948, 1000)))}
    found = search(base)
    assert (found.drivers[0].value, found.drivers[0].kind) == ("manila", "rate")
    assert found.drivers[0].share_of_change > 0.9 and not found.broad_based


def test_broad_based_when_every_segment_moves_alike():
    base = cells(**{s: (900, 1000) for s in "abcdefgh"})
    cur = cells(**{s: (880, 1000) for s in "abcdefgh"})
    assert search({"site_id": (base, cur)}).broad_based


def test_a_majority_segment_moving_like_the_rest_is_not_called_concentrated():
    """62.5 % of the volume carrying 64 % of the change is the change spread evenly: broad-based (rules.toml
    driver_min_surprise), not "concentrated in priority normal"."""
    base = cells(normal=(550, 625), high=(200, 225), low=(130, 150))
    cur = cells(normal=(450, 625), high=(166, 225), low=(108, 150))
    assert search({"priority": (base, cur)}, min_surprise=0.0).drivers  # the old bar: any excess over its weight
    found = search({"priority": (base, cur)}, min_surprise=0.10)
    assert found.broad_based and not found.drivers
    concentrated = search({"site_id": (cells(manila=(880, 1000), bogota=(900, 1000)),
                                       cells(manila=(600, 1000), bogota=(898, 1000)))}, min_surprise=0.10)
    assert concentrated.drivers[0].value == "manila"


def test_minimum_support_ignores_tiny_segments():
    base = cells(big=(900, 1000), tiny=(18, 20))
    cur = cells(big=(899, 1000), tiny=(2, 20))
    assert all(d.value != "tiny" for d in search({"queue": (base, cur)}, min_support=0.05).drivers)


def test_rows_without_a_value_stay_in_the_total_and_are_never_named_a_driver():
    rows_b = [{"contact_reason": "billing", "numerator": 80, "denominator": 100},
              {"contact_reason": None, "numerator": 90, "denominator": 100}]
    rows_c = [{"contact_reason": "billing", "numerator": 79, "denominator": 100},
              {"contact_reason": None, "numerator": 40, "denominator": 100}]
    base, cur = cells_from_rows(rows_b, "contact_reason"), cells_from_rows(rows_c, "contact_reason")
    d = decompose("contact_reason", base, cur)
    assert (d.before, d.after) == pytest.approx((0.85, 0.595))  # the whole segment's rates, as its headline states
    assert all(x.value != MISSING for x in search({"contact_reason": (base, cur)}).drivers)
