"""Readers for tabular files: CSV, TSV, Excel (.xlsx), Parquet and JSON Lines, also inside a .zip export.

The format is decided by the file's content AND its extension: a PNG or a PDF renamed `.csv`,
or a JSON document named `.jsonl`, is refused with a message saying what the file really is.
Text is decoded here (UTF-8, UTF-8 with BOM, then cp1252), never by guessing per cell, and the
delimiter is sniffed from the header line.  Every reader returns all source columns plus
`__row`: the row number a spreadsheet would show (the header is row 1; JSON Lines count lines).

A `.zip` export is read member by member: `expand_archives` turns `export.zip` into one path per
table inside it (`export.zip/tickets.csv`), which `read_file` reads like any file.  An archive is
checked before anything is read: a nested archive, an encrypted member, a member that is not a table,
or more than MAX_UNZIPPED_BYTES unpacked (a zip bomb) is refused with the fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import uuid
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from connectors.errors import ImportFileError

Format = Literal["csv", "tsv", "xlsx", "parquet", "jsonl"]
ROW = "__row"

EXTENSIONS: dict[str, Format] = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
# magic bytes -> what the file really is (for the error message) and the format it can be read as
MAGIC: tuple[tuple[bytes, str, Format | None], ...] = (
    (b"PAR1", "a Parquet file", "parquet"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one)", "xlsx"),
    (b"\x89PNG", "a PNG image", None),
    (b"%PDF", "a PDF document", None),
    (b"\xff\xd8\xff", "a JPEG image", None),
    (b"GIF8", "a GIF image", None),
    (b"\x1f\x8b", "a gzip archive", None),
    (b"\xd0\xcf\x11\xe0", "a legacy Excel .xls / OLE file", None),
)
ARCHIVE = ".zip"
MAX_UNZIPPED_BYTES = 2 * 1024**3  # unpacked size of one archive (a 2 GB CSV is ~10M tickets); more is a zip bomb
MAX_MEMBERS = 1000
JUNK_MEMBERS = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")  # added by archivers, never tables
DELIMITERS = {",": "','", "\t": "tab", ";": "';'", "|": "'|'"}
EXPECTED_DELIMITER = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class RawFile:
    """A file read as-is: its frame (source columns + `__row`) and how it was read."""

    path: Path
    format: Format
    frame: pl.DataFrame
    content_hash: str
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def row_word(self) -> str:
        return "line" if self.format == "jsonl" else "row"


def read_file(path: Path, *, delimiter: str | None = None) -> RawFile:
    """Read one tabular file; raise ImportFileError naming the file and the fix when it cannot be.

    `delimiter` (from a mapping) overrides the one expected from the extension.

    >>> read_file(Path("tickets.csv")).frame.columns  # doctest: +SKIP
    ['Id', 'Subject', ..., '__row']
    """
    path = Path(path)
    if path.suffix.lower() == ARCHIVE:
        members = expand_archives([path])
        if len(members) > 1:
            raise ImportFileError(f"{path.name}: holds {len(members)} tables ({', '.join(m.name for m in members)}); "
                                  "read each one (connectors.files.expand_archives lists them; bpo-insights import "
                                  "imports them all)")
        path = members[0]
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    fmt = _detect_format(path, data)
    if fmt == "parquet":
        frame = _read_binary(path, lambda: pl.read_parquet(io.BytesIO(data)), "Parquet")
        return RawFile(path, fmt, _numbered(frame, first=2), digest)
    if fmt == "xlsx":
        frame = _read_binary(path, lambda: pl.read_excel(io.BytesIO(data), engine="calamine"), "Excel")
        return RawFile(path, fmt, _numbered(frame, first=2), digest)
    text, encoding = decode(path, data)
    if fmt == "jsonl":
        return RawFile(path, fmt, _read_jsonl(path, text), digest, encoding)
    sep = _choose_delimiter(path, text, fmt, delimiter)
    return RawFile(path, fmt, _read_delimited(path, text, sep), digest, encoding, sep)


def read_bytes(path: Path, *, error: type[Exception] = ImportFileError, what: str = "file") -> bytes:
    """The bytes of a regular file; `error` naming the path and the fix for a missing path, a folder, a pipe or
    device (refused before opening: reading a FIFO would wait forever) or a file that cannot be read."""
    inside = _archive_of(path)
    if inside is not None:
        return _read_member(*inside)
    _check_regular(path, error=error, what=what)
    try:
        return path.read_bytes()
    except PermissionError:
        raise error(f"{path}: permission denied; make the {what} readable (chmod u+r) or run as its owner") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror}); copy it to a local disk and try again") from None


def _check_regular(path: Path, *, error: type[Exception], what: str) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{path}: {what} not found; check the path") from None
    except OSError as e:
        raise error(f"{path}: cannot be opened ({e.strerror}); check the path") from None
    if stat.S_ISDIR(mode):
        hint = f"give the files inside it (e.g. {path}/*.csv)" if what == "file" else f"give the {what}'s path"
        raise error(f"{path}: is a folder, not a {what}; {hint}")
    if not stat.S_ISREG(mode):
        raise error(f"{path}: is not a regular file (a pipe, socket or device); save the data to a file and give "
                    f"that file's path")


def expand_archives(paths: list[Path]) -> list[Path]:
    """Each .zip replaced by the tables inside it (`export.zip/tickets.csv`, in archive order); other paths as given.

    Every archive is checked before any is read, so a bad one stops the import before anything is written.
    """
    out: list[Path] = []
    for path in map(Path, paths):
        if path.suffix.lower() != ARCHIVE or _archive_of(path) is not None:
            out.append(path)
            continue
        out += [path / name for name in _members(path)]
    return out


def _members(path: Path) -> list[str]:
    """The table members of one archive, after every check (a zip bomb, nesting, encryption, non-tables)."""
    _check_regular(path, error=ImportFileError, what="zip archive")  # a missing path, a folder, a pipe
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()
                     and not any(part in JUNK_MEMBERS for part in i.filename.split("/"))
                     and not i.filename.startswith(JUNK_MEMBERS[0])
                     and not i.filename.rsplit("/", 1)[-1].startswith("._")]
    except zipfile.BadZipFile:
        raise ImportFileError(f"{path.name}: not a zip archive (or a damaged one); download the export again") from None
    except PermissionError:
        raise ImportFileError(f"{path}: permission denied; make the zip archive readable (chmod u+r)") from None
    except OSError as e:
        raise ImportFileError(f"{path.name}: cannot be read as a zip archive ({e.strerror or e}); copy it to a local "
                              "disk and try again") from None
    if not infos:
        raise ImportFileError(f"{path.name}: the zip archive holds no files; download the export again")
    if len(infos) > MAX_MEMBERS:
        raise ImportFileError(f"{path.name}: holds {len(infos):,} files (at most {MAX_MEMBERS:,} are read from one "
                              "archive); unzip it and import the tables you need")
    nested = [i.filename for i in infos if i.filename.lower().endswith((ARCHIVE, ".gz", ".tgz", ".tar", ".7z", ".rar"))]
    if nested:
        raise ImportFileError(f"{path.name}: holds an archive inside the archive ({', '.join(nested[:5])}); nested "
                              "archives are not opened: unzip the outer one and import the tables inside")
    encrypted = [i.filename for i in infos if i.flag_bits & 0x1]
    if encrypted:
        raise ImportFileError(f"{path.name}: {', '.join(encrypted[:5])} is password-protected; unzip it with its "
                              "password and import the files inside")
    others = [i.filename for i in infos if Path(i.filename).suffix.lower() not in EXTENSIONS]
    if others:
        raise ImportFileError(f"{path.name}: {', '.join(others[:5])} is not a table (.csv, .tsv, .xlsx, .parquet or "
                              ".jsonl); unzip the archive and import the tables alone")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNZIPPED_BYTES:
        raise ImportFileError(f"{path.name}: unpacks to {unpacked:,} bytes, more than the {MAX_UNZIPPED_BYTES:,} read "
                              "from one archive (a zip bomb, or an export too big for one file); split the export "
                              "by date range")
    return [i.filename for i in infos]


def _archive_of(path: Path) -> tuple[Path, str] | None:
    """(archive, member) for a path inside a .zip (`export.zip/tickets.csv`), else None."""
    for parent in path.parents:
        if parent.suffix.lower() == ARCHIVE and parent.is_file():
            return parent, path.relative_to(parent).as_posix()
    return None


def _read_member(archive: Path, member: str) -> bytes:
    """One member's bytes, never more than MAX_UNZIPPED_BYTES whatever its header claims."""
    if member not in _members(archive):
        raise ImportFileError(f"{archive.name}: holds no table '{member}'; the tables are: "
                              f"{', '.join(_members(archive))}")
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
            data = fh.read(MAX_UNZIPPED_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:  # a damaged member: CRC, truncation, method
        raise ImportFileError(f"{archive.name}: {member} cannot be unpacked ({e}); download the export again") from None
    if len(data) > MAX_UNZIPPED_BYTES:
        raise ImportFileError(f"{archive.name}: {member} unpacks to more than {MAX_UNZIPPED_BYTES:,} bytes although "
                              "the archive says less (a zip bomb); nothing was read")
    return data


def _detect_format(path: Path, data: bytes) -> Format:
    ext = path.suffix.lower()
    declared = EXTENSIONS.get(ext)
    if declared is None:
        raise ImportFileError(
            f"{path.name}: unknown extension '{ext}'; use .csv, .tsv, .xlsx, .parquet or .jsonl (or a .zip of them)"
        )
    for magic, what, readable_as in MAGIC:
        if data.startswith(magic):
            if readable_as == declared:
                return declared
            raise ImportFileError(
                f"{path.name}: the extension says {declared.upper()} but the content is {what}, not a "
                f"{declared.upper()} table; export the data again as CSV, TSV, .xlsx, Parquet or JSON Lines"
            )
    if declared in ("parquet", "xlsx"):
        raise ImportFileError(
            f"{path.name}: the extension says {declared} but the file does not start like one "
            f"(it looks like text or is damaged); export it again or give it its real extension"
        )
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            f"{path.name}: binary content (NUL bytes) in a {declared.upper()} file; this is not a text table"
        )
    return declared


