"""Parquet tables on disk: manifests, partitions and atomic writes."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa


DEFAULT_WORKSPACE = "workspace"
MANIFEST = "_manifest.json"
UNPARTITIONED = "all"




def pq_rows(path: str) -> int:
    return pl.scan_parquet(path).select(pl.len()).collect().item()


def _pl_type(c: sa.Column) -> Any:
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
    os.replace(tmp, path)
