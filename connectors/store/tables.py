"""Parquet tables on disk: manifests, partitions and atomic writes."""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from connectors.errors import StoreDamaged

if TYPE_CHECKING:
    import sqlalchemy as sa

DEFAULT_WORKSPACE = "workspace"
MANIFEST = "_manifest.json"
UNPARTITIONED = "all"


def pq_rows(path: str) -> int:
    return pl.scan_parquet(path).select(pl.len()).collect().item()


def _pl_type(c: sa.Column) -> Any:
    import sqlalchemy as sa  # the metadata database's columns only: reading tables never loads SQLAlchemy

    t = c.type
    if isinstance(t, sa.Integer):
        return pl.Int64
    if isinstance(t, sa.DateTime):
        return pl.Datetime("us", "UTC")
    return pl.String


def _partition_expr(spec) -> pl.Expr:
    if spec.time_column is None:
        return pl.lit(UNPARTITIONED)
    return pl.col(spec.time_column).dt.strftime("%Y-%m").fill_null("unknown")


def _part_dir(part: str) -> str:
    return UNPARTITIONED if part == UNPARTITIONED else f"month={part}"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    crash_point("manifest-tmp")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- manifests
#
# A table is the set of files its `_manifest.json` lists ("files": partition -> file).  Files a newer
# manifest no longer lists are "retired" (file -> retirement time, epoch seconds): they stay on disk for
# RETIRE_AFTER_SECONDS so a reader that resolved the previous manifest can still read its snapshot, and
# are deleted by the first write after that.  Files neither listed nor retired were left by a writer that
# died before its manifest swap; the next writer removes them.

RETIRE_AFTER_SECONDS = 300.0  # longer than any one read (a review builds in seconds); bounds the disk a long sync holds
CRASH_HOOK = "BPO_STORE_CRASH_AT"  # testing hook: the writer os._exit()s at the named step (see crash_point)