def decode(path: Path, data: bytes) -> tuple[str, str]:
    """Bytes -> text: UTF-16 (with BOM), UTF-8 (with or without BOM), then cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), ("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as first:
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            line = data[: first.start].count(b"\n") + 1
            bad = data[first.start : first.start + 1]
            raise ImportFileError(
                f"{path.name} row {line}: byte 0x{bad.hex()} at offset {first.start} is neither UTF-8 nor "
                f"Windows-1252 (cp1252) text; save the file as UTF-8 (Excel: 'CSV UTF-8') and import it again"
            ) from None


def _header_counts(text: str) -> dict[str, int]:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    counts: dict[str, int] = {}
    for sep in DELIMITERS:
        try:
            counts[sep] = len(next(csv.reader([header], delimiter=sep))) - 1
        except (csv.Error, StopIteration):
            counts[sep] = 0
    return counts


def _choose_delimiter(path: Path, text: str, fmt: Format, override: str | None) -> str:
    counts = _header_counts(text)
    sniffed = max(counts, key=lambda s: counts[s])
    expected = override or EXPECTED_DELIMITER[fmt]
    if path.suffix.lower() == ".txt" and override is None:
        return sniffed if counts[sniffed] else expected
    if counts.get(expected, 0) == 0 and counts[sniffed] > 0:
        raise ImportFileError(
            f"{path.name} row 1: the header looks like {DELIMITERS[sniffed]}-separated, not "
            f"{DELIMITERS.get(expected, repr(expected))}-separated; re-export it with "
            f"{DELIMITERS.get(expected, repr(expected))} as the separator, or set delimiter = "
            f"{json.dumps(sniffed)} under [mapping] in a mapping file"
        )
    return expected


def _read_delimited(path: Path, text: str, sep: str) -> pl.DataFrame:
    if not text.strip():
        raise ImportFileError(f"{path.name}: the file is empty; export the data again (with its header row)")
    try:
        frame = pl.read_csv(
            io.StringIO(text), separator=sep, infer_schema=False, quote_char='"',
            truncate_ragged_lines=False,
        )
    except pl.exceptions.ComputeError as e:
        raise ImportFileError(
            f"{path.name}: not a well-formed {DELIMITERS.get(sep, sep)}-separated table ({_first_line(e)}); "
            f"check for unbalanced quotes or rows with more fields than the header"
        ) from None
    except pl.exceptions.NoDataError:
        raise ImportFileError(f"{path.name}: the file is empty; export the data again (with its header row)") from None
    return _numbered(frame, first=2)


def _read_jsonl(path: Path, text: str) -> pl.DataFrame:
    stripped = text.lstrip()
    if not stripped:
        raise ImportFileError(f"{path.name}: the file is empty; export the data again")
    records: list[dict] = []
    rows: list[int] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            hint = ("it looks like one JSON document, not JSON Lines (one object per line); convert it with "
                    "`jq -c '.[]'` or save it as .json lines" if stripped[:1] in "[{" and n <= 2 else
                    "every line must be one complete JSON object")
            raise ImportFileError(f"{path.name} line {n}: not valid JSON ({e.msg}); {hint}") from None
        if not isinstance(obj, dict):
            raise ImportFileError(
                f"{path.name} line {n}: a JSON {type(obj).__name__}, not an object; JSON Lines needs one "
                f"object per line (convert an array with `jq -c '.[]'`)"
            )
        records.append({k: _flatten(v) for k, v in obj.items()})
        rows.append(n)
    frame = pl.DataFrame(records, infer_schema_length=None)
    return frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64))


def _flatten(value: object) -> object:
    """Lists become space-separated text (tags), objects JSON text: one scalar per cell."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _read_binary(path: Path, read, kind: str) -> pl.DataFrame:
    try:
        return read()
    except Exception as e:  # the engines raise many types for damaged files
        raise ImportFileError(f"{path.name}: cannot be read as {kind} ({_first_line(e)}); export it again") from None


