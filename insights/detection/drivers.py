"""Drivers: why a KPI moved, from the segments' numerators and denominators.

* `decompose(base, cur)`: the exact mix-vs-rate decomposition of a ratio KPI's change across the
  segments of one dimension (symmetric, Shapley-style): with shares w and rates r,
  rate = Σ (r₁ − r₀)(w₀ + w₁)/2, mix = Σ (w₁ − w₀)(r₀ + r₁)/2, and rate + mix = R₁ − R₀ exactly.
* `search(frames, ...)`: one dimension at a time, the segments that explain the change (their
  share of the change, and how much more than their share of volume: surprise), with a minimum
  support; "broad-based" when no small set explains it, "mix" when the shares moved and the rates
  did not (Simpson's paradox).

Rows whose dimension is not recorded (a ticket without a contact reason) stay in the
decomposition as their own segment, `MISSING`, so that its before, after and total are the
whole segment's, the same numbers the insight's headline states; they are never named a driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

MISSING = "(not recorded)"  # the segment of rows without a value for the dimension
EXPLAINS = 0.5  # a segment "explains" a change when it carries at least half of it
MIX_SHARE = 0.6  # a change is "mix" when the mix term carries at least this share of it


@dataclass(frozen=True)
class Cell:
    """One segment's numerator and denominator in a period."""

    numerator: float
    denominator: float

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator > 0 else None


@dataclass(frozen=True)
class SegmentEffect:
    """One segment's part of the change: its rate and mix terms, shares of volume and of the change."""

    value: str
    rate_before: float | None
    rate_after: float | None
    share_before: float
    share_after: float
    rate_effect: float
    mix_effect: float

    @property
    def total(self) -> float:
        return self.rate_effect + self.mix_effect


@dataclass(frozen=True)
class Decomposition:
    """The change of a ratio KPI split into mix and rate, exactly, over one dimension's segments."""

    dimension: str
    before: float
    after: float
    total: float
    rate: float
    mix: float
    segments: tuple[SegmentEffect, ...]


@dataclass(frozen=True)
class Driver:
    """A segment that explains the change (or the mix of a dimension), ready for the insight record."""

    dimension: str
    value: str
    kind: Literal["rate", "mix", "volume"]
    effect: float  # in the KPI's unit
    share_of_change: float
    share_of_volume: float
    surprise: float
    rate_before: float | None
    rate_after: float | None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"dimension": self.dimension, "value": self.value, "kind": self.kind, "effect": self.effect,
                "share_of_change": self.share_of_change, "share_of_volume": self.share_of_volume,
                "surprise": self.surprise, "rate_before": self.rate_before, "rate_after": self.rate_after}


@dataclass(frozen=True)
class DriverSearch:
    """What the one-dimension-at-a-time search found: the drivers (best first) and whether it is broad-based."""

    drivers: tuple[Driver, ...]
    broad_based: bool
    decompositions: tuple[Decomposition, ...]


def decompose(dimension: str, base: Mapping[str, Cell], cur: Mapping[str, Cell]) -> Decomposition:
    """Exact mix + rate split of the change of Σnum/Σden between `base` and `cur` over `dimension`'s segments."""
    d0 = sum(c.denominator for c in base.values())
    d1 = sum(c.denominator for c in cur.values())
    r_total0 = sum(c.numerator for c in base.values()) / d0 if d0 > 0 else 0.0
    r_total1 = sum(c.numerator for c in cur.values()) / d1 if d1 > 0 else 0.0
    effects = []
    for key in sorted(set(base) | set(cur)):
        c0, c1 = base.get(key, Cell(0.0, 0.0)), cur.get(key, Cell(0.0, 0.0))
        w0 = c0.denominator / d0 if d0 > 0 else 0.0
        w1 = c1.denominator / d1 if d1 > 0 else 0.0
        r0, r1 = c0.rate, c1.rate
        # a segment absent on one side has no rate change there: its whole contribution is mix
        r0f = r0 if r0 is not None else (r1 if r1 is not None else 0.0)
        r1f = r1 if r1 is not None else r0f
        rate = (r1f - r0f) * (w0 + w1) / 2.0
        mix = (w1 - w0) * (r0f + r1f) / 2.0
        effects.append(SegmentEffect(key, r0, r1, w0, w1, rate, mix))
    rate = sum(e.rate_effect for e in effects)
    mix = sum(e.mix_effect for e in effects)
    return Decomposition(dimension, r_total0, r_total1, r_total1 - r_total0, rate, mix, tuple(effects))


