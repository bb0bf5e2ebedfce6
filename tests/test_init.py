"""`bpo-insights init DIR`: from an empty folder to one's own first KPIs, with nothing but the command line.

The walk below is the README's own-data walkthrough, command for command.
"""

import csv
import io
import os
import re
import stat

import pytest

from connectors.store import Workspace
from connectors.store.config import parse_config
from insights.cli import main

HELPDESK_CSV = """\
Number,Opened,First reply,Resolved,State,Via
INC-1,2026-03-02 09:00,2026-03-02 09:30,2026-03-02 13:00,Resolved,Phone
INC-2,2026-03-02 10:00,2026-03-02 11:00,2026-03-03 10:00,Resolved,E-mail
INC-3,2026-03-03 08:00,2026-03-03 08:10,,Open,E-mail
INC-4,2026-03-04 12:00,2026-03-04 14:00,2026-03-04 16:00,Closed,Chat
"""

MAPPING = """\
[mapping]
table = "tickets"
timezone = "UTC"
[mapping.columns]
ticket_id = "Number"
created_at = "Opened"
first_response_at = "First reply"
resolved_at = "Resolved"
status = "State"
channel = "Via"
[mapping.values.channel]
"Phone" = "voice"
"E-mail" = "email"
"Chat" = "chat"
[mapping.values.status]
"Resolved" = "solved"
"Closed" = "closed"
"Open" = "open"
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_from_an_empty_folder_to_first_kpis(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    (tmp_path / "my_helpdesk.csv").write_text(HELPDESK_CSV, encoding="utf-8")
    (tmp_path / "my_mapping.toml").write_text(MAPPING, encoding="utf-8")

    code, out, err = run(capsys, "init", ws, "--name", "Acme support", "--client", "acme", "--vendor", "in-house")
    assert code == 0, err
    assert "--client acme --vendor in-house --site in-house-main" in out  # the next step, ready to paste

    code, out, err = run(capsys, "import", str(tmp_path / "my_helpdesk.csv"), "--mapping", str(tmp_path / "my_mapping.toml"),
                         "--client", "acme", "--vendor", "in-house", "--site", "in-house-main", "--workspace", ws)
    assert code == 0, err
    assert "4 rows read, 4 inserted" in out

    code, out, err = run(capsys, "kpis", "--workspace", ws,
                         "--kpi", "tickets_created,tickets_solved,backlog,first_response_time_median,resolution_time_median")
    assert code == 0, err
    values = {r["kpi"]: float(r["value"]) for r in csv.DictReader(io.StringIO(out)) if r["period"] == "2026-03-02"}
    assert values == {
        "tickets_created": 4,
        "tickets_solved": 3,  # Resolved, Resolved, Closed
        "backlog": 1,  # INC-3 is open
        "first_response_time_median": 2700,  # 30, 60, 10, 120 minutes -> (30 + 60) / 2 = 45 min
        "resolution_time_median": 14400,  # 4 h, 24 h, 4 h -> 4 h
    }

    code, out, err = run(capsys, "status", "--workspace", ws)
    assert code == 0, err
    assert "Acme support" in out and "my_helpdesk.csv -> tickets: +4" in out


def test_the_new_bpo_toml_passes_the_strict_validator_and_names_every_section(tmp_path, capsys):
    ws = tmp_path / "ws"
    code, _, err = run(capsys, "init", str(ws), "--name", "Two brands", "--currency", "EUR", "--client", "acme",
                       "--client", "globex", "--vendor", "northwind", "--vendor", "in-house", "--timezone", "Europe/Warsaw",
                       "--week-start", "sunday")
    assert code == 0, err
    config = parse_config(ws / "bpo.toml")
    assert (config.name, config.currency) == ("Two brands", "EUR")
    assert config.ids("client") == ("acme", "globex")
    assert config.ids("vendor") == ("northwind", "in-house")
    assert [(s["id"], s["vendor"], s["timezone"]) for s in config.sites] == [
        ("northwind-main", "northwind", "Europe/Warsaw"), ("in-house-main", "in-house", "Europe/Warsaw")]
    assert [(u.name, u.role) for u in config.users] == [("admin", "admin")]
    assert config.settings == {"timezone": "Europe/Warsaw", "week_start": "sunday"}
    text = (ws / "bpo.toml").read_text(encoding="utf-8")
    for commented in ("# [[source]]", '# role = "brand"', '# role = "vendor"', "# pseudonymise_agents", "# tier ="):
        assert commented in text
    # the commented examples are valid bpo.toml once uncommented (all but the source, which needs a real account)
    examples = text.split("# [[source]]")[0]
    uncommented = "\n".join(line[2:] if re.match(r"# (\[\[?\w+\]\]?$|\w+ = )", line) and "_url" not in line
                            and "password_env" not in line else line for line in examples.splitlines())
    assert uncommented.count("[[user]]") == 3
    (ws / "bpo.toml").write_text(uncommented, encoding="utf-8")
    config = parse_config(ws / "bpo.toml")
    assert [(u.name, u.role) for u in config.users] == [("admin", "admin"), ("brand-manager", "brand"),
                                                         ("vendor-lead", "vendor")]
    assert config.settings["pseudonymise_agents"] is True

def test_init_makes_the_folder_the_store_expects(tmp_path, capsys):
    ws = tmp_path / "ws"
    code, _, err = run(capsys, "init", str(ws))
    assert code == 0, err
    assert (ws / "tables").is_dir()
    key = ws / "hash.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64
    assert (ws / "state.db").stat().st_size > 0
    opened = Workspace.open(ws)
    assert opened.import_history(limit=5).height == 0
    assert opened.config.ids("client") == ("my-client",) and opened.config.ids("vendor") == ("in-house",)
    assert opened.config.name == "ws"  # the folder's name when --name is not given


def test_init_never_overwrites_an_existing_workspace(tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "bpo.toml").write_text('[workspace]\nname = "mine"\n', encoding="utf-8")
    code, out, err = run(capsys, "init", str(ws), "--name", "other")
    assert code == 2
    assert "already exists; nothing was changed" in err and "Edit that file" in err
    assert (ws / "bpo.toml").read_text(encoding="utf-8") == '[workspace]\nname = "mine"\n'
    assert not (ws / "hash.key").exists()


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["--currency", "usd"], "--currency 'usd' must be an ISO 4217 code", id="currency"),
    pytest.param(["--timezone", "Mars/Olympus"], "--timezone 'Mars/Olympus' is not an IANA time zone", id="zone"),
    pytest.param(["--week-start", "sun"], "--week-start 'sun' is not a weekday; use one of monday", id="week-start"),
    pytest.param(["--client", "acme corp"], "--client 'acme corp' is not an id", id="client-id"),
    pytest.param(["--vendor", "nw", "--vendor", "nw"], "--vendor nw given twice", id="vendor-twice"),
])
def test_bad_init_options_are_refused_naming_the_option(tmp_path, capsys, argv, message):
    code, _, err = run(capsys, "init", str(tmp_path / "ws"), *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "ws" / "bpo.toml").exists()


def test_a_missing_workspace_offers_init_first(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BPO_WORKSPACE", raising=False)
    code, _, err = run(capsys, "status", "--workspace", str(tmp_path / "nowhere"))
    assert code == 2
    assert err.index("bpo-insights init") < err.index("bpo-insights sample --out")
    assert os.path.join(str(tmp_path), "nowhere") in err
