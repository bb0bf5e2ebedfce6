"""`bpo-insights init DIR`: from an empty folder to one's own first KPIs, with nothing but the command line.

The first test runs the README's own-data walkthrough as written there: its files, its commands, its output.
"""

import csv
import io
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from connectors.store import Workspace
from connectors.store.config import parse_config
from insights.cli import main

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Your own data, from an empty folder"


def walkthrough() -> list[tuple[str, str]]:
    """The README's own-data walkthrough as (language, text) code blocks, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    section = readme[start:readme.index("\n## ", start + len(SECTION))]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", section, re.S)]


def commands(block: str) -> list[list[str]]:
    """The `bpo-insights ...` lines of a shell block as argument lists (comments dropped)."""
    return [shlex.split(line, comments=True)[1:] for line in block.splitlines() if line.startswith("bpo-insights ")]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_readme_walk_from_an_empty_folder_runs_as_written(tmp_path, capsys, monkeypatch):
    """Every block of the README's own-data section, in order: its files written, its commands run, its output shown."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BPO_WORKSPACE", raising=False)
    blocks = walkthrough()
    files = {"my_helpdesk.csv": next(t for lang, t in blocks if t.startswith("Number,")),
             "my_mapping.toml": next(t for lang, t in blocks if lang == "toml")}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    ran, outputs = [], []
    later: list[list[str]] = []
    for i, (lang, text) in enumerate(blocks):
        if lang != "sh":
            continue
        shown = blocks[i + 1][1] if i + 1 < len(blocks) and blocks[i + 1][0] == "" else None
        for argv in commands(text):
            if argv[0] == "dashboard":
                later.append(argv)  # served below, on a free port
                continue
            code, out, err = run(capsys, *argv)
            assert code == 0, f"bpo-insights {shlex.join(argv)} -> {code}: {err}"
            ran.append(argv[0])
            outputs.append((argv, out, shown))
    assert ran == ["init", "import", "kpis", "status"]

    for argv, out, shown in outputs:
        if shown is None:
            continue
        if argv[0] == "kpis":  # the CSV exactly as printed
            assert out.strip() == shown.strip()
        else:  # every line the README shows (an ellipsis stands for lines left out)
            for line in shown.strip().splitlines():
                if line.strip() != "...":
                    assert line.rstrip() in out, f"{argv[0]}: README shows {line!r}; the command printed:\n{out}"

    # the README's arithmetic is the store's: 4 created, 3 solved (Resolved, Resolved, Closed), INC-3 in backlog,
    # first responses 30/60/10/120 min -> median 45 min, resolutions 4 h/24 h/4 h -> median 4 h
    rows = {r["kpi"]: float(r["value"]) for r in csv.DictReader(io.StringIO(outputs[2][1]))}
    assert rows == {"tickets_created": 4, "tickets_solved": 3, "backlog": 1,
                    "first_response_time_median": 2700, "resolution_time_median": 14400}
    assert "Acme support" in outputs[3][1] and "my_helpdesk.csv -> tickets: +4" in outputs[3][1]

    # the dashboard line, as written plus a free port: it serves the workspace
    assert [a[0] for a in later] == ["dashboard"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "dashboard.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(log, "w") as out_file:
        proc = subprocess.Popen([sys.executable, "-m", "insights.cli", *later[0], "--port", str(port)], cwd=tmp_path,
                                stdout=out_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline, healthy = time.monotonic() + 60, False
        while time.monotonic() < deadline and not healthy and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    healthy = r.read().strip() == b"ok"
            except OSError:
                time.sleep(0.3)
        assert healthy, f"the dashboard did not serve:\n{log.read_text()[-2000:]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


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
