"""Pilots: the difference-in-differences estimate, interval and verdict, on hand-built weeks and on the planted pilot."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.cli import main
from insights.analyses.pilots import PilotError, did_effect, evaluate_pilot, load_pilots, ratio_cell

START = date(2026, 1, 5)


def weeks(values: list[float], n: int, first: date = START) -> pl.DataFrame:
    """Weekly numerator/denominator rows: each week n responses, values[i] of them positive."""
    return pl.DataFrame({"period": [first + timedelta(days=7 * i) for i in range(len(values))],
                         "numerator": [v * n for v in values], "denominator": [float(n)] * len(values)})


def csat(pb, pa, cb=None, ca=None, n=400, goal=None, direction="higher_is_better"):
    return did_effect(kpi="csat", label="CSAT", unit="percent", direction=direction,
                      pilot_before=weeks(pb, n), pilot_after=weeks(pa, n),
                      control_before=None if cb is None else weeks(cb, n),
                      control_after=None if ca is None else weeks(ca, n), goal=goal)


BEFORE = [0.80, 0.81, 0.79, 0.80, 0.82, 0.78, 0.80, 0.80]
CONTROL_BEFORE = [0.79, 0.80, 0.81, 0.80, 0.79, 0.81, 0.80, 0.80]


def test_ratio_cell_is_pooled_with_week_clustered_variance():
    c = ratio_cell(weeks([0.5, 0.7], 100))
    assert (c.value, c.weeks) == (0.6, 2)
    # residuals (50 - 60, 70 - 60) -> 2/1 * 200 / 200^2
    assert c.variance == pytest.approx(0.01)


def test_did_subtracts_the_control_groups_change():
    e = csat(BEFORE, [0.90, 0.91, 0.89, 0.90], CONTROL_BEFORE, [0.82, 0.83, 0.81, 0.82])
    assert e.design == "difference-in-differences"
    assert e.estimate == pytest.approx(0.10 - 0.02)
    assert e.ci[0] < e.estimate < e.ci[1] and e.p_value < 0.001
    assert e.verdict.startswith("CSAT rose 8.0 pts, 95% CI ") and e.verdict.endswith(": the pilot met its goal")


@pytest.mark.parametrize(("args", "verdict"), [
    pytest.param(dict(pa=[0.70, 0.71, 0.69, 0.70]), "CSAT fell 10.0 pts, 95% CI", id="worse"),
    pytest.param(dict(pa=[0.85, 0.86, 0.84, 0.85], goal=0.08), "better, but short of the 8.0 pts goal", id="short-of-goal"),
    pytest.param(dict(pa=[0.80, 0.80, 0.81, 0.79] * 3), "no measurable effect on CSAT", id="no-effect"),
])
def test_verdicts(args, verdict):
    e = csat(BEFORE, **args)
    assert e.design == "before/after"
    assert verdict in e.verdict


def test_a_promising_but_noisy_start_says_how_many_more_weeks():
    noisy_before = [0.70, 0.90, 0.75, 0.85, 0.72, 0.88, 0.80, 0.80]
    e = csat(noisy_before, [0.95, 0.80, 0.92], n=400)
    assert 0 < e.estimate and e.p_value > 0.05
    assert e.weeks_needed is not None and e.weeks_needed >= 1
    assert e.verdict.startswith(f"not enough data yet: about {e.weeks_needed} more week")


def test_lower_is_better_kpis_improve_when_they_fall():
    e = did_effect(kpi="repeat_contact_rate", label="Repeat contacts", unit="percent", direction="lower_is_better",
                   pilot_before=weeks([0.10, 0.11, 0.09, 0.10], 500), pilot_after=weeks([0.06, 0.05, 0.07, 0.06], 500))
    assert e.estimate == pytest.approx(-0.04)
    assert "Repeat contacts fell 4.0 pts" in e.verdict and e.verdict.endswith("met its goal")


# --------------------------------------------------------------------------- the planted pilot


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    from sample_data.generator import generate

    out: Path = tmp_path_factory.mktemp("pilots") / "ws"
    generate(out, weeks=40, scale=0.4)
    return Workspace.open(out)


def test_planted_coaching_pilot_lifts_csat(sample):
    from sample_data.stories import STORIES_BY_KEY

    story = STORIES_BY_KEY["coaching_pilot"]
    report = evaluate_pilot(sample, Scope.everything(), "nw-bogota coaching pilot")
    assert report.pilot.scope["site_id"] == ("nw-bogota",)
    assert "nw-bogota" not in report.control["site_id"]
    effect = next(e for e in report.effects if e.kpi == "csat")
    assert effect.design == "difference-in-differences"
    # the pilot window runs from its start; the +9 pt effect starts in its third week
    weeks_total = (report.after[1] - report.after[0]).days // 7 + 1
    weeks_on = (report.after[1] - story.effect("csat").start()).days // 7 + 1
    planted = story.effect("csat").size * weeks_on / weeks_total
    assert effect.ci[0] < planted < effect.ci[1]
    assert effect.estimate > 0.02
    assert effect.verdict.startswith("CSAT (top box) rose") and effect.verdict.endswith("the pilot met its goal")


def test_the_default_control_group_is_work_people_handle_not_the_ai_agents(sample):
    """acme's AI agent site answers a growing share of chat and messaging alone; its FCR and repeat rate move with the
    automation, so comparing a coaching pilot with it would credit or blame the coaching for the AI's growth."""
    report = evaluate_pilot(sample, Scope.everything(), "nw-bogota coaching pilot")
    assert "acme-ai" not in report.control["site_id"]
    assert {"nw-manila", "sp-austin"} <= set(report.control["site_id"])  # the people's sites stay
    assert sample.scan("tickets", Scope.of(["acme"])).filter(pl.col("site_id") == "acme-ai").select(pl.len()).collect().item() > 0