def _numbered(frame: pl.DataFrame, *, first: int) -> pl.DataFrame:
    return frame.with_columns(pl.int_range(first, first + frame.height, dtype=pl.Int64).alias(ROW))


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# --------------------------------------------------------------------------- reading in batches

BATCH_ROWS_ENV = "BPO_IMPORT_BATCH_ROWS"
DEFAULT_BATCH_ROWS = 100_000  # ~20 MB of CSV text: the importer's memory grows with this, not with the file
_CHUNK = 1 << 22  # bytes read at a time while hashing, checking and transcoding a file


def batch_rows() -> int:
    """Rows the importer reads, checks and converts at a time: $BPO_IMPORT_BATCH_ROWS, else DEFAULT_BATCH_ROWS."""
    text = os.environ.get(BATCH_ROWS_ENV, "").strip()
    if not text:
        return DEFAULT_BATCH_ROWS
    if not text.isdigit() or int(text) < 1:
        raise ImportFileError(f"${BATCH_ROWS_ENV} = {text!r} is not a positive whole number of rows; unset it or set "
                              f"it to e.g. {DEFAULT_BATCH_ROWS}")
    return int(text)


@dataclass(frozen=True)
class BatchedFile:
    """A tabular file read a batch of rows at a time; `head` is a RawFile with its columns and no rows.

    CSV and TSV files on disk are streamed (hashed, checked and read in chunks; text that is not UTF-8 is
    transcoded to a UTF-8 copy in the importer's work folder first), so memory does not grow with the file.
    Other formats, and members of a .zip, are read whole by `read_file` and handed out in slices.
    """

    head: RawFile
    _csv: Path | None = None  # the UTF-8 text to stream, or None: `_whole` holds the rows
    _whole: pl.DataFrame | None = None

    def batches(self, rows: int | None) -> Generator[pl.DataFrame, None, None]:
        """Frames of at most `rows` rows (None: one frame), each with `__row` numbered across the whole file."""
        if self._whole is not None:
            step = rows or max(self._whole.height, 1)
            for start in range(0, max(self._whole.height, 1), step):
                yield self._whole.slice(start, step)
            return
        assert self._csv is not None and self.head.delimiter is not None
        yield from _csv_batches(self.head.path, self._csv, self.head.delimiter, rows)


