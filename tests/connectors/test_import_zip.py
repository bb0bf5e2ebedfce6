""".zip exports: the tables inside are imported like files; zip bombs, nested archives and non-tables are refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from connectors import files
from connectors.errors import ImportFileError
from connectors.files import expand_archives, read_file
from connectors.store import Scope, Workspace
from insights.cli import main
from sample_data.operation import bpo_toml

HEADER = "ticket_id,client_id,vendor_id,site_id,channel,created_at,resolved_at\n"
WEEK1 = HEADER + ("T1,acme,northwind,nw-manila,email,2025-03-03T08:00:00Z,2025-03-03T10:30:00Z\n"
                  "T2,acme,northwind,nw-manila,voice,2025-03-04T09:15:00Z,\n")
WEEK2 = HEADER + "T3,acme,northwind,nw-manila,chat,2025-03-10T11:00:00Z,2025-03-10T11:20:00Z\n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("t"))


def make_zip(path: Path, members: dict[str, bytes | str], *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def run_import(ws: Workspace, capsys, *paths: Path) -> tuple[int, str, str]:
    code = main(["import", *map(str, paths), "--preset", "canonical", "--workspace", str(ws.path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def ticket_ids(ws: Workspace) -> list[str]:
    return sorted(Workspace.open(ws.path).scan("tickets", Scope.everything()).collect()["ticket_id"].to_list())


def test_a_zip_holding_one_csv_imports_it(ws, tmp_path, capsys):
    archive = make_zip(tmp_path / "export.zip", {"tickets.csv": WEEK1})
    code, out, err = run_import(ws, capsys, archive)
    assert code == 0, err
    assert "tickets.csv -> tickets: 2 rows read, 2 inserted" in out
    assert ticket_ids(ws) == ["T1", "T2"]
    assert ws.import_history(limit=1)["source"][0] == str(archive / "tickets.csv")  # the log names archive and member


def test_a_zip_of_several_files_of_one_table_imports_each(ws, tmp_path, capsys):
    archive = make_zip(tmp_path / "export.zip", {"export/week1.csv": WEEK1, "export/week2.csv": WEEK2,
                                                 "__MACOSX/export/._week1.csv": b"\x00\x05\x16\x07", ".DS_Store": b"\x00"})
    code, out, err = run_import(ws, capsys, archive)
    assert code == 0, err
    assert "week1.csv -> tickets: 2 rows read" in out and "week2.csv -> tickets: 1 rows read" in out
    assert ticket_ids(ws) == ["T1", "T2", "T3"]


def test_a_zip_holding_a_workbook_imports_it(ws, tmp_path, capsys):
    book = openpyxl.Workbook()
    for line in WEEK1.splitlines():
        book.active.append([v or None for v in line.split(",")])
    book.save(tmp_path / "tickets.xlsx")
    archive = make_zip(tmp_path / "export.zip", {"tickets.xlsx": (tmp_path / "tickets.xlsx").read_bytes()})
    code, out, err = run_import(ws, capsys, archive)
    assert code == 0, err
    assert ticket_ids(ws) == ["T1", "T2"]


def test_a_bad_row_inside_a_zip_is_named_by_member_and_row(ws, tmp_path, capsys):
    archive = make_zip(tmp_path / "export.zip", {"tickets.csv": WEEK1.replace("2025-03-04T09:15:00Z", "yesterday")})
    code, _, err = run_import(ws, capsys, archive)
    assert code == 2
    assert "tickets.csv row 3, column 'created_at': 'yesterday'" in err


def test_read_file_reads_a_single_member_zip_directly(tmp_path):
    raw = read_file(make_zip(tmp_path / "export.zip", {"tickets.csv": WEEK1}))
    assert raw.format == "csv" and raw.frame.height == 2 and raw.path.name == "tickets.csv"


@pytest.mark.parametrize(("members", "message"), [
    pytest.param({"inner.zip": b"PK\x03\x04"}, "holds an archive inside the archive (inner.zip)", id="nested-zip"),
    pytest.param({"t.csv": WEEK1, "notes.pdf": b"%PDF-1.4"}, "notes.pdf is not a table", id="not-a-table"),
    pytest.param({"folder/": b""}, "holds no files", id="empty"),
])
def test_archives_that_are_not_tables_are_refused_before_anything_is_imported(ws, tmp_path, capsys, members, message):
    good = tmp_path / "first.csv"
    good.write_text(WEEK2, encoding="utf-8")
    archive = make_zip(tmp_path / "export.zip", members)
    code, _, err = run_import(ws, capsys, good, archive)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert ticket_ids(ws) == []  # checked before the first file was imported


def test_a_zip_bomb_is_refused_by_its_unpacked_size(ws, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(files, "MAX_UNZIPPED_BYTES", 1_000_000)
    archive = make_zip(tmp_path / "bomb.zip", {"tickets.csv": HEADER + "x" * 5_000_000})
    assert archive.stat().st_size < 20_000  # 5 MB of text in a few kB
    code, _, err = run_import(ws, capsys, archive)
    assert code == 2
    assert "unpacks to 5,000,069 bytes, more than the 1,000,000" in err


def test_a_member_larger_than_its_header_claims_is_never_read_past_the_cap(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "liar.zip", {"tickets.csv": HEADER + "x" * 50_000}, method=zipfile.ZIP_STORED)
    monkeypatch.setattr(files, "MAX_UNZIPPED_BYTES", 10_000)
    monkeypatch.setattr(files, "_members", lambda path: ["tickets.csv"])  # as if the header said it was small
    with pytest.raises(ImportFileError, match="unpacks to more than 10,000 bytes although the archive says less"):
        read_file(archive / "tickets.csv")


def test_expand_archives_leaves_other_paths_alone(tmp_path):
    archive = make_zip(tmp_path / "export.zip", {"a.csv": WEEK1, "b.csv": WEEK2})
    plain = tmp_path / "c.csv"
    assert expand_archives([plain, archive]) == [plain, archive / "a.csv", archive / "b.csv"]
