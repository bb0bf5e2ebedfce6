"""What changed for real: detectors over every segment, FDR per family, drivers, narrative and ranking.

    from insights.detection import detect
    findings = detect(ws, scope, week=date(2026, 10, 19))

`engine.detect` orchestrates one run (`reading.Run`): `scan` and `level_scan` find candidates (the
detectors rules.toml may name are listed in `registry`; `detectors` and `stats` hold the tests),
`tiers` judges them (BH per family, tiers), `explain` merges, explains and records them (`records`),
`cards` groups one story's findings, `data_quality` tells what is wrong with the data itself;
`drivers` holds the mix/rate decomposition and driver search, `narrative` the rules and playbooks
turned into sentences, `ranking` the score, `insight_log` the notes, owners and acknowledgements
that feed novelty.

The names below are imported on first use: a module that needs one part (the insight log, the narrative's
rules) does not load the engine and its statistics libraries.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from insights.detection.engine import detect, engine_reach
    from insights.detection.records import Findings, Insight, polarity, stable_id

_LAZY = {"detect": "insights.detection.engine", "engine_reach": "insights.detection.engine",
         "Findings": "insights.detection.records",
         "Insight": "insights.detection.records", "polarity": "insights.detection.records",
         "stable_id": "insights.detection.records"}


def __getattr__(name: str) -> Any:
    """The package's public names, imported when first asked for (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = ["Findings", "Insight", "detect", "engine_reach", "polarity", "stable_id"]