def test_pilot_defined_in_bpo_toml_with_control_and_goal(sample, tmp_path):
    ws_dir = tmp_path / "ws"
    shutil.copytree(sample.path, ws_dir)
    toml = (ws_dir / "bpo.toml").read_text() + """
[[pilot]]
name = "manila callbacks"
scope = { site_id = "nw-manila" }
start = 2026-09-07
end = 2026-10-18
kpis = ["csat", "aht"]
control = { site_id = ["nw-bogota"] }
pre_weeks = 6
goals = { csat = 0.05 }
"""
    (ws_dir / "bpo.toml").write_text(toml)
    ws = Workspace.open(ws_dir)
    pilots = load_pilots(ws, Scope.everything())
    assert {"manila callbacks", "nw-bogota coaching pilot"} <= set(pilots)
    report = evaluate_pilot(ws, Scope.everything(), "manila callbacks")
    assert [e.kpi for e in report.effects] == ["csat", "aht"]
    assert report.control == {"site_id": ("nw-bogota",)}
    assert report.before == (date(2026, 7, 27), date(2026, 9, 6))
    assert report.effects[0].goal == 0.05


@pytest.mark.parametrize(("name", "message"), [
    pytest.param("nope", "no pilot named 'nope'", id="unknown-pilot"),
])
def test_unknown_pilot_lists_the_defined_ones(sample, name, message):
    with pytest.raises(PilotError, match=message):
        evaluate_pilot(sample, Scope.everything(), name)


def test_pilot_is_invisible_outside_the_viewers_scope(sample):
    with pytest.raises(PilotError, match="no pilot named"):
        evaluate_pilot(sample, Scope.of(["globex"], ["eastbay"]), "nw-bogota coaching pilot")


def test_cli_pilot_command(sample, capsys):
    assert main(["pilot", "nw-bogota coaching pilot", "--workspace", str(sample.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Pilot: nw-bogota coaching pilot") and "CSAT (top box)" in out
    assert main(["pilot", "missing", "--workspace", str(sample.path)]) == 2


# --------------------------------------------------------------------------- the read-out's window and control group


def _viewer(ws: Workspace, name: str) -> Scope:
    return next(u.scope for u in ws.config.users if u.name == name)


def test_the_read_out_runs_past_the_pilots_end_to_the_latest_complete_week(sample):
    # before: the window stopped at the pilot's end (20 Sep) with 9 weeks of data after it, and read
    # "not enough data yet: about 3 more weeks needed" for first contact resolution
    from sample_data.operation import DEFAULT_END

    report = evaluate_pilot(sample, Scope.everything(), "nw-bogota coaching pilot")
    assert report.pilot.end is not None and report.pilot.end < DEFAULT_END - timedelta(weeks=8)
    assert report.after == (date(2026, 8, 10), DEFAULT_END)
    assert f"the pilot ran {report.pilot.start} – {report.pilot.end}" in report.to_markdown()


def _cells(report) -> dict[str, list[float]]:
    """Per KPI: the four cells' values and the estimate."""
    return {e.kpi: [e.pilot_before.value, e.pilot_after.value, e.control_before.value, e.control_after.value,
                    e.estimate] for e in report.effects}


def _same(report) -> dict[str, object]:
    return {k: pytest.approx(v, rel=1e-9) for k, v in _cells(report).items()}


def test_the_brand_reads_the_admins_estimate_against_the_whole_control_group(sample):
    admin = evaluate_pilot(sample, Scope.everything(), "nw-bogota coaching pilot")
    brand = evaluate_pilot(sample, _viewer(sample, "acme-manager"), "nw-bogota coaching pilot")
    assert brand.control == admin.control and _cells(brand) == _same(admin)
    assert admin.control_note == brand.control_note == ""


def test_a_vendor_that_cannot_see_the_control_group_whole_is_told_so(sample):
    # before: Northwind's AM read +7.2 pts where the admin read +6.7 for the same pilot, the control group cut
    # to Northwind's own sites without a word
    admin = evaluate_pilot(sample, Scope.everything(), "nw-bogota coaching pilot")
    vendor = evaluate_pilot(sample, _viewer(sample, "northwind-am"), "nw-bogota coaching pilot")
    assert set(vendor.control["site_id"]) < set(admin.control["site_id"])
    assert vendor.control_note.startswith("Control group: only the part in your view (northwind's work)")
    assert vendor.to_dict()["control_note"] == vendor.control_note and vendor.control_note in vendor.to_markdown()


def test_a_control_group_the_vendor_sees_whole_gives_it_the_admins_numbers(sample, tmp_path):
    ws_dir = tmp_path / "ws"
    shutil.copytree(sample.path, ws_dir)
    (ws_dir / "bpo.toml").write_text((ws_dir / "bpo.toml").read_text() + """
[[pilot]]
name = "nw-bogota coaching pilot"
control = { site_id = ["nw-manila"] }
""")
    ws = Workspace.open(ws_dir)
    admin = evaluate_pilot(ws, Scope.everything(), "nw-bogota coaching pilot")
    vendor = evaluate_pilot(ws, _viewer(ws, "northwind-am"), "nw-bogota coaching pilot")
    assert vendor.control == admin.control == {"site_id": ("nw-manila",)}
    assert vendor.control_note == "" and _cells(vendor) == _same(admin)
