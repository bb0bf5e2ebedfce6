"""The detectors rules.toml may name, one entry each: the functions that find what it finds and what they read.

`insights.catalog.rules.DETECTORS` (the names and KPI kinds the rules validator accepts) and this table hold the
same names: a test holds them together, so a detector rules.toml may name always runs, and one that runs can be named.
A detector is `switched` by the `detectors` list of a KPI's [[detect]] entry; the others run wherever their data is
(a contract target in force, a KPI of kind small_count, the tickets created every run reads).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from insights.detection import level_scan, scan
from insights.detection.records import Candidate


@dataclass(frozen=True, kw_only=True)
class Detector:
    """One detector: the functions that emit its candidates, what they read, and whether rules.toml switches it."""

    name: str
    finds: tuple[Callable[..., list[Candidate]], ...]
    reads: str
    switched: bool = True

    def on(self, spec: Mapping[str, Any] | None) -> bool:
        """Whether the detector runs for a KPI with this [[detect]] entry (None: the KPI is not judged)."""
        return spec is not None and (not self.switched or self.name in spec["detectors"])


DETECTORS: dict[str, Detector] = {d.name: d for d in (
    Detector(
        name="rate_change",
        finds=(scan.rate_week, scan.rate_window, scan.scan_cross, level_scan.monthly),
        reads="each segment's weekly series (the review week, and a window of the last weeks); complete months for a "
              "KPI of grain month; a vendor's work across the clients it serves"),
    Detector(
        name="level_shift",
        finds=(scan.level_shift,),
        reads="the weekly series of a client and of its vendors, sites and channels; of its contact reasons only to "
              "tell a problem still open"),
    Detector(
        name="trend",
        finds=(scan.trend,),
        reads="the weekly series of a client and of its vendors, sites and channels"),
    Detector(
        name="target_miss",
        finds=(scan.target_miss,), switched=False,
        reads="each client × channel week against the contract target in force (the contract decides)"),
    Detector(
        name="peer_outlier",
        finds=(level_scan.peers,),
        reads="a client's sites this week and over the baseline weeks, standardised by channel (every vendor's work)"),
    Detector(
        name="volume_anomaly",
        finds=(level_scan.volume,), switched=False,
        reads="daily tickets created per client, client × site and client × channel"),
    Detector(
        name="routing_shift",
        finds=(level_scan.routing_shifts,),
        reads="weekly tickets created per site of a client (every vendor's work)"),
    Detector(
        name="small_count_rate",
        finds=(scan.small_counts,), switched=False,
        reads="a KPI of kind small_count per client and per site (the kind decides)"),
)}

# findings no rules.toml detector names: a ratio KPI's change that is the channel mix, not performance
MIX: Callable[..., list[Candidate]] = level_scan.mix_shifts
