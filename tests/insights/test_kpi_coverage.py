"""Adding a KPI is adding a block: this says what else is missing (a hand-worked test case, a README row)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from insights.catalog import load_catalog
from insights.export.docs import END, REGENERATE, START, kpi_table_markdown, readme_block

HERE = Path(__file__).resolve().parent
README = HERE.parent.parent / "README.md"


def _case_ids() -> list[str]:
    spec = importlib.util.spec_from_file_location("kpi_cases", HERE / "test_kpis.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [p.id for p in module.CASES]


def test_every_catalog_kpi_has_a_hand_worked_case() -> None:
    ids = _case_ids()
    missing = [k for k in load_catalog().kpis if k not in ids]
    assert not missing, f"KPIs without a case in tests/insights/test_kpis.py CASES: {', '.join(missing)}; add a pytest.param(..., id=name)"


def test_every_case_names_a_catalog_kpi_once() -> None:
    ids = _case_ids()
    assert sorted(set(ids)) == sorted(ids), "a KPI has two cases in CASES"
    stale = [i for i in ids if i not in load_catalog().kpis]
    assert not stale, f"cases for KPIs no longer in the catalog: {', '.join(stale)}"


def test_readme_kpi_table_matches_the_catalog() -> None:
    if not README.exists():
        pytest.fail(f"{README} does not exist; write it, then run `{REGENERATE}`")
    block = readme_block(README.read_text(encoding="utf-8"))
    if block is None:
        pytest.fail(f"{README} has no {START} ... {END} block; run `{REGENERATE}`")
    expected = kpi_table_markdown()
    if block != expected:
        have, want = block.splitlines(), expected.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
        pytest.fail(f"README KPI table is out of date (first difference at table line {first + 1}: "
                    f"README has {len(have)} lines, the catalog renders {len(want)}); run `{REGENERATE}`")