def open_batched(path: Path, *, delimiter: str | None = None, workdir: Path) -> BatchedFile:
    """Open one tabular file for batch reading, with every check `read_file` makes on the whole file."""
    path = Path(path)
    if path.suffix.lower() == ARCHIVE or _archive_of(path) is not None or EXTENSIONS.get(path.suffix.lower()) not in ("csv", "tsv"):
        raw = read_file(path, delimiter=delimiter)
        return BatchedFile(head=RawFile(raw.path, raw.format, raw.frame.head(0), raw.content_hash, raw.encoding,
                                        raw.delimiter), _whole=raw.frame)
    _check_regular(path, error=ImportFileError, what="file")
    try:
        with open(path, "rb") as fh:
            first = fh.read(1 << 16)
    except PermissionError:
        raise ImportFileError(f"{path}: permission denied; make the file readable (chmod u+r) or run as its owner") from None
    except OSError as e:
        raise ImportFileError(f"{path}: cannot be read ({e.strerror}); copy it to a local disk and try again") from None
    fmt = _detect_format(path, first)
    digest, encoding, text_path = _probe_text(path, first, workdir)
    header = _first_text_line(text_path)
    sep = _choose_delimiter(path, header, fmt, delimiter)
    frame = _read_delimited(path, header + "\n", sep) if header.strip() else None
    if frame is None:
        raise ImportFileError(f"{path.name}: the file is empty; export the data again (with its header row)")
    return BatchedFile(head=RawFile(path, fmt, frame.head(0), digest, encoding, sep), _csv=text_path)


