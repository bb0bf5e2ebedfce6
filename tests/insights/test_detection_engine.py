"""The detection engine's shape: one registry of detectors that agrees with what rules.toml may name, and runs that
share no state (several dashboard viewers run `detect` at once, each in its own thread)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

import insights.detection
from connectors.store import Scope
from insights.catalog import rules as rules_catalog
from insights.detection import scan
from insights.detection.engine import detect
from insights.detection.registry import DETECTORS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import tiny  # noqa: E402 - the planted-miss workspace of the dashboard suite

ADMIN_ACME = (Scope.everything(), {"client": "acme"})
NORTHWIND_AM = (Scope.of(clients="*", vendors=["northwind"]), None)


# --------------------------------------------------------------------------- the registry


def test_every_detector_rules_toml_may_name_is_registered_and_every_registered_one_may_be_named():
    named, registered = set(rules_catalog.DETECTORS), set(DETECTORS)
    assert named - registered == set(), "rules.toml may name these, and nothing runs them"
    assert registered - named == set(), "these run, and the rules validator rejects their name"


def test_each_registered_detector_is_known_by_its_own_name_and_has_an_implementation():
    for name, detector in DETECTORS.items():
        assert detector.name == name
        assert detector.finds and all(callable(f) for f in detector.finds), name
        assert all(f.__module__.startswith("insights.detection.") for f in detector.finds), name


def test_each_per_segment_pass_belongs_to_a_registered_detector_and_is_switched_as_it_is():
    for step in scan.SEGMENT_STEPS:
        detector = DETECTORS[step.detector]
        assert step.find in detector.finds, f"{step.find.__name__} is not listed under {step.detector}"
        assert step.switched == detector.switched, step.detector


@pytest.mark.parametrize(("name", "spec", "runs"), [
    pytest.param("trend", {"detectors": ("rate_change", "trend")}, True, id="listed-for-the-kpi"),
    pytest.param("trend", {"detectors": ("rate_change",)}, False, id="not-listed"),
    pytest.param("trend", None, False, id="kpi-not-judged"),
    pytest.param("target_miss", {"detectors": ("rate_change",)}, True, id="a-contract-decides"),
])
def test_a_switched_detector_runs_only_where_rules_toml_lists_it(name, spec, runs):
    assert DETECTORS[name].on(spec) is runs


# --------------------------------------------------------------------------- runs share nothing


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """tiny's planted email miss, under a contract that carries a service credit (so a run reads credits)."""
    ws = tiny.build_planted(tmp_path_factory.mktemp("planted") / "ws")
    credit = tiny.sla_targets().with_columns(pl.lit(100.0).alias("penalty_per_point"), pl.lit("USD").alias("currency"),
                                             pl.col("updated_at") + pl.duration(days=1))  # newer: the upsert keeps it
    ws.upsert("sla_targets", credit)
    return ws


def _records(ws, viewer) -> list[dict]:
    scope, filters = viewer
    return [i.to_dict() for i in detect(ws, scope, filters=filters).insights]


def _module_state() -> dict[str, str]:
    """Every dict, list and set held at module level in insights.detection, as text."""
    state = {}
    for info in pkgutil.iter_modules(insights.detection.__path__, "insights.detection."):
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if isinstance(value, (dict, list, set)):
                state[f"{info.name}.{attr}"] = repr(value)
    return state


def test_a_run_leaves_no_state_behind_in_the_detection_modules(planted):
    before = _module_state()
    found = detect(planted, Scope.everything(), filters={"client": "acme"})
    assert any(i.type == "target_miss" for i in found.insights), "the planted miss (under a credit term) is judged"
    after = _module_state()
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}


def test_two_viewers_running_at_once_get_what_each_gets_alone(planted):
    alone = [_records(planted, viewer) for viewer in (ADMIN_ACME, NORTHWIND_AM)]
    assert alone[0] and alone[0] != alone[1]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda viewer: _records(planted, viewer), (ADMIN_ACME, NORTHWIND_AM)))
    assert together == alone
