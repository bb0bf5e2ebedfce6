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
"""
from insights.detection.engine import detect
from insights.detection.records import Findings, Insight, polarity, stable_id

__all__ = ["Findings", "Insight", "detect", "polarity", "stable_id"]