def _probe_text(path: Path, first: bytes, workdir: Path) -> tuple[str, str, Path]:
    """(sha256 of the bytes, the encoding `decode` would pick, a UTF-8 file holding the text) in one streamed pass.

    UTF-8 text (with or without BOM) is read where it is; UTF-16 and cp1252 text is transcoded into `workdir`.
    """
    import codecs

    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _transcode(path, "utf-16", workdir)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines, blank = 0, 0, True
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                where = offset + e.start
                with open(path, "rb") as again:
                    before = again.read(where)
                return _transcode(path, "cp1252", workdir, utf8_error=(where, before.count(b"\n") + 1,
                                                                        chunk[e.start:e.start + 1]))
            if blank and chunk.strip():
                blank = False
            lines += chunk.count(b"\n")
            offset += len(chunk)
        pending = decoder.getstate()[0]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            where = offset - len(pending) + e.start
            with open(path, "rb") as again:
                before = again.read(where)
                bad = again.read(1)
            return _transcode(path, "cp1252", workdir, utf8_error=(where, before.count(b"\n") + 1, bad))
    if blank:
        raise ImportFileError(f"{path.name}: the file is empty; export the data again (with its header row)")
    return digest.hexdigest(), ("utf-8-sig" if first.startswith(b"\xef\xbb\xbf") else "utf-8"), path


def _transcode(path: Path, encoding: str, workdir: Path,
               utf8_error: tuple[int, int, bytes] | None = None) -> tuple[str, str, Path]:
    """Write the file's text as UTF-8 into `workdir`; the error `decode` gives when it is not cp1252 either."""
    import codecs

    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"{uuid.uuid4().hex[:12]}.utf8.csv"
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)()
    blank = True
    try:
        with open(path, "rb") as fh, open(out, "w", encoding="utf-8", newline="") as dst:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                text = decoder.decode(chunk)
                blank = blank and not text.strip()
                dst.write(text)
            text = decoder.decode(b"", final=True)
            blank = blank and not text.strip()
            dst.write(text)
    except UnicodeDecodeError:
        out.unlink(missing_ok=True)
        where, line, bad = utf8_error or (0, 1, b"")
        raise ImportFileError(
            f"{path.name} row {line}: byte 0x{bad.hex()} at offset {where} is neither UTF-8 nor "
            f"Windows-1252 (cp1252) text; save the file as UTF-8 (Excel: 'CSV UTF-8') and import it again"
        ) from None
    if blank:
        raise ImportFileError(f"{path.name}: the file is empty; export the data again (with its header row)")
    return digest.hexdigest(), encoding, out


def _first_text_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        line = fh.readline(1 << 20)
    return line.lstrip("\ufeff").rstrip("\r\n")


def _csv_batches(shown: Path, text_path: Path, sep: str, rows: int | None) -> Generator[pl.DataFrame, None, None]:
    """The rows of a UTF-8 delimited file, `rows` at a time, numbered as a spreadsheet shows them (header = 1)."""
    lf = pl.scan_csv(text_path, separator=sep, infer_schema=False, quote_char='"', truncate_ragged_lines=False)
    first = 2
    try:
        if rows is None:
            parts: Iterator[pl.DataFrame] = iter([lf.collect()])
        else:
            parts = iter(lf.collect_batches(chunk_size=rows))
        for part in parts:
            if part.height == 0:
                continue
            yield _numbered(part, first=first)
            first += part.height
    except pl.exceptions.ComputeError as e:
        raise ImportFileError(
            f"{shown.name}: not a well-formed {DELIMITERS.get(sep, sep)}-separated table ({_first_line(e)}); "
            f"check for unbalanced quotes or rows with more fields than the header"
        ) from None
    except pl.exceptions.NoDataError:
        raise ImportFileError(f"{shown.name}: the file is empty; export the data again (with its header row)") from None
