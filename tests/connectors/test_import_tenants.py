"""`import --client/--vendor/--site` say whose file it is: they fill the tenant keys, and a row that disagrees is refused.

Every tenant id a file brings (through a flag, a column or a mapping constant) must be declared in
bpo.toml, and a site declared with a vendor is that vendor's: a file can never put rows under a
tenant nobody declared, or under a competitor.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest

from connectors.errors import ConfigError, ImportFileError
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from insights.cli import main
from sample_data.operation import bpo_toml

HEADER = "ticket_id,client_id,vendor_id,site_id,channel,created_at"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("tenants test"))


def csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "tickets.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def stored(ws: Workspace) -> list[tuple]:
    return ws.read("tickets", Scope.everything()).select("ticket_id", "client_id", "vendor_id", "site_id").sort("ticket_id").rows()


class Refused(NamedTuple):
    rows: tuple[str, ...]
    flags: dict[str, str]
    message: str


REFUSED = [
    pytest.param(Refused(("T1,acme,northwind,nw-manila,email,2026-03-02T08:00:00Z",
                          "T2,globex,northwind,nw-manila,email,2026-03-02T09:00:00Z"),
                         {"client": "acme"},
                         r"tickets.csv row 3, column 'client_id': 'globex' disagrees with --client acme"),
                 id="client-column-disagrees-with-the-flag"),
    pytest.param(Refused(("T1,acme,southpeak,sp-austin,email,2026-03-02T08:00:00Z",),
                         {"vendor": "northwind", "site": "nw-manila"},
                         r"(?s)row 2, column 'site_id': 'sp-austin' disagrees with --site nw-manila.*"
                         r"row 2, column 'vendor_id': 'southpeak' disagrees with --vendor northwind"),
                 id="a-competitors-rows-under-my-flag"),
    pytest.param(Refused(("T1,acme,northwind,nw-manila,email,2026-03-02T08:00:00Z",
                          "T2,initech,northwind,nw-manila,email,2026-03-02T09:00:00Z"),
                         {},
                         r"row 3, column 'client_id': 'initech' is not a \[\[client\]\] id of bpo.toml \(declared: acme, globex\); "
                         r"fix the id, or declare it with \[\[client\]\] id = \"initech\""),
                 id="undeclared-client-in-a-row"),
    pytest.param(Refused(("T1,acme,nortwind,nw-manila,email,2026-03-02T08:00:00Z",), {},
                         r"column 'vendor_id': 'nortwind' is not a \[\[vendor\]\] id of bpo.toml; did you mean 'northwind'\?"),
                 id="misspelt-vendor-in-a-row"),
    pytest.param(Refused(("T1,acme,southpeak,nw-manila,email,2026-03-02T08:00:00Z",), {},
                         r"row 2, column 'site_id': 'nw-manila' belongs to vendor 'northwind' in bpo.toml, but the row's "
                         r"vendor is 'southpeak'"),
                 id="another-vendors-site"),
]


@pytest.mark.parametrize("case", REFUSED)
def test_a_row_of_another_or_an_unknown_tenant_is_refused_naming_row_and_column(ws: Workspace, tmp_path: Path,
                                                                                case: Refused) -> None:
    with pytest.raises(ImportFileError, match=case.message):
        import_paths(ws, [csv(tmp_path, *case.rows)], preset="canonical", **case.flags)
    assert stored(ws) == []


def test_with_quarantine_only_the_disagreeing_rows_stay_out(ws: Workspace, tmp_path: Path) -> None:
    path = csv(tmp_path, "T1,acme,northwind,nw-manila,email,2026-03-02T08:00:00Z",
               "T2,globex,northwind,nw-manila,email,2026-03-02T09:00:00Z")
    [report] = import_paths(ws, [path], preset="canonical", client="acme", quarantine=True)
    assert (report.inserted, report.status) == (1, "partial")
    assert [(r["row"], r["column"], r["value"]) for r in report.rejected] == [(3, "client_id", "globex")]
    assert stored(ws) == [("T1", "acme", "northwind", "nw-manila")]


def test_flags_fill_what_the_file_leaves_empty_and_agree_with_what_it_says(ws: Workspace, tmp_path: Path) -> None:
    path = csv(tmp_path, "T1,acme,,,email,2026-03-02T08:00:00Z", "T2,,southpeak,sp-austin,chat,2026-03-02T09:00:00Z")
    [report] = import_paths(ws, [path], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
    assert report.inserted == 2
    assert stored(ws) == [("T1", "acme", "southpeak", "sp-austin"), ("T2", "acme", "southpeak", "sp-austin")]


class BadFlag(NamedTuple):
    flags: dict[str, str]
    message: str


@pytest.mark.parametrize("case", [
    pytest.param(BadFlag({"client": "acmee"}, r"--client 'acmee' is not a \[\[client\]\] id of bpo.toml; did you mean 'acme'\?"),
                 id="misspelt-client"),
    pytest.param(BadFlag({"vendor": "initech-bpo"}, r"--vendor 'initech-bpo' is not a \[\[vendor\]\] id .*declare it with "
                         r"\[\[vendor\]\] id = \"initech-bpo\""), id="undeclared-vendor"),
    pytest.param(BadFlag({"vendor": "southpeak", "site": "nw-manila"},
                         r"--site nw-manila belongs to vendor 'northwind' in bpo.toml, not 'southpeak'"), id="another-vendors-site"),
])
def test_a_flag_naming_an_undeclared_tenant_stops_before_reading(ws: Workspace, tmp_path: Path, case: BadFlag) -> None:
    path = csv(tmp_path, "T1,,,,email,2026-03-02T08:00:00Z")
    with pytest.raises(ConfigError, match=case.message):
        import_paths(ws, [path], preset="canonical", **case.flags)
    assert stored(ws) == [] and ws.import_history().height == 0


def test_a_mapping_constant_naming_an_undeclared_tenant_is_refused(ws: Workspace, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[mapping]\ntable = "tickets"\n[mapping.columns]\nticket_id = "id"\nchannel = "channel"\n'
                       'created_at = "created"\n[mapping.constants]\nclient_id = "acme"\nvendor_id = "northwnd"\n'
                       'site_id = "nw-manila"\n')
    path = csv(tmp_path, "T1,email,2026-03-02T08:00:00Z", header="id,channel,created")
    with pytest.raises(ImportFileError, match=r"column 'vendor_id': 'northwnd' is not a \[\[vendor\]\] id"):
        import_paths(ws, [path], mapping=mapping)


def test_the_command_line_exits_2_with_the_row_and_the_flag(ws: Workspace, tmp_path: Path, capsys) -> None:
    path = csv(tmp_path, "T1,globex,eastbay,eb-cebu,email,2026-03-02T08:00:00Z")
    code = main(["import", str(path), "--preset", "canonical", "--workspace", str(ws.path), "--client", "acme"])
    err = capsys.readouterr().err
    assert code == 2 and "row 2, column 'client_id': 'globex' disagrees with --client acme" in err
    assert main(["import", str(path), "--preset", "canonical", "--workspace", str(ws.path), "--client", "acm"]) == 2
    assert "did you mean 'acme'?" in capsys.readouterr().err
    assert stored(ws) == []
    assert pl.Series(ws.import_history()["status"]).to_list() == ["failed"]
