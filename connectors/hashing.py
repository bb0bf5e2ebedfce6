"""Keyed hashing of requester ids: HMAC-SHA256, truncated, with a per-workspace secret key.

The raw id or email never reaches the store; the same requester hashes to the same value within a
workspace (so repeat contacts across channels can be counted), and nobody without the key can
test a guessed email against the hash.  The key lives in `<workspace>/hash.key` (mode 0600),
created on first use; losing it only means new imports hash the same people differently.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import polars as pl

KEY_FILE = "hash.key"
HASH_HEX_CHARS = 32  # 128 bits: collisions are negligible at any ticket volume


def workspace_key(workspace: Path) -> bytes:
    """The workspace's hashing key, created (0600, never overwritten) on first use."""
    path = Path(workspace) / KEY_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another import created it meanwhile
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def hash_value(value: str, key: bytes) -> str:
    """HMAC-SHA256 of the normalised value (trimmed, lower case), hex, truncated."""
    digest = hmac.new(key, value.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:HASH_HEX_CHARS]


def hash_series(s: pl.Series, key: bytes) -> pl.Series:
    """Hash every non-null value of a column (each distinct value once)."""
    text = s.cast(pl.String)
    distinct = text.drop_nulls().unique()
    table = dict(zip(distinct.to_list(), (hash_value(v, key) for v in distinct.to_list())))
    return text.replace_strict(table, default=None, return_dtype=pl.String).alias(s.name)
