"""Every bad input ends in exit 2 with a one-paragraph message that says what to do, never a traceback, and no
command hangs or runs without bound on what it was given (issue 12, "Inputs that cannot hurt")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "dashboard"))
import tiny  # noqa: E402
from insights import cli  # noqa: E402

SECONDS = 60  # a command that needs longer than this on a tiny workspace has hung


class Bad(NamedTuple):
    args: tuple[str, ...]
    message: str  # a regular expression the message must match


FILES = {
    "garbage.csv": os.urandom(0) + bytes(range(256)) * 8,
    "empty.csv": b"",
    "header-only.csv": b"ticket_id,created_at,channel\n",
    "not-text.csv": b"ticket_id,created_at,channel\n1,2025-01-01,\x81\x8d\n",  # neither UTF-8 nor cp1252
    "image.csv": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "bad.toml": b"[mapping\ntable = ",
}
CASES = [
    pytest.param(Bad(("import", "nowhere.csv", "--preset", "canonical"), r"nowhere.csv: file not found"), id="missing-file"),
    pytest.param(Bad(("import", "folder", "--preset", "canonical"), r"folder: is a folder, not a file"), id="folder-as-file"),
    pytest.param(Bad(("import", "pipe.csv", "--preset", "canonical"), r"pipe.csv: is not a regular file"), id="fifo"),
    pytest.param(Bad(("import", "empty.csv", "--preset", "canonical"), r"empty.csv: the file is empty"), id="empty-file"),
    pytest.param(Bad(("import", "garbage.csv", "--preset", "canonical"), r"garbage.csv: binary content"), id="binary"),
    pytest.param(Bad(("import", "image.csv", "--preset", "canonical"), r"the content is a PNG image"), id="png-as-csv"),
    pytest.param(Bad(("import", "not-text.csv", "--preset", "canonical"), r"neither UTF-8 nor"), id="wrong-encoding"),
    pytest.param(Bad(("import", "header-only.csv", "--preset", "canonical"), r"header but no data rows"), id="header-only"),
    pytest.param(Bad(("import", "empty.csv", "--mapping", "bad.toml"), r"bad.toml: not valid TOML"), id="broken-mapping"),
    pytest.param(Bad(("import", "empty.csv", "--mapping", "garbage.csv"), r"not UTF-8 text"), id="binary-mapping"),
    pytest.param(Bad(("import", "empty.csv", "--mapping", "pipe.csv"), r"not a regular file"), id="fifo-mapping"),
    pytest.param(Bad(("kpis", "--format", "xml"), r"invalid choice: 'xml'"), id="unknown-format"),
    pytest.param(Bad(("forecast", "--weeks", "0"), r"--weeks: 0 is out of range; use 1 to 104"), id="weeks-0"),
    pytest.param(Bad(("forecast", "--weeks", "-1"), r"--weeks: -1 is out of range"), id="weeks-negative"),
    pytest.param(Bad(("forecast", "--weeks", "100000"), r"--weeks: 100000 is out of range"), id="weeks-100000"),
    pytest.param(Bad(("forecast", "--weeks", "many"), r"'many' is not a whole number"), id="weeks-word"),
    pytest.param(Bad(("insights", "--week", "2025-W99"), r"'2025-W99' is not a week"), id="week-99"),
    pytest.param(Bad(("report", "--week", "1900-W01", "--format", "md", "--out", "r.md"),
                     r"'1900-W01' is outside the weeks a review can cover \(2000-W01 to"), id="week-1900"),
    pytest.param(Bad(("report", "--week", "9999-W01", "--format", "md", "--out", "r.md"), r"outside the weeks"),
                 id="week-9999"),
    pytest.param(Bad(("status", "--user", "mallory"), r"user 'mallory' is not declared"), id="unknown-user"),
    pytest.param(Bad(("kpis", "--kpi", "happiness"), r"unknown KPI\(s\): happiness"), id="unknown-kpi"),
    pytest.param(Bad(("kpis", "--client", "acmee"), r"client 'acmee' is not declared in bpo.toml; declared: acme, globex, initech"),
                 id="unknown-client"),
    pytest.param(Bad(("report", "--vendor", "nw", "--format", "md", "--out", "r.md"),
                     r"vendor 'nw' is not declared in bpo.toml; declared: "), id="unknown-vendor"),
    pytest.param(Bad(("kpis", "--from", "2026-02-30"), r"'2026-02-30' is not a date"), id="impossible-date"),
    pytest.param(Bad(("report", "--format", "md", "--out", "folder"), r"folder: it is a folder"), id="out-is-folder"),
    pytest.param(Bad(("report", "--format", "md", "--out", "empty.csv/r.md"), r"folder empty.csv does not exist"),
                 id="out-under-a-file"),
    pytest.param(Bad(("dashboard", "--port", "70000"), r"--port: 70000 is out of range"), id="port"),
    pytest.param(Bad(("sample", "--out", "s", "--weeks", "0"), r"--weeks: 0 is out of range"), id="sample-weeks"),
    pytest.param(Bad(("sample", "--out", "s", "--scale", "-1"), r"--scale: -1 is out of range"), id="sample-scale"),
    pytest.param(Bad(("sample", "--out", "empty.csv"), r"empty.csv.*Not a directory; check the path"), id="sample-into-a-file"),
]
NO_WORKSPACE = {"sample", "staffing"}


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A folder with the tiny workspace (ws/) and the bad files, the FIFO and a folder beside it."""
    root = tmp_path_factory.mktemp("bad")
    tiny.build(root / "ws")
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    (root / "folder").mkdir()
    os.mkfifo(root / "pipe.csv")
    return root


def run(place: Path, *args: str) -> subprocess.CompletedProcess:
    ws = () if args[0] in NO_WORKSPACE else ("--workspace", "ws")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "insights.cli", args[0], *ws, *args[1:]], cwd=place, env=env,
                          capture_output=True, text=True, timeout=SECONDS, stdin=subprocess.DEVNULL)


@pytest.mark.slow  # one CLI process per case: ~2 s each on a busy machine
@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_paragraph_that_says_what_to_do(place, case: Bad):
    res = run(place, *case.args)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, res.stderr
    message = res.stderr.strip()
    assert "error" in message and "\n\n" not in message, message
    assert __import__("re").search(case.message, message), message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: permissions cannot be tested")
def test_an_unreadable_file_says_so(place):
    locked = place / "locked.csv"
    locked.write_text("ticket_id\n1\n")
    locked.chmod(0)
    res = run(place, "import", "locked.csv", "--preset", "canonical")
    assert res.returncode == 2 and "locked.csv: permission denied" in res.stderr and "Traceback" not in res.stderr


def test_the_forecast_bound_is_the_librarys():
    from insights.analyses.forecast import MAX_WEEKS_AHEAD

    assert cli.MAX_FORECAST_WEEKS == MAX_WEEKS_AHEAD


def test_a_bug_is_still_reported_as_one_with_its_traceback(monkeypatch, capsys, place):
    """Only bad input is exit 2: an unexpected exception says 'internal error' and keeps its traceback (exit 1)."""
    def broken(args):
        raise KeyError("a bug")
    monkeypatch.setattr(cli, "cmd_status", broken)
    assert cli.main(["status", "--workspace", str(place / "ws")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error (KeyError: 'a bug'); please report it" in err
