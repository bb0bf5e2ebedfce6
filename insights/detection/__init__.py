"""What changed for real: detectors over every segment, FDR per family, drivers, narrative and ranking.

    from insights.detection import detect
    findings = detect(ws, scope, week=date(2026, 10, 19))

`engine.detect` orchestrates; `detectors` and `stats` hold the tests, `drivers` the mix/rate
decomposition and driver search, `narrative` the rules and playbooks turned into sentences,
`ranking` the score, `insight_log` the notes, owners and acknowledgements that feed novelty.
"""
from insights.detection.engine import Findings, Insight, detect, polarity, stable_id

__all__ = ["Findings", "Insight", "detect", "polarity", "stable_id"]