def crash_point(step: str) -> None:
    """Fault injection for the store's tests: die like kill -9 at `step` when $BPO_STORE_CRASH_AT names it."""
    if os.environ.get(CRASH_HOOK) == step:
        os._exit(137)


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The committed version of one table: its live files by partition, and retired files awaiting deletion."""

    files: dict[str, str]
    retired: dict[str, float]
    aggregates: dict[str, Any] | None = None  # the daily aggregates of the partitions (connectors/store/aggregates.py)
    windows: dict[str, Any] | None = None  # window columns every row file holds (connectors/store/windows.py)

    @property
    def aggregate_files(self) -> set[str]:
        return set((self.aggregates or {}).get("files", {}).values())


def repair_hint(workspace: Path) -> str:
    return f"bpo-insights store repair --workspace {workspace}"


def part_files(tdir: Path) -> list[Path]:
    """Every complete part file in a table folder, listed or not."""
    return sorted(tdir.glob("*/part-*.parquet"))


def read_manifest(tdir: Path, table: str, workspace: Path) -> Manifest:
    """The table's manifest, checked: a missing one over existing files, bad JSON, or a listed file that is
    gone all raise `StoreDamaged` (nothing is changed; the message names the repair)."""
    m = tdir / MANIFEST
    rel = f"tables/{table}/{MANIFEST}"
    try:
        text = m.read_text(encoding="utf-8")
    except FileNotFoundError:
        found = part_files(tdir)
        if found:
            raise StoreDamaged(
                f"{workspace / rel} is missing but {len(found)} data file(s) of '{table}' are there; nothing was "
                f"changed. Rebuild the manifest from those files with '{repair_hint(workspace)}' (it merges them, "
                f"keeping the newest version of each row, and deletes nothing), then run the command again") from None
        return Manifest(files={}, retired={})
    except OSError as e:
        raise StoreDamaged(f"{workspace / rel} cannot be read ({e.strerror}); check the folder's permissions") from None
    try:
        raw = json.loads(text)
        files = raw["files"]
        retired = raw.get("retired", {})
        if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
                and isinstance(retired, dict)):
            raise ValueError("'files' must map partitions to file names")
        retired = {str(k): float(v) for k, v in retired.items()}
        aggregates = raw.get("aggregates")
        if aggregates is not None and not (isinstance(aggregates, dict) and isinstance(aggregates.get("files", {}), dict)):
            raise ValueError("'aggregates' must hold 'files' by partition")
        windows = raw.get("windows")
        if windows is not None and not (isinstance(windows, dict) and isinstance(windows.get("spec"), dict)):
            raise ValueError("'windows' must hold a 'spec'")
    except (ValueError, KeyError, TypeError) as e:
        raise StoreDamaged(
            f"{workspace / rel} is corrupt ({type(e).__name__}: {str(e)[:80]}); nothing was changed. Rebuild it from "
            f"the table's files with '{repair_hint(workspace)}'") from None
    gone = [f for f in (aggregates or {}).get("files", {}).values() if not (tdir / f).is_file()]
    if aggregates is not None and gone:  # the rows are whole: only the aggregates need rebuilding
        aggregates = {**aggregates, "files": {}, "stale": f"{len(gone)} aggregate file(s) are gone ({gone[0]})"}
    missing = [f for f in files.values() if not (tdir / f).is_file()]
    if missing:
        raise StoreDamaged(
            f"{workspace / rel} lists {len(missing)} file(s) that are gone ({', '.join(missing[:3])}); nothing was "
            f"changed. Put them back from a backup of the workspace folder, or rebuild the manifest from the files "
            f"that are there with '{repair_hint(workspace)}' (rows only the lost files held must then be imported "
            f"or synced again)")
    return Manifest(files=dict(files), retired=retired, aggregates=aggregates, windows=windows)


def write_manifest(tdir: Path, table: str, manifest: Manifest) -> None:
    body: dict[str, Any] = {"table": table, "files": dict(sorted(manifest.files.items())),
            "retired": dict(sorted(manifest.retired.items()))}
    if manifest.aggregates is not None:
        body["aggregates"] = manifest.aggregates
    if manifest.windows is not None:
        body["windows"] = manifest.windows
    _atomic_write(tdir / MANIFEST, json.dumps(body, indent=1).encode())


def retire(old: Manifest, new_files: dict[str, str], now: float, grace: float,
           aggregates: dict[str, Any] | None = None, windows: dict[str, Any] | None = None) -> Manifest:
    """The next manifest: `new_files` (and `aggregates`, the next aggregates section; `windows`, the window columns
    the files hold) live; files the old one listed and the new one drops retire now; retired files past their grace
    period are dropped from the list (and so deleted by the next clean-up)."""
    new = Manifest(files=new_files, retired={}, aggregates=aggregates, windows=windows)
    live = set(new_files.values()) | new.aggregate_files
    retired = {f: t for f, t in old.retired.items() if now - t < grace and f not in live}
    for f in [*old.files.values(), *old.aggregate_files]:
        if f not in live:
            retired.setdefault(f, now)
    return Manifest(files=new_files, retired=retired, aggregates=aggregates, windows=windows)


def collect_garbage(tdir: Path, manifest: Manifest, now: float, grace: float) -> None:
    """Delete files no reader can hold: crash leftovers (never listed) and files retired longer than `grace`.
    Call only under the table lock (no writer is half-way)."""
    keep = (set(manifest.files.values()) | manifest.aggregate_files
            | {f for f, t in manifest.retired.items() if now - t < grace})
    for p in list(tdir.glob("*/part-*")) + list(tdir.glob("*/agg-*")) + list(tdir.glob("*.tmp")):
        if p.relative_to(tdir).as_posix() not in keep:
            p.unlink(missing_ok=True)
    for d in tdir.glob("*/"):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


_CHECKED: dict[tuple[str, int], bool] = {}


def check_part(path: Path, workspace: Path, table: str) -> None:
    """A listed file must be whole Parquet (footer readable); a truncated or foreign one raises `StoreDamaged`."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise StoreDamaged(f"{path} vanished while being read; run the command again (a writer replaced it)") from None
    if _CHECKED.get((str(path), size)):
        return
    try:
        pl.read_parquet_schema(path)
    except Exception as e:  # noqa: BLE001 - polars raises several kinds for a damaged file
        raise StoreDamaged(
            f"{path} is damaged ({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else 'unreadable'}); "
            f"the table '{table}' cannot be read. Restore that file from a backup of the workspace folder; or move it "
            f"out of the folder and run '{repair_hint(workspace)}' (rows only that file held must then be imported or "
            f"synced again)") from None
    if len(_CHECKED) > 100_000:  # files are immutable and uniquely named: forgetting old ones only costs a re-check
        _CHECKED.clear()
    _CHECKED[(str(path), size)] = True
