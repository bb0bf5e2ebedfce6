"""The catalog validator: every problem listed at once, each naming file, object and fix."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from insights import format
from insights.catalog import CATALOG_DIR, load_catalog
from insights.errors import CatalogError


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped catalog."""
    shutil.copytree(CATALOG_DIR, tmp_path / "catalog")
    return tmp_path / "catalog"


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def test_shipped_catalog_is_valid_and_has_the_contract_kpis() -> None:
    catalog = load_catalog()
    for name in ("sla_first_response", "sla_resolution", "service_level", "csat", "fcr", "aht", "backlog",
                 "cost_per_contact", "attrition_annualised", "unused_committed_volume"):
        assert name in catalog.kpis
    assert 6 <= len(catalog.presets["weekly_review"]) <= 12
    assert {"weekly_review", "sla_trends", "quality", "workforce", "cost"} <= set(catalog.presets)
    csat = catalog.kpis["csat"]
    assert (csat.type, csat.numerator, csat.denominator, csat.direction, csat.unit) == \
        ("ratio", "csat_positive", "csat_responses", "higher_is_better", "percent")
    assert format.value(csat, 0.8734) == "87.3%"


PLANTED = {
    "measures.toml": """
[[measure]]
name = "tickets_created"
table = "tickets"
agg = "count"

[[measure]]
name = "calls"
table = "phone_calls"
agg = "count"

[[measure]]
name = "mean_wait"
table = "contact_intervals"
agg = "mean"
column = "wait_seconds"

[[measure]]
name = "vip_tickets"
table = "tickets"
agg = "count"
filter = "is_vip AND status = 'open'"
""",
    "kpis.toml": """
[[kpi]]
name = "csat"
label = "again"
type = "ratio"
numerator = "csat_positive"
denominator = "csat_responses"
direction = "higher_is_better"
unit = "percent"
format = ".1%"
materiality = 0.02
min_volume = 30
description = "Duplicate."

[[kpi]]
name = "wobbly"
label = "Wobbly"
type = "ratio"
numerator = "csat_positiv"
denominator = "csat_responses"
direction = "up"
unit = "percentage"
format = ".1q"
materiality = 0.02
min_volume = 30
description = "Typos everywhere."

[[kpi]]
name = "loop_a"
label = "A"
type = "derived"
expression = "loop_b + 1"
direction = "neutral"
unit = "count"
format = ",.0f"
materiality = 0
min_volume = 0
description = "Half of a cycle."

[[kpi]]
name = "loop_b"
label = "B"
type = "derived"
expression = "loop_a * 2"
direction = "neutral"
unit = "count"
format = ",.0f"
materiality = 0
min_volume = 0
description = "The other half."
""",
}


