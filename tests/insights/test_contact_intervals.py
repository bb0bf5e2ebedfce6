"""Interval KPIs from call-level records: service level, ASA, abandonment and AHT worked out by hand.

tests/fixtures/contacts/bank_call_log.csv is a bank's call log (generic ACD layout, 24 calls on the
Cards queue, Monday 2 Nov 2026, UTC):

    answered   queue wait (s)   talk + hold + wrap = handle (s)
    A01              5            200 +   0 + 30 =  230
    A02             12            180 +  30 + 20 =  230
    A03             20 (exactly the 20 s threshold)  300 + 0 + 60 = 360
    A04             21            150 +   0 + 15 =  165
    A05             45            420 +  60 + 45 =  525
    A06             19             90 +   0 + 10 =  100   arrives 09:29:40, queues 09:30:05
    A07             30            240 +  20 + 40 =  300
    A08   no queue time -> 0      120 +   0 + 30 =  150
    A09             30            600 + 120 + 60 =  780   arrives 23:55, ends 00:08 on 3 Nov
    A10              3             60 +   0 +  0 =   60
    A11              0            100 +  10 + 20 =  130
    abandoned after waiting: B01 2 s, B02 5 s, B03 8 s, B04 35 s, B05 90 s, B06 15 s, B07 4 s
    ended in the IVR (no queue): I01 60 s, I02 30 s, I03 1 s
    phantoms (queued, gone within 1 s of arrival): P01, P02
    outbound: O01, 300 talk + 60 wrap = 360 handle
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ConfigError
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from insights.catalog.contact_rules import load_contact_rules
from insights.errors import RulesError
from insights.metrics.contacts import intervals
from insights.metrics.kpis import compute_kpis
from sample_data.operation import bpo_toml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contacts"
DAY = date(2026, 11, 2)
KPIS = ["contacts_offered", "contacts_handled", "service_level", "asa", "abandonment_rate", "aht"]


def workspace(tmp_path: Path, rules: str = "") -> Workspace:
    toml = bpo_toml("t") + (f"\n[contact_rules]\n{rules}\n" if rules else "")
    return Workspace.create(tmp_path / "ws", toml)


def load_calls(ws: Workspace, file: str = "bank_call_log.csv") -> None:
    [report] = import_paths(ws, [FIXTURES / file], preset="acd_calls", client="acme", vendor="southpeak", site="sp-austin")
    assert report.status == "ok", str(report)


def kpis_of_day(ws: Workspace) -> dict[str, float]:
    k = compute_kpis(ws, Scope.everything(), KPIS, grain="day", start=DAY, end=date(2026, 11, 3))
    assert k.filter(pl.col("period") == date(2026, 11, 3))["value"].drop_nulls().sum() == 0  # the 00:08 end stays on 2 Nov
    day = k.filter(pl.col("period") == DAY)
    return dict(zip(day["kpi"], day["value"]))


# Default rules: offered = 11 answered + 7 abandoned = 18 (3 IVR-only and 2 phantoms are not offered);
# short abandons (wait <= 5 s): B01 2, B02 5, B07 4 = 3;
# answered within 20 s (<=): A01 5, A02 12, A03 20, A06 19, A08 0, A10 3, A11 0 = 7 (A04 21, A05 45, A07 30, A09 30 miss);
# service level = 7 / (18 - 3) = 7/15;  abandonment = (7 - 3) / (18 - 3) = 4/15;
# ASA = (5+12+20+21+45+19+30+0+30+3+0) / 11 = 185/11;
# AHT = (230+230+360+165+525+100+300+150+780+60+130 inbound + 360 outbound) / 12 handled = 3390/12 = 282.5.
DEFAULT = {"contacts_offered": 18, "contacts_handled": 11, "service_level": 7 / 15, "asa": 185 / 11,
           "abandonment_rate": 4 / 15, "aht": 3390 / 12}


def test_call_log_kpis_match_the_hand_worked_figures_under_the_default_rules(tmp_path):
    ws = workspace(tmp_path)
    load_calls(ws)
    assert kpis_of_day(ws) == pytest.approx(DEFAULT)


@pytest.mark.parametrize(("rules", "expected"), [
    # "<" instead of "<=": A03, answered at exactly 20 s, misses: 6 within; SL = 6 / (18 - 3) = 6/15
    pytest.param('sl_boundary = "<"', {**DEFAULT, "service_level": 6 / 15}, id="sl-boundary-strict"),
    # short abandons within 10 s: B01 2, B02 5, B03 8, B07 4 = 4; SL = 7 / (18 - 4) = 7/14; abandonment = (7 - 4)/14
    pytest.param("short_abandon_seconds = 10", {**DEFAULT, "service_level": 7 / 14, "abandonment_rate": 3 / 14},
                 id="short-abandon-10s"),
    # short abandons under 5 s (strict): B01 2, B07 4 = 2 (B02 at 5 s is a real abandon); SL = 7/16, abandonment = 5/16
    pytest.param('short_abandon_boundary = "<"', {**DEFAULT, "service_level": 7 / 16, "abandonment_rate": 5 / 16},
                 id="short-abandon-strict"),
    # no phantom rule: P01 and P02 are offered and abandoned after 0 s (short): offered 20, abandoned 9, short 5;
    # SL = 7 / (20 - 5) = 7/15, abandonment = (9 - 5) / 15 = 4/15: the short-abandon rule already absorbs them
    pytest.param("phantom_seconds = 0", {**DEFAULT, "contacts_offered": 20}, id="no-phantoms"),
    # IVR hang-ups offered and abandoned at 0 s wait: I01, I02 (I03 lasted 1 s: a phantom); offered 20, short 5
    pytest.param('ivr_only = "abandoned"', {**DEFAULT, "contacts_offered": 20}, id="ivr-counted"),
    # an answered call with no queue time waited 10 s: A08 still within 20 s; ASA = (185 + 10) / 11
    pytest.param("answered_without_queue_wait_seconds = 10", {**DEFAULT, "asa": 195 / 11}, id="no-queue-wait-10s"),
    # all at once: "<" (A03 out: 6 within), short <= 10 s and no phantoms (B01 B02 B03 B07 P01 P02 = 6 short of 9
    # abandoned, 20 offered): SL = 6 / (20 - 6) = 6/14; abandonment = (9 - 6) / 14 = 3/14
    pytest.param('sl_boundary = "<"\nshort_abandon_seconds = 10\nphantom_seconds = 0',
                 {**DEFAULT, "contacts_offered": 20, "service_level": 6 / 14, "abandonment_rate": 3 / 14}, id="combined"),
])
def test_call_log_kpis_follow_each_changed_rule(tmp_path, rules, expected):
    ws = workspace(tmp_path, rules)
    load_calls(ws)
    assert kpis_of_day(ws) == pytest.approx(expected)


def offered_by_interval(ws: Workspace) -> dict[str, int]:
    iv = intervals(ws, Scope.everything()).filter(pl.col("direction") == "inbound").collect()
    return {t.strftime("%d %H:%M"): n for t, n in iv.select("interval_start", "offered").sort("interval_start").rows()}


def test_a_call_belongs_to_the_interval_it_queued_in_and_counts_whole_there(tmp_path):
    ws = workspace(tmp_path)
    load_calls(ws)
    # 09:00: A01-A05, B01-B03; 09:30: A06 (arrived 09:29:40, queued 09:30:05), A07, A08, A10, A11, B04-B07;
    # 23:30: A09, whose 780 s of handle time stay on 2 Nov although the call ends at 00:08 on 3 Nov
    assert offered_by_interval(ws) == {"02 09:00": 8, "02 09:30": 9, "02 23:30": 1}
    late = intervals(ws, Scope.everything()).filter(pl.col("queue_id") == "Cards").collect()
    assert late.filter(pl.col("interval_start").dt.hour() == 23)["handle_seconds"].to_list() == [780.0]


def test_assigning_by_arrival_moves_the_call_that_queued_after_the_interval_turned(tmp_path):
    ws = workspace(tmp_path, 'assign_by = "initiation"')
    load_calls(ws)
    assert offered_by_interval(ws) == {"02 09:00": 9, "02 09:30": 8, "02 23:30": 1}


def test_hourly_intervals_by_rule(tmp_path):
    ws = workspace(tmp_path, "interval_minutes = 60")
    load_calls(ws)
    assert offered_by_interval(ws) == {"02 09:00": 17, "02 23:00": 1}
    assert kpis_of_day(ws) == pytest.approx(DEFAULT)


# --------------------------------------------------------------------------- contacts and interval reports

REPORT = """queue_id,channel,direction,interval_start,interval_minutes,offered,handled,abandoned,answered_within_sl,wait_seconds,handle_seconds
Billing,voice,inbound,{start},{minutes},50,45,5,40,900,13500
Billing,voice,inbound,2026-11-02T11:00:00Z,30,7,7,0,7,70,2100
"""


@pytest.mark.parametrize(("start", "minutes"), [
    pytest.param("2026-11-02T09:00:00Z", 30, id="same-30-minute-interval"),
    pytest.param("2026-11-02T09:15:00Z", 15, id="a-15-minute-report-row-inside-it"),
])
@pytest.mark.parametrize(("precedence", "offered"), [
    # contacts: Billing inbound from the call log = 2 (09:00) + 1 (09:30), plus the report's uncovered 11:00 row (7)
    pytest.param("contacts", 2 + 1 + 7, id="contacts-win"),
    # intervals: the report's 09:00 row (50) and 11:00 row (7), plus the contacts of 09:30 (1) that no report covers
    pytest.param("intervals", 50 + 7 + 1, id="reports-win"),
])
def test_contacts_and_interval_reports_of_the_same_queue_and_interval_never_both_count(
        tmp_path, start, minutes, precedence, offered):
    ws = workspace(tmp_path, f'precedence = "{precedence}"')
    load_calls(ws, "acd_call_log.csv")
    report = tmp_path / "billing_intervals.csv"
    report.write_text(REPORT.format(start=start, minutes=minutes))
    [r] = import_paths(ws, [report], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
    assert r.table == "contact_intervals" and r.status == "ok", str(r)
    k = compute_kpis(ws, Scope.everything(), ["contacts_offered"], grain="day", by=("queue_id",), start=DAY, end=DAY)
    assert dict(zip(k["queue_id"], k["value"]))["Billing"] == offered


def test_without_contact_records_the_interval_reports_are_read_unchanged(tmp_path):
    ws = workspace(tmp_path)
    report = tmp_path / "billing_intervals.csv"
    report.write_text(REPORT.format(start="2026-11-02T09:00:00Z", minutes=30))
    import_paths(ws, [report], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
    assert intervals(ws, Scope.everything()).collect().equals(ws.read("contact_intervals", Scope.everything()))


def test_a_viewer_sees_only_the_intervals_of_their_own_contacts(tmp_path):
    ws = workspace(tmp_path)
    load_calls(ws)
    assert intervals(ws, Scope(clients=frozenset({"globex"}), vendors=None)).collect().height == 0
    assert intervals(ws, Scope(clients=frozenset({"acme"}), vendors=frozenset({"northwind"}))).collect().height == 0
    # Southpeak's own: inbound 09:00, 09:30, 23:30 and the outbound 10:00
    assert intervals(ws, Scope(clients=frozenset({"acme"}), vendors=frozenset({"southpeak"}))).collect().height == 4


# --------------------------------------------------------------------------- the rules file

def test_the_rules_file_sets_every_rule():
    rules = load_contact_rules()
    assert (rules.interval_minutes, rules.assign_by, rules.ivr_only, rules.phantom_seconds, rules.short_abandon_seconds,
            rules.short_abandon_boundary, rules.sl_threshold_seconds, rules.sl_boundary,
            rules.answered_without_queue_wait_seconds, rules.precedence) == (
        30, "queue_arrival", "excluded", 2.0, 5.0, "<=", 20.0, "<=", 0.0, "contacts")


def test_a_misspelt_workspace_rule_stops_at_bpo_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"\[contact_rules\]: 'sl_boundry' is not a key of \[contact_rules\]; did you mean 'sl_boundary'\?"):
        workspace(tmp_path, 'sl_boundry = "<"')


def test_a_wrong_workspace_rule_value_is_named_with_its_fix(tmp_path):
    ws = workspace(tmp_path, 'phantom_seconds = -1\ninterval_minutes = 7\nprecedence = "both"\nsl_boundary = 20')
    load_calls(ws)
    with pytest.raises(RulesError) as e:
        compute_kpis(ws, Scope.everything(), ["service_level"], grain="day", start=DAY, end=DAY)
    text = str(e.value)
    assert text.startswith("4 problem(s) in the contact rules: bpo.toml [contact_rules] ")
    assert "phantom_seconds: = -1 is out of range; use 0 to 3600 seconds" in text
    assert "interval_minutes: = 7; use one of 5, 10, 15, 20, 30, 60" in text
    assert "precedence: = 'both'; use one of 'contacts', 'intervals'" in text
    assert "sl_boundary: = 20; use one of '<=', '<'" in text


def test_a_rules_file_missing_a_rule_or_holding_an_unknown_one_is_refused(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "insights" / "catalog" / "contact_rules.toml").read_text()
    broken = text.replace("phantom_seconds = 2", "phantom_secs = 2")
    (tmp_path / "contact_rules.toml").write_text(broken)
    with pytest.raises(RulesError) as e:
        load_contact_rules(folder=tmp_path)
    assert "contact_rules.toml [rules] phantom_secs: is not a contact rule; did you mean 'phantom_seconds'?" in str(e.value)
    assert "contact_rules.toml [rules] phantom_seconds: is missing" in str(e.value)


# --------------------------------------------------------------------------- forecasting and staffing

def test_forecast_volumes_count_calls_on_lanes_without_tickets(tmp_path):
    from insights.analyses.forecast import volume_history

    ws = workspace(tmp_path)
    load_calls(ws)
    v = volume_history(ws, Scope.everything(), grain="day")
    # Southpeak Austin's voice lane has no tickets: its demand is the 18 calls offered on 2 Nov (IVR-only and phantoms
    # excluded, the outbound call is not demand)
    assert v.rows(named=True) == [{"period": DAY, "client_id": "acme", "channel": "voice", "vendor_id": "southpeak",
                                   "site_id": "sp-austin", "volume": 18}]


def test_a_lane_with_tickets_is_counted_from_its_tickets_only(tmp_path):
    from insights.analyses.forecast import volume_history

    ws = workspace(tmp_path)
    load_calls(ws)
    tickets = tmp_path / "tickets.csv"
    tickets.write_text("ticket_id,channel,status,created_at\nT1,voice,solved,2026-11-02T09:00:00Z\n"
                       "T2,voice,open,2026-11-02T10:00:00Z\nT3,email,open,2026-11-02T11:00:00Z\n")
    import_paths(ws, [tickets], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
    v = volume_history(ws, Scope.everything(), grain="day", by=("channel",))
    assert dict(zip(v["channel"], v["volume"])) == {"email": 1, "voice": 2}  # never 2 + 18


def test_staffing_reads_the_intervals_derived_from_calls(tmp_path):
    from insights.analyses.staffing import staffing_gap

    ws = workspace(tmp_path)
    load_calls(ws)
    gap = staffing_gap(ws, Scope.everything(), start=DAY, end=DAY)
    cards = gap.intervals.filter(pl.col("queue_id") == "Cards")
    assert [(t.strftime("%H:%M"), n) for t, n in cards.select("interval_start", "offered").rows()] == [
        ("09:00", 8), ("09:30", 9), ("23:30", 1)]
    assert cards["aht"][0] == pytest.approx(3030 / 11)  # inbound handle seconds / calls handled (the outbound is not queued)


# --------------------------------------------------------------------------- the README's commands

def test_the_readme_commands_import_a_call_log_and_print_its_kpis(tmp_path, capsys):
    from insights.cli import main

    ws = workspace(tmp_path)
    assert main(["import", str(FIXTURES / "bank_call_log.csv"), "--preset", "acd_calls", "--client", "acme",
                 "--vendor", "southpeak", "--site", "sp-austin", "--workspace", str(ws.path)]) == 0
    assert "bank_call_log.csv -> contacts: 24 rows read, 24 inserted" in capsys.readouterr().out
    assert main(["kpis", "--workspace", str(ws.path), "--grain", "day", "--kpi", "service_level,abandonment_rate",
                 "--from", "2026-11-02", "--to", "2026-11-02"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "period,kpi,value,numerator,denominator,n"
    assert "2026-11-02,service_level,0.4666666666666667,7.0,15.0,15" in out  # 7 / (18 offered - 3 short abandons)
    assert "2026-11-02,abandonment_rate,0.26666666666666666,4.0,15.0,15" in out


def test_a_bad_rule_exits_2_with_the_fix(tmp_path, capsys):
    from insights.cli import main

    ws = workspace(tmp_path, 'sl_boundary = "=<"')
    load_calls(ws)
    assert main(["kpis", "--workspace", str(ws.path), "--kpi", "service_level"]) == 2
    assert "bpo.toml [contact_rules] sl_boundary: = '=<'; use one of '<=', '<'" in capsys.readouterr().err


def test_a_workspace_with_call_records_only_offers_their_days_and_dimensions(tmp_path):
    from insights.review import activity_days, dimension_values

    ws = workspace(tmp_path)
    load_calls(ws)
    assert activity_days(ws, Scope.everything()).to_list() == [DAY]
    assert dimension_values(ws, Scope.everything()) == {"client": ["acme"], "vendor": ["southpeak"],
                                                        "site": ["sp-austin"], "channel": ["voice"],
                                                        "language": []}  # calls carry no language
