"""Keyed hashing of requester ids: HMAC-SHA256, truncated, with a per-workspace secret key.

The raw id or email never reaches the store; the same requester hashes to the same value within a
workspace (so repeat contacts across channels can be counted), and nobody without the key can
test a guessed email against the hash.  The key lives in `<workspace>/hash.key` (mode 0600),
created on first use (written aside, then linked into place, so a crash never leaves it half-written).
An existing key that is empty, unreadable or not 64 hex digits stops the import: hashing with a
different key would silently split every requester in two (repeat contacts across the change would
no longer be linked).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import polars as pl

from connectors.errors import WorkspaceError

KEY_FILE = "hash.key"
HASH_HEX_CHARS = 32  # 128 bits: collisions are negligible at any ticket volume


def workspace_key(workspace: Path) -> bytes:
    """The workspace's hashing key, created (0600, never overwritten) on first use; a damaged one raises."""
    path = Path(workspace) / KEY_FILE
    if not path.exists():
        _create_key(path)
    fix = (f"restore {path} from a backup of the workspace folder (the same key keeps hashes comparable); only if "
           f"it is lost for good, delete it and a new key is made (requesters then hash differently from before)")
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise WorkspaceError(f"{path} cannot be read ({getattr(e, 'strerror', None) or type(e).__name__}); nothing "
                             f"was imported: fix its permissions or {fix}") from None
    if not text:
        raise WorkspaceError(f"{path} is empty; nothing was imported: {fix}")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise WorkspaceError(f"{path} does not hold a key (64 hex digits expected); nothing was imported: {fix}")
    return key


def _create_key(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:  # another import created it meanwhile: use theirs
        pass
    finally:
        tmp.unlink(missing_ok=True)


PSEUDONYMISED = frozenset({"agent_id"})  # hashed too when [settings] pseudonymise_agents = true


def hashed_columns(settings: dict) -> frozenset[str]:
    """Canonical columns hashed on the way in: requester ids always, agent ids when the workspace says so."""
    return frozenset({"requester_hash"}) | (PSEUDONYMISED if settings.get("pseudonymise_agents") is True else frozenset())


def hash_value(value: str, key: bytes) -> str:
    """HMAC-SHA256 of the normalised value (trimmed, lower case), hex, truncated."""
    digest = hmac.new(key, value.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:HASH_HEX_CHARS]


def hash_series(s: pl.Series, key: bytes, cache: dict[str, str] | None = None) -> pl.Series:
    """Hash every non-null value of a column (each distinct value once).

    `cache` (value -> hash, kept by the caller across batches of one file) saves hashing a value again; it is
    emptied when it passes CACHE_VALUES, so it never holds more than that."""
    text = s.cast(pl.String)
    distinct = text.drop_nulls().unique().to_list()
    if cache is None:
        table = dict(zip(distinct, (hash_value(v, key) for v in distinct)))
    else:
        if len(cache) + len(distinct) > CACHE_VALUES:
            cache.clear()
        table = {}
        for v in distinct:
            h = cache.get(v)
            if h is None:
                h = cache[v] = hash_value(v, key)
            table[v] = h
    return text.replace_strict(table, default=None, return_dtype=pl.String).alias(s.name)


CACHE_VALUES = 400_000  # distinct values a hash cache keeps (~60 MB)