def test_validator_lists_every_planted_problem_at_once(catalog_dir: Path) -> None:
    for file, text in PLANTED.items():
        _append(catalog_dir / file, text)
    (catalog_dir / "presets.toml").write_text('[presets]\nweekly_review = ["csat", "net_sentiment"]\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"11 problem\(s\) in the KPI catalog") as err:
        load_catalog(catalog_dir)
    problems = err.value.problems
    expected = [
        r"measures.toml \[\[measure\]\] 'tickets_created': duplicate measure name 'tickets_created'; rename or remove one",
        r"measures.toml \[\[measure\]\] 'calls': unknown table 'phone_calls'; use one of: tickets, contact_intervals",
        r"measures.toml \[\[measure\]\] 'mean_wait': agg 'mean' is not one of: count, sum, count_distinct",
        r"measures.toml \[\[measure\]\] 'vip_tickets': filter 'is_vip AND status = 'open'' uses unknown column 'is_vip'",
        r"kpis.toml \[\[kpi\]\] 'csat': duplicate KPI name 'csat'; rename or remove one",
        r"kpis.toml \[\[kpi\]\] 'wobbly': direction 'up' is not one of: higher_is_better, lower_is_better, neutral",
        r"kpis.toml \[\[kpi\]\] 'wobbly': unit 'percentage' is not one of: percent, seconds",
        r"kpis.toml \[\[kpi\]\] 'wobbly': format '.1q' is not a Python format spec",
        r"kpis.toml \[\[kpi\]\] 'wobbly': numerator 'csat_positiv' uses unknown measure 'csat_positiv'; declare it in measures.toml",
        r"kpis.toml \[\[kpi\]\] 'loop_a': derived KPIs refer to each other in a cycle \(loop_a -> loop_b -> loop_a\)",
        r"presets.toml \[presets\] weekly_review: names unknown KPI 'net_sentiment'; add it to kpis.toml",
    ]
    for pattern in expected:
        assert any(re.search(pattern, p) for p in problems), f"{pattern!r} not in {problems}"
    assert len(problems) == len(expected)


def test_kpis_only_comparable_inside_one_channel_say_so() -> None:
    within = {name for name, k in load_catalog().kpis.items() if k.within == "channel"}
    assert {"first_response_time_median", "first_response_time_p90", "resolution_time_median"} <= within
    assert load_catalog().kpis["csat"].within is None


@pytest.mark.parametrize(("file", "text", "message"), [
    pytest.param("measures.toml", '[[measure]]\nname = "x"\ntable = "tickets"\nagg = "sum"\ncolumn = "sentiment"\n',
                 r"\[\[measure\]\] 'x': column = 'sentiment': tickets has no canonical or derived column 'sentiment'",
                 id="unknown-column"),
    pytest.param("measures.toml", '[[measure]]\nname = "x"\ntable = "sla_targets"\nagg = "count"\n',
                 r"\[\[measure\]\] 'x': sla_targets has no time column; set 'time'", id="no-time-column"),
    pytest.param("measures.toml", '[[column]]\nname = "p"\ntable = "tickets"\nexpression = "q + 1"\n'
                                  '[[column]]\nname = "q"\ntable = "tickets"\nexpression = "p + 1"\n',
                 r"derived columns refer to each other in a cycle \(p -> q -> p\)", id="derived-column-cycle"),
    pytest.param("kpis.toml", '[[kpi]]\nname = "q"\nlabel = "Q"\ntype = "quantile"\nmeasure = "first_responses"\n'
                              'quantile = 90\ndirection = "neutral"\nunit = "seconds"\nformat = ".0f"\nmateriality = 0\n'
                              'min_volume = 0\ndescription = "Q."\n',
                 r"quantile 90 must be a number between 0 and 1 \(0.9 for p90\)", id="quantile-out-of-range"),
    pytest.param("kpis.toml", '[[kpi]]\nname = "z"\nlabel = "Z"\ntype = "ratio"\nnumerater = "csat_positive"\n'
                              'denominator = "csat_responses"\ndirection = "neutral"\nunit = "percent"\nformat = ".0%"\n'
                              'materiality = 0\nmin_volume = 0\ndescription = "Z."\n',
                 r"(?s)unknown key 'numerater'; did you mean 'numerator'\?.*'numerator' is missing", id="misspelt-key"),
    pytest.param("kpis.toml", "[[kpi]\nname = 1\n", r"kpis.toml \(file\): is not valid TOML", id="toml-syntax"),
    pytest.param("kpis.toml", '[[kpi]]\nname = "w"\nlabel = "W"\ntype = "quantile"\nmeasure = "first_responses"\n'
                              'quantile = 0.5\ndirection = "neutral"\nunit = "seconds"\nformat = ".0f"\nmateriality = 0\n'
                              'min_volume = 0\nwithin = "chanel"\ndescription = "W."\n',
                 r"\[\[kpi\]\] 'w': within 'chanel' must name a column of the tables its measures read \(tickets\)",
                 id="within-an-unknown-dimension"),
])
def test_validator_names_file_object_and_fix(catalog_dir: Path, file: str, text: str, message: str) -> None:
    _append(catalog_dir / file, text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(catalog_dir)
