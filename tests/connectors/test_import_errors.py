"""Bad input is refused with exit code 2 and a message naming file, row, column, value and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from connectors.errors import BpoError, ImportFileError, SchemaError
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

TOML = bpo_toml("t")  # the sample's tenants: every id a file names must be declared
HEADER = "ticket_id,client_id,vendor_id,site_id,channel,created_at,resolved_at,first_response_seconds"


def ok_row(i: int, created: str = "2025-03-03T08:00:00Z", resolved: str = "2025-03-03T10:00:00Z", frs: str = "60") -> str:
    return f"T{i},acme,northwind,nw-manila,email,{created},{resolved},{frs}"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


class Case(NamedTuple):
    name: str
    content: bytes
    error: type[BpoError]
    match: str


def lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


CASES = [
    pytest.param(Case("tickets.csv", lines(HEADER.replace(",", ";"), ok_row(1).replace(",", ";")), ImportFileError,
                      r"tickets\.csv row 1: the header looks like ';'-separated, not ','-separated.*delimiter = \";\""),
                 id="wrong-delimiter"),
    pytest.param(Case("latin.csv", lines(HEADER).replace(b"\n", b"\n") + b"T1,acme,northwind,nw-manila,e\x81mail,"
                      b"2025-03-03T08:00:00Z,,\n", ImportFileError,
                      r"latin\.csv row 2: byte 0x81 at offset \d+ is neither UTF-8 nor Windows-1252.*save the file as UTF-8"),
                 id="undecodable-encoding"),
    pytest.param(Case("tickets.csv", lines(HEADER, ok_row(1), ok_row(2, created="2025-02-31 10:00")), ImportFileError,
                      r"tickets\.csv row 3, column 'created_at': '2025-02-31 10:00' is not a date"),
                 id="date-does-not-parse"),
    pytest.param(Case("tickets.csv", lines(HEADER, ok_row(1, "03/04/2025 10:00", ""), ok_row(2, "04/03/2025 11:00", "")),
                      SchemaError, r"tickets\.csv, column 'created_at': dates such as '03/04/2025 10:00' are ambiguous"
                      r".*set datetime_format"), id="ambiguous-date-column"),
    pytest.param(Case("tickets.csv", lines("ticket_id,client_id,vendor_id,site_id", "T1,acme,northwind,nw-manila"),
                      SchemaError, r"tickets\.csv: missing required column\(s\) for tickets.*'channel' \(mapped to channel "
                      r"under \[mapping.columns\]\); 'created_at' \(mapped to created_at"),
                 id="missing-required-columns-all-listed"),
    pytest.param(Case("tickets.csv", lines(HEADER, ok_row(1), ok_row(2), ok_row(1, resolved="2025-03-03T11:00:00Z")),
                      ImportFileError, r"tickets\.csv row 2, column 'ticket_id': 'T1' appears again on row\(s\) 4 with "
                      r"different content"), id="duplicate-id-different-content"),
    pytest.param(Case("empty.csv", b"", ImportFileError, r"empty\.csv: the file is empty"), id="empty-file"),
    pytest.param(Case("header.csv", lines(HEADER), ImportFileError, r"header\.csv: has a header but no data rows"),
                 id="header-only"),
    pytest.param(Case("photo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, ImportFileError,
                      r"photo\.csv: the extension says CSV but the content is a PNG image"), id="png-named-csv"),
    pytest.param(Case("report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", ImportFileError,
                      r"report\.csv: the extension says CSV but the content is a PDF document"), id="pdf-named-csv"),
    pytest.param(Case("export.jsonl", json.dumps([{"ticket_id": "T1"}, {"ticket_id": "T2"}], indent=2).encode(),
                      ImportFileError, r"export\.jsonl line 1: not valid JSON.*one JSON document, not JSON Lines"),
                 id="json-document-named-jsonl"),
    pytest.param(Case("tickets.csv", lines(HEADER, ok_row(1), ok_row(2, frs="-30")), ImportFileError,
                      r"tickets\.csv row 3, column 'first_response_seconds': '-30' is negative"),
                 id="negative-duration"),
    pytest.param(Case("tickets.csv", lines(HEADER, ok_row(1, "2025-03-03T08:00:00Z", "2025-03-03T07:00:00Z")),
                      ImportFileError, r"tickets\.csv row 2, column 'resolved_at': '2025-03-03 07:00:00\+00:00' ends "
                      r"before it starts: resolved_at is before created_at"), id="ends-before-it-starts"),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_a_precise_message(ws: Workspace, tmp_path: Path, case: Case) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.content)
    with pytest.raises(case.error, match=case.match) as info:
        import_paths(ws, [path], preset="canonical_tickets")
    assert info.value.exit_code == 2
    assert ws.files("tickets") == {}, "nothing may be written when a file is refused"
    assert ws.import_history().get_column("status").to_list() == ["failed"]


def test_every_missing_required_column_is_listed_with_its_mapping_key(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text("ticket_id\nT1\n")
    with pytest.raises(SchemaError) as info:
        import_paths(ws, [path], preset="canonical_tickets")
    message = str(info.value)
    for needed in ("channel", "created_at", "client_id", "vendor_id", "site_id"):
        assert needed in message
    assert "--client" in message and "[mapping.constants]" in message


def test_identical_duplicate_rows_are_collapsed_silently(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(lines(HEADER, ok_row(1), ok_row(2), ok_row(1)))
    [report] = import_paths(ws, [path], preset="canonical_tickets")
    assert (report.rows_read, report.inserted, report.rejected) == (3, 2, [])


def test_problem_list_is_capped_at_twenty_lines(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(lines(HEADER, *[ok_row(i, created="not a date") for i in range(25)]))
    with pytest.raises(ImportFileError, match=r"25 problem\(s\) in 25 row\(s\); nothing was imported") as info:
        import_paths(ws, [path], preset="canonical_tickets")
    assert str(info.value).endswith("... and 5 more")
    assert str(info.value).count("is not a date") == 20


def test_quarantine_imports_good_rows_and_records_each_bad_row(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(lines(HEADER, ok_row(1), ok_row(2, created="2025-02-31 10:00"), ok_row(3, frs="-5")))
    [report] = import_paths(ws, [path], preset="canonical_tickets", quarantine=True)
    assert (report.status, report.inserted, len(report.rejected)) == ("partial", 1, 2), report.rejected
    assert ws.read("tickets", Scope.everything()).get_column("ticket_id").to_list() == ["T1"]
    rejected = ws.rejected().sort("row_number")
    assert rejected.select("row_number", "column_name", "value").rows() == [
        (3, "created_at", "2025-02-31 10:00"), (4, "first_response_seconds", "-5")]
    assert ws.import_history().get_column("status").to_list() == ["partial"]


def test_explicit_datetime_format_names_the_row_that_does_not_match(ws: Workspace, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[mapping]\ntable = "tickets"\ndatetime_format = "%d/%m/%Y %H:%M"\n'
                       '[mapping.columns]\nticket_id = "id"\nchannel = "ch"\ncreated_at = "opened"\n'
                       '[mapping.constants]\nclient_id = "acme"\nvendor_id = "in_house"\nsite_id = "hq-denver"\n')
    path = tmp_path / "export.csv"
    path.write_text("id,ch,opened\n1,email,03/04/2025 10:00\n2,email,2025-04-03\n")
    with pytest.raises(ImportFileError, match=r"export\.csv row 3, column 'opened': '2025-04-03' does not match "
                                              r"datetime_format '%d/%m/%Y %H:%M'"):
        import_paths(ws, [path], mapping=mapping)


def test_a_mapped_column_absent_from_the_file_names_the_mapping_key(ws: Workspace, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[mapping]\ntable = "tickets"\n[mapping.columns]\nticket_id = "number"\nchannel = "ch"\n'
                       'created_at = "opened_at"\nqueue = "grp"\n')
    path = tmp_path / "export.csv"
    path.write_text("number,ch,opened\n1,email,2025-03-03\n")
    with pytest.raises(SchemaError, match=r"'opened_at' \(mapped to created_at under \[mapping.columns\]\); 'grp' "
                                          r"\(mapped to queue"):
        import_paths(ws, [path], mapping=mapping, client="acme", vendor="in_house", site="hq-denver")


def test_a_canonical_file_may_say_each_tickets_direction_and_inbound_is_the_default(ws, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_bytes(lines(HEADER + ",direction", ok_row(1) + ",outbound", ok_row(2) + ",automated", ok_row(3) + ","))
    import_paths(ws, [path], preset="canonical_tickets")
    other = tmp_path / "more.csv"
    other.write_bytes(lines(HEADER, ok_row(4)))  # no direction column at all
    import_paths(ws, [other], preset="canonical_tickets")
    got = dict(ws.read("tickets", Scope.everything()).select("ticket_id", "direction").iter_rows())
    assert got == {"T1": "outbound", "T2": "automated", "T3": "inbound", "T4": "inbound"}


def test_a_direction_outside_the_vocabulary_is_refused_with_the_fix(ws, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_bytes(lines(HEADER + ",direction", ok_row(1) + ",outgoing"))
    with pytest.raises(ImportFileError, match=r"row 2, column 'direction': 'outgoing' is not a direction bpo-insights "
                                              r"knows \(inbound, outbound, automated\)"):
        import_paths(ws, [path], preset="canonical_tickets")


def test_contract_targets_with_conditions_import_and_bad_conditions_are_refused(ws, tmp_path):
    head = "target_id,client_id,effective_from,metric,threshold_seconds,attainment_target,conditions"
    good = tmp_path / "targets.csv"
    good.write_bytes(lines(head, 'org-5,acme,2025-01-01,sla_first_response,900,0.9,"{""organisation"": [""5""]}"'))
    import_paths(ws, [good], preset="canonical_sla_targets")
    assert ws.read("sla_targets", Scope.everything())["conditions"].to_list() == ['{"organisation": ["5"]}']
    bad = tmp_path / "bad.csv"
    bad.write_bytes(lines(head, "org-6,acme,2025-01-01,sla_first_response,900,0.9,organisation=6"))
    with pytest.raises(ImportFileError, match=r"bad\.csv row 2, column 'conditions': 'organisation=6'.*is not a JSON "
                                              r"object; write e\.g\. \{\"organisation\""):
        import_paths(ws, [bad], preset="canonical_sla_targets")
