"""Imports that cannot go silently wrong.

After every import, `bpo-insights import` prints a sanity report of the table as stored for that client and
vendor (warnings, exit 0) and records it for the Data health page. A canonical file with an unknown column,
and a channel, status or priority outside the vocabulary, are errors naming the fix; nothing is stored.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest

from connectors import sanity
from connectors.store import Scope, Workspace
from insights.cli import main

TOML = """
[workspace]
name = "sanity"
currency = "USD"
[[client]]
id = "acme"
name = "Acme Home"
[[client]]
id = "globex"
name = "Globex Travel"
[[vendor]]
id = "in_house"
name = "In house"
[[site]]
id = "hq"
name = "HQ"
vendor = "in_house"
"""

# The README's own mapping example (it maps neither channel nor status), with the channel a constant
README_MAPPING = """
[mapping]
table = "tickets"
timezone = "America/Chicago"
datetime_format = "%d/%m/%Y %H:%M"
null_values = ["?", "", "N/A"]
[mapping.columns]
ticket_id = "number"
created_at = "opened_at"
resolved_at = "resolved_at"
[mapping.values.channel]
"Phone" = "voice"
[mapping.constants]
client_id = "acme"
vendor_id = "in_house"
site_id = "hq"
channel = "voice"
"""

CANONICAL = "ticket_id,client_id,vendor_id,site_id,channel,status,created_at,resolved_at,queue,requester_hash"
START = date(2026, 3, 2)  # a Monday


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


def ticket(i: int, *, day: date = START, status: str = "solved", at: str | None = None, resolved: bool = True,
           queue: str = "billing", requester: str | None = None, client: str = "acme") -> str:
    created = at or f"{9 + i % 8:02d}:{(7 * i) % 60:02d}:{(13 * i) % 60:02d}"
    end = f"{day}T{18 + i % 4}:{(11 * i) % 60:02d}:05Z" if resolved else ""
    return (f"T{client}{day:%m%d}-{i},{client},in_house,hq,email,{status},{day}T{created}Z,{end},{queue},"
            f"{requester or f'cust-{i}'}")


def canonical(tmp_path: Path, rows: list[str], name: str = "tickets.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([CANONICAL, *rows]) + "\n")
    return path


def run_import(ws: Workspace, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["import", *args, "--workspace", str(ws.path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_readme_mapping_without_status_warns_that_nothing_can_be_solved(ws: Workspace, tmp_path: Path,
                                                                            capsys) -> None:
    (tmp_path / "mapping.toml").write_text(README_MAPPING)
    (tmp_path / "incidents.csv").write_text("number,opened_at,resolved_at\nINC1,02/03/2026 09:15,02/03/2026 11:00\n"
                                            "INC2,02/03/2026 10:20,\n")
    code, out, _ = run_import(ws, capsys, str(tmp_path / "incidents.csv"), "--mapping", str(tmp_path / "mapping.toml"))
    assert code == 0
    summary, warning = out.strip().splitlines()
    assert summary.startswith("incidents.csv -> tickets: 2 rows read, 2 inserted")
    # solved by the one definition (connectors/solved.py): no status, so only the ticket with a resolved_at
    assert warning.startswith("warning (acme / in_house, tickets): no ticket has a status: only the 1 of 2 tickets "
                              "with a resolved_at or closed_at count as solved")
    assert "[mapping.values.status]" in warning and 'status = "<your column>"' in warning
    (tmp_path / "open.csv").write_text("number,opened_at,resolved_at\nINC3,02/03/2026 09:15,\n")
    code, out, _ = run_import(ws, capsys, str(tmp_path / "open.csv"), "--mapping", str(tmp_path / "mapping.toml"))
    assert "no ticket has a status: only the 1 of 3 tickets" in out  # the store, not the file, is checked


class Case(NamedTuple):
    rows: list[str]
    expected: str


def _day(d: int, n: int, **kw) -> list[str]:
    return [ticket(i, day=START + timedelta(days=d), **kw) for i in range(n)]


CASES = [
    pytest.param(Case([ticket(i, status="open", resolved=False) for i in range(12)],
                      "nothing_solved: none of the 12 tickets is solved or closed and none has a resolved_at"),
                 id="nothing-solved"),
    pytest.param(Case([ticket(i, status="open") for i in range(12)],
                      "all_backlog: every one of the 12 tickets is in backlog (none is solved or closed) although 12 "
                      "resolved_at/closed_at value(s) say otherwise"),
                 id="every-ticket-in-backlog"),
    pytest.param(Case([ticket(i, queue="") for i in range(12)], "empty_column: column queue is empty in all 12 rows"),
                 id="a-column-entirely-null"),
    pytest.param(Case([ticket(i, at="00:00:00") for i in range(12)],
                      "midnight: every created_at (12 values) is at 00:00 UTC: the export has dates without a time of day"),
                 id="timestamps-all-at-midnight"),
    pytest.param(Case([ticket(i, requester="0" if i < 10 else None) for i in range(12)],
                      "single_customer: one customer holds 83% of the 12 tickets that name a requester"),
                 id="a-sentinel-customer"),
    pytest.param(Case(_day(0, 2) + [r for d in range(1, 15) for r in _day(d, 10)],
                      "partial_day: 2026-03-02 has 2 tickets, 20% of a typical Monday (10): the file starts part-way"),
                 id="a-partial-first-day"),
    pytest.param(Case([r for d in range(14) for r in _day(d, 10)] + _day(14, 1),
                      "partial_day: 2026-03-16 has 1 tickets, 10% of a typical Monday (10): the file ends part-way"),
                 id="a-partial-last-day"),
]


@pytest.mark.parametrize("case", CASES)
def test_the_import_warns_about_what_makes_kpis_meaningless(ws: Workspace, tmp_path: Path, capsys, case: Case) -> None:
    code, out, err = run_import(ws, capsys, str(canonical(tmp_path, case.rows)), "--preset", "canonical")
    assert code == 0 and err == ""
    check, message = case.expected.split(": ", 1)
    warnings = [line for line in out.splitlines() if line.startswith("warning")]
    assert [w for w in warnings if message in w], out
    recorded = sanity.current(ws, Scope.everything())
    assert check in recorded["check_name"].to_list()


def test_a_healthy_file_gets_no_warning(ws: Workspace, tmp_path: Path, capsys) -> None:
    rows = [ticket(i, day=START + timedelta(days=d), status="open" if i % 3 else "solved", resolved=i % 3 == 0)
            for d in range(14) for i in range(10)]
    code, out, _ = run_import(ws, capsys, str(canonical(tmp_path, rows)), "--preset", "canonical")
    assert code == 0 and "warning" not in out
    assert sanity.current(ws, Scope.everything()).is_empty()


def test_the_report_is_of_the_table_as_stored_not_of_the_file(ws: Workspace, tmp_path: Path, capsys) -> None:
    """A day split across two exports is whole once both are in: the warning goes, in state.db too."""
    full = [r for d in range(14) for r in _day(d, 10)]
    first, rest = full[:-8], full[-8:]  # the first file stops two tickets into the last day
    _, out, _ = run_import(ws, capsys, str(canonical(tmp_path, first, "a.csv")), "--preset", "canonical")
    assert "2026-03-15 has 2 tickets" in out
    assert sanity.current(ws, Scope.everything())["check_name"].to_list() == ["partial_day"]
    _, out, _ = run_import(ws, capsys, str(canonical(tmp_path, rest, "b.csv")), "--preset", "canonical")
    assert "warning" not in out
    assert sanity.current(ws, Scope.everything()).is_empty()


def test_findings_are_kept_per_client_and_shown_only_within_a_scope(ws: Workspace, tmp_path: Path, capsys) -> None:
    acme = [ticket(i, status="open", resolved=False) for i in range(12)]
    globex = [ticket(i, at="00:00:00", client="globex") for i in range(12)]
    run_import(ws, capsys, str(canonical(tmp_path, acme, "acme.csv")), "--preset", "canonical")
    run_import(ws, capsys, str(canonical(tmp_path, globex, "globex.csv")), "--preset", "canonical")
    assert sorted(sanity.current(ws, Scope.of(clients=["acme"]))["check_name"]) == ["empty_column", "nothing_solved"]
    assert sanity.current(ws, Scope.of(clients=["globex"]))["check_name"].to_list() == ["midnight"]
    assert sanity.current(ws, Scope.of(clients=["initech"])).is_empty()
    assert sanity.current(ws, Scope()).is_empty()  # deny by default


# --------------------------------------------------------------------------- errors that name the fix


def stored(ws: Workspace) -> int:
    return ws.read("tickets", Scope.everything()).height


def test_a_misspelt_canonical_column_is_an_error_with_a_did_you_mean(ws: Workspace, tmp_path: Path, capsys) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text("ticket_id,client_id,vendor_id,site_id,channel,created_at,first_response_s,queu\n"
                    "T1,acme,in_house,hq,email,2026-03-02T08:00:00Z,60,billing\n")
    code, _, err = run_import(ws, capsys, str(path), "--preset", "canonical")
    assert code == 2
    assert "'first_response_s' (did you mean 'first_response_seconds'?)" in err
    assert "'queu' (did you mean 'queue'?)" in err
    assert stored(ws) == 0


@pytest.mark.parametrize(("column", "value", "fix"), [
    pytest.param("channel", "fax", '[mapping.values.channel] "fax" = "other"', id="channel"),
    pytest.param("status", "Resolved", '[mapping.values.status] "resolved" = "solved"', id="status"),
    pytest.param("priority", "Medium", '[mapping.values.priority] "medium" = "normal"', id="priority"),
])
def test_a_value_outside_the_vocabulary_is_an_error_naming_row_value_and_fix(ws: Workspace, tmp_path: Path, capsys,
                                                                              column: str, value: str, fix: str) -> None:
    values = {"channel": "email", "status": "open", "priority": "low", column: value}
    path = tmp_path / "tickets.csv"
    path.write_text("ticket_id,client_id,vendor_id,site_id,channel,status,priority,created_at\n"
                    "T1,acme,in_house,hq,email,open,low,2026-03-02T08:00:00Z\n"
                    f"T2,acme,in_house,hq,{values['channel']},{values['status']},{values['priority']},"
                    "2026-03-02T09:00:00Z\n")
    code, _, err = run_import(ws, capsys, str(path), "--preset", "canonical")
    assert code == 2
    assert f"tickets.csv row 3, column '{column}': '{value.lower()}' is not a {column} bpo-insights knows" in err
    assert fix in err and 'extends = "canonical_tickets"' in err
    assert stored(ws) == 0
    # the fix the error names works
    table, pair = fix.split("] ")
    (tmp_path / "fix.toml").write_text(f'[mapping]\nextends = "canonical_tickets"\n{table}]\n{pair}\n')
    code, out, err = run_import(ws, capsys, str(path), "--mapping", str(tmp_path / "fix.toml"))
    assert code == 0, err
    assert stored(ws) == 2 and "fax" not in ws.read("tickets", Scope.everything())["channel"].to_list()


def test_a_mapping_that_leaves_a_channel_unmapped_names_the_value_to_add(ws: Workspace, tmp_path: Path, capsys) -> None:
    mapping = README_MAPPING.replace('channel = "voice"\n', "").replace('[mapping.columns]\n',
                                                                        '[mapping.columns]\nchannel = "kind"\n')
    (tmp_path / "mapping.toml").write_text(mapping)
    (tmp_path / "calls.csv").write_text("number,kind,opened_at,resolved_at\nINC1,Phone,02/03/2026 09:15,\n"
                                        "INC2,Fax,02/03/2026 10:20,\n")
    code, _, err = run_import(ws, capsys, str(tmp_path / "calls.csv"), "--mapping", str(tmp_path / "mapping.toml"))
    assert code == 2
    assert ("calls.csv row 3, column 'kind': 'fax' is not a channel bpo-insights knows (email, chat, voice, messaging, "
            "social, web_form, other); say what it means in the mapping: [mapping.values.channel] \"fax\" = \"other\""
            ) in err
    assert stored(ws) == 0


def test_value_map_keys_match_however_the_code_is_spelt(ws: Workspace, tmp_path: Path, capsys) -> None:
    (tmp_path / "fix.toml").write_text('[mapping]\nextends = "canonical_tickets"\n[mapping.values.status]\n'
                                       '"On Hold" = "on_hold"\n"waiting-on-customer" = "pending"\n')
    path = tmp_path / "tickets.csv"
    path.write_text("ticket_id,client_id,vendor_id,site_id,channel,status,created_at\n"
                    "T1,acme,in_house,hq,email,on-hold,2026-03-02T08:00:00Z\n"
                    "T2,acme,in_house,hq,email,Waiting on Customer,2026-03-02T09:00:00Z\n")
    code, _, err = run_import(ws, capsys, str(path), "--mapping", str(tmp_path / "fix.toml"))
    assert code == 0, err
    assert sorted(ws.read("tickets", Scope.everything())["status"].to_list()) == ["on_hold", "pending"]
    assert pl.Series(ws.import_history()["status"]).to_list() == ["ok"]


def test_a_sync_prints_the_sanity_report_of_what_it_stored(ws: Workspace, tmp_path: Path, capsys) -> None:
    """A warehouse table without a status column: the sync succeeds and says that nothing can be solved."""
    import sqlalchemy as sa

    db = tmp_path / "dw.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as con:
        con.execute(sa.text("CREATE TABLE incidents (number text, channel text, opened text, updated_at text)"))
        con.execute(sa.text("INSERT INTO incidents VALUES ('A-1', 'voice', '2026-03-02 09:00', '2026-03-02 10:00')"))
    engine.dispose()
    (ws.path / "bpo.toml").write_text(TOML + f"""
[[source]]
name = "dw"
kind = "sql"
url = "sqlite:///{db}"
table = "incidents"
client = "acme"
vendor = "in_house"
site = "hq"
start = "2026-01-01"
[source.columns]
ticket_id = "number"
created_at = "opened"
""")
    code = main(["sync", "--workspace", str(ws.path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "warning (acme / in_house, tickets): no ticket has a status, so none can be solved" in out
    assert sanity.current(ws, Scope.of(clients=["acme"]))["check_name"].to_list() == ["no_status"]
