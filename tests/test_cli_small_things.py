"""The small things of issue 13: presets in `import --help`, rejected rows counted as rows, quiet `| head`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.mapping import preset_summaries
from connectors.store import Workspace
from insights.cli import main
from sample_data.operation import bpo_toml

ROOT = Path(__file__).resolve().parents[1]


def test_import_help_lists_every_preset_with_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["import", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    listed = out.split("presets (--preset NAME):\n", 1)[1]
    for name, summary in preset_summaries().items():
        line = next(x for x in listed.splitlines() if x.split()[:1] == [name])
        assert line.endswith(summary) and len(summary) > 10, line
    assert "zendesk_tickets" in preset_summaries() and "Zendesk Support ticket export" in listed
    assert "  canonical " in listed and "  zendesk, freshdesk " in listed  # the short names, too


def test_the_import_summary_counts_rejected_rows_not_problems(tmp_path, capsys):
    ws = Workspace.create(tmp_path / "ws", bpo_toml("t"))
    header = "ticket_id,client_id,vendor_id,site_id,channel,created_at,replies"
    rows = ["T1,acme,northwind,nw-manila,email,2025-03-03T08:00:00Z,1",
            "T2,acme,northwind,nw-manila,email,not a date,many",  # one row, two problems
            "T3,acme,northwind,nw-manila,email,2025-03-04T08:00:00Z,x",
            "T4,acme,northwind,nw-manila,email,2025-03-05T08:00:00Z,2"]
    (tmp_path / "t.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    code = main(["import", str(tmp_path / "t.csv"), "--preset", "canonical", "--quarantine", "--workspace", str(ws.path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 inserted" in out and "2 rows rejected (3 problems)" in out
    assert main(["status", "--workspace", str(ws.path)]) == 0
    assert "rows rejected 2" in capsys.readouterr().out  # the import log counts rows too


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("piped") / "ws"
    assert main(["sample", "--out", str(out), "--weeks", "4", "--scale", "0.02"]) == 0
    return out


@pytest.mark.parametrize("argv", [
    pytest.param(["status"], id="status"),
    pytest.param(["staffing", "--calls", "100", "--aht", "300"], id="no-workspace"),
])
def test_output_piped_into_a_reader_that_stops_early_ends_quietly(sample_ws, argv):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` once it has its line: every write now fails with a broken pipe
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BPO_WORKSPACE": str(sample_ws)}
    done = subprocess.run([sys.executable, "-m", "insights.cli", *argv], stdout=write_end, stderr=subprocess.PIPE,
                          env=env, timeout=120, text=True)
    os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr, \
        done.stderr
    assert done.stderr == ""
    assert done.returncode in (0, 141)  # 141 = 128 + SIGPIPE, as a shell reports it