def search(cells: Mapping[str, tuple[Mapping[str, Cell], Mapping[str, Cell]]], *, min_support: float = 0.05,
           explains: float = EXPLAINS, mix_share: float = MIX_SHARE, additive: bool = False,
           min_surprise: float = 0.0) -> DriverSearch:
    """Search each dimension (name -> (baseline cells, current cells)) for the segments behind the change.

    `additive` KPIs (counts) split the change as the segments' own changes; ratio KPIs use the
    exact decomposition.  A segment needs `min_support` of the volume (before or after) to count, and a segment
    carrying the change in proportion to its volume (surprise below `min_surprise`) is not a driver.
    """
    found: list[Driver] = []
    decs: list[Decomposition] = []
    for dim, (base, cur) in cells.items():
        if additive:
            total = sum(c.numerator for c in cur.values()) - sum(c.numerator for c in base.values())
            vol = sum(c.numerator for c in cur.values()) or 1.0
            vol0 = sum(c.numerator for c in base.values()) or 1.0
            for key in set(base) | set(cur):
                a, b = base.get(key, Cell(0, 0)).numerator, cur.get(key, Cell(0, 0)).numerator
                share_v = max(a / vol0, b / vol)
                if share_v < min_support or total == 0 or key == MISSING:
                    continue
                sc = (b - a) / total
                found.append(Driver(dim, key, "volume", b - a, sc, share_v, sc - share_v, a, b))
            continue
        dec = decompose(dim, base, cur)
        decs.append(dec)
        if dec.total == 0:
            continue
        movers = sorted((e for e in dec.segments if e.value != MISSING), key=lambda e: -abs(e.share_after - e.share_before))
        if movers and abs(dec.mix) >= mix_share * abs(dec.total) and dec.mix * dec.total > 0:
            top = movers[0]
            found.append(Driver(dim, top.value, "mix", dec.mix, dec.mix / dec.total,
                                max(top.share_before, top.share_after), dec.mix / dec.total - 0.0,
                                top.share_before, top.share_after))
        for e in dec.segments:
            support = max(e.share_before, e.share_after)
            if support < min_support or e.value == MISSING:
                continue
            share_c = e.rate_effect / dec.total
            found.append(Driver(dim, e.value, "rate", e.rate_effect, share_c, support, share_c - support,
                                e.rate_before, e.rate_after))
    # a driver counts when it carries most of the change and more than its weight of volume
    strong = [d for d in found if d.share_of_change >= explains and (d.kind == "mix" or d.surprise > min_surprise)]
    strong.sort(key=lambda d: (-(d.share_of_change + d.surprise), d.dimension, d.value))
    return DriverSearch(tuple(strong[:5]), broad_based=not strong, decompositions=tuple(decs))


def cells_from_rows(rows: Sequence[Mapping[str, object]], dimension: str) -> dict[str, Cell]:
    """{segment value: Cell} from KPI rows (dimension, numerator, denominator); rows without a value go to `MISSING`."""
    out: dict[str, Cell] = {}
    for r in rows:
        value = r.get(dimension)
        key = MISSING if value is None else value
        num, den = float(r.get("numerator") or 0.0), float(r.get("denominator") or 0.0)
        prev = out.get(str(key), Cell(0.0, 0.0))
        out[str(key)] = Cell(prev.numerator + num, prev.denominator + den)
    return out
