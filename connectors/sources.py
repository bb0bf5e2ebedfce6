"""Sources from bpo.toml: `[[source]]` tables checked (every problem at once) and turned into Sources.

```toml
[[source]]
name = "acme-zendesk"
kind = "zendesk"                 # zendesk | freshdesk | intercom | gorgias | sql   (files: use `bpo-insights import`)
subdomain = "acme"               # or base_url = "http://127.0.0.1:8123"
email = "ops@acme.example"
token_env = "ACME_ZENDESK_TOKEN" # the secret stays in the environment
start = "2025-01-01"             # first sync's start
client = "acme"                  # tenant keys of its rows ...
vendor = "northwind"
site = "nw-manila"               # optional when the vendor has one site
[[source.tenants]]               # ... or rules by group / brand / tag / queue (first match wins)
group = "360001"
vendor = "southpeak"
site = "sp-austin"
```
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from connectors.base import Source, to_utc
from connectors.errors import ConfigError
from connectors.vendors import SOURCES
from connectors.store import Config, Workspace
from connectors.store.config import MATCH_KEYS, TENANT_KEYS

API_KINDS = tuple(SOURCES)
KINDS = (*API_KINDS, "sql")
DEFAULT_LOOKBACK_MINUTES = 10
DEFAULT_BATCH_ROWS = 5000


@dataclass(frozen=True)
class TenantRules:
    """Tenant keys for a source's rows: source-level defaults, overridden by the first matching rule."""

    default: dict[str, str | None]
    rules: tuple[tuple[dict[str, str], dict[str, str | None]], ...] = ()

    def assign(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add client_id, vendor_id, site_id (null where nothing applies: the engine rejects those rows)."""
        out = []
        for key in TENANT_KEYS:
            e = pl.lit(self.default.get(key), pl.String)
            for match, tenant in reversed(self.rules):
                if tenant.get(key) is None:
                    continue
                cond = pl.lit(True)
                for mk, mv in match.items():
                    cond = cond & _match_expr(frame, mk, mv)
                e = pl.when(cond).then(pl.lit(tenant[key], pl.String)).otherwise(e)
            out.append(e.alias(f"{key}_id"))
        return frame.with_columns(out)


def _match_expr(frame: pl.DataFrame, key: str, value: str) -> pl.Expr:
    col = {"group": "_group", "brand": "_brand", "tag": "_tags", "queue": "queue"}[key]
    if col not in frame.columns:
        return pl.lit(False)
    if key == "tag":
        return pl.col(col).fill_null("").str.split(" ").list.contains(value)
    return (pl.col(col) == value).fill_null(False)


@dataclass
class SourceSpec:
    """A checked `[[source]]`: everything needed to open the source and run the engine over it."""

    name: str
    kind: str
    settings: dict[str, Any]
    tenants: TenantRules
    start: datetime
    lookback: timedelta
    batch_rows: int
    secrets: list[str] = field(default_factory=list)
    _hasher: Callable[[str], str] | None = None

    def open(self) -> Source:
        """Build the Source; reads the secret from the environment now (missing → ConfigError, exit 2)."""
        if self.kind in API_KINDS:
            return self._open_api()
        from connectors.sql import open_sql_source

        password = self._secret("password_env") if self.settings.get("password_env") else None
        return open_sql_source(self.name, self.settings, password=password, batch_rows=self.batch_rows)

    def _secret(self, key: str) -> str:
        env = self.settings[key]
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{self.name}: the environment variable ${env} is not set; export it with the "
                              f"{'API token' if key == 'token_env' else 'database password'} (never put it in bpo.toml)")
        self.secrets.append(value)
        return value

    def _open_api(self) -> Source:
        from connectors.http import HttpClient, RetryPolicy

        vendor = SOURCES[self.kind]
        token = self._secret("token_env")
        auth = vendor.auth_header(self.settings, token)
        self.secrets.append(auth.split(" ", 1)[1])
        s = self.settings
        policy = RetryPolicy(
            attempts=int(s.get("max_retries", 5)) + 1, budget=int(s.get("retry_budget", 60)),
            backoff=float(s.get("backoff_seconds", 0.5)), timeout=float(s.get("timeout_seconds", 30)),
            max_wait=float(s.get("max_wait_seconds", 300)))
        headers = {"Authorization": auth, **vendor.extra_headers(s)}
        url = vendor.base_url(s)
        if url is None:  # the [[source]] checks ask for an address first; a hand-built spec may still lack one
            raise ConfigError(f"{self.name}: no address for this {self.kind} source; set 'base_url'")
        client = HttpClient(url, self.name, s["token_env"], headers=headers,
                            policy=policy, secrets=tuple(self.secrets))
        page_size = int(s["page_size"]) if s.get("page_size") else None
        return vendor.build(self.name, client, s, page_size)

    def hasher(self, ws: Workspace) -> Callable[[str], str]:
        """The workspace's keyed requester hash."""
        if self._hasher is None:
            from connectors.hashing import hash_value, workspace_key

            key = workspace_key(ws.path)
            self._hasher = lambda v: hash_value(v, key)
        return self._hasher

    def scrub(self, text: str) -> str:
        """Remove every secret this source read from a message, in every encoding (`connectors.redact.scrub`)."""
        from connectors.redact import scrub

        return scrub(text, self.secrets)


def build_sources(ws: Workspace, name: str | None = None) -> list[SourceSpec]:
    """The checked sources to sync (all API/SQL ones, or the one named); every problem in one ConfigError."""
    cfg = ws.config
    entries = list(cfg.sources)
    names = [e.get("name") for e in entries]
    if name is not None:
        entries = [e for e in entries if e.get("name") == name]
        if not entries:
            known = ", ".join(n for n in names if n) or "none"
            raise ConfigError(f"{ws.path / 'bpo.toml'}: no [[source]] named '{name}' (declared: {known})")
        if entries[0].get("kind") == "files":
            raise ConfigError(f"source '{name}' is of kind 'files': load it with 'bpo-insights import'")
    else:
        entries = [e for e in entries if e.get("kind") != "files"]
    problems: list[str] = []  # duplicate names, unknown keys and tenant ids: refused when bpo.toml was read
    specs = []
    for i, entry in enumerate(entries):
        spec = _check(cfg, entry, i, problems)
        if spec is not None:
            specs.append(spec)
    if problems:
        raise ConfigError(f"{ws.path / 'bpo.toml'}: " + "; ".join(problems))
    return specs


def source_problems(cfg: Config, skip: Collection[int] = ()) -> list[str]:
    """What each API/SQL `[[source]]` (by index, but those in `skip`) still lacks: addresses, tokens, dates, sites."""
    problems: list[str] = []
    for i, entry in enumerate(cfg.sources):
        if i not in skip and entry.get("kind") in KINDS:
            _check(cfg, entry, i, problems)
    return problems


def _check(cfg: Config, e: dict, i: int, problems: list[str]) -> SourceSpec | None:
    name = e.get("name")
    where = f"[[source]] '{name}'" if name else f"[[source]] #{i + 1}"
    n0 = len(problems)
    if not name:
        problems.append(f"{where}: 'name' is missing")
    kind = e.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}: kind '{kind}' is not one of {', '.join(KINDS)}" if kind else
                        f"{where}: 'kind' is missing (one of {', '.join(KINDS)})")
        return None
    # unknown keys, their types and tenant ids were checked when bpo.toml was read (connectors/store/config.py)
    if kind in API_KINDS and not e.get("token_env"):
        problems.append(f"{where}: 'token_env' is missing: name the environment variable holding the API token")
    if kind in SOURCES:
        problems.extend(f"{where}: {problem}" for problem in SOURCES[kind].check(e))
    if kind == "sql":
        if not e.get("url"):
            problems.append(f"{where}: 'url' is missing (a SQLAlchemy URL such as postgresql+psycopg://user@host/db)")
        elif ":" in str(e["url"]).split("@")[0].split("//")[-1]:
            problems.append(f"{where}: 'url' holds a password; remove it and set password_env to the variable holding it")
        if not (e.get("preset") or e.get("table") or e.get("query")):
            problems.append(f"{where}: set 'preset' (chatwoot, zammad, osticket, freescout) or 'table'/'query'")
        if e.get("preset"):
            from connectors.sql import preset_names

            if e["preset"] not in preset_names():
                problems.append(f"{where}: preset '{e['preset']}' is not one of {', '.join(preset_names())}")
        for key in ("timezone",):
            if e.get(key):
                try:
                    from zoneinfo import ZoneInfo

                    ZoneInfo(e[key])
                except Exception:  # noqa: BLE001 - any failure means "not a zone"
                    problems.append(f"{where}: timezone '{e[key]}' is not an IANA zone (e.g. Europe/Warsaw)")
    start = datetime.now(timezone.utc) - timedelta(days=365)
    if e.get("start") is not None:
        try:
            start = to_utc(e["start"])
        except (TypeError, ValueError):
            problems.append(f"{where}: start '{e['start']}' is not a date (YYYY-MM-DD or an ISO timestamp)")
    numbers = {"lookback_minutes": DEFAULT_LOOKBACK_MINUTES, "batch_rows": DEFAULT_BATCH_ROWS}
    values = {}
    for key, default in numbers.items():
        v = e.get(key, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < (1 if key == "batch_rows" else 0):
            problems.append(f"{where}: '{key}' must be a non-negative number, got {v!r}")
            v = default
        values[key] = v
    tenants = _tenants(cfg, e, where, problems)
    if len(problems) > n0:
        return None
    return SourceSpec(name=name, kind=kind, settings=dict(e), tenants=tenants, start=start,
                      lookback=timedelta(minutes=values["lookback_minutes"]), batch_rows=int(values["batch_rows"]))


def _tenants(cfg: Config, e: dict, where: str, problems: list[str]) -> TenantRules:
    """The source's tenant rules (their keys and ids were checked when bpo.toml was read)."""

    def check(t: dict[str, Any], at: str) -> dict[str, str | None]:
        return {k: (str(t[k]) if t.get(k) is not None else None) for k in TENANT_KEYS}

    default = check(e, where)
    raw_rules = e.get("tenants") or []
    if isinstance(raw_rules, dict):
        raw_rules = [raw_rules]
    rules = []
    for j, r in enumerate(raw_rules):
        at = f"{where} tenants rule #{j + 1}"
        if not isinstance(r, dict):
            problems.append(f"{at}: must be a table with one of {', '.join(MATCH_KEYS)} and client/vendor/site")
            continue
        match = {k: str(r[k]) for k in MATCH_KEYS if r.get(k) is not None}
        if not match:
            problems.append(f"{at}: give one of {', '.join(MATCH_KEYS)} to match rows on")
        tenant = check(r, at)
        _default_site(cfg, tenant, default)
        rules.append((match, tenant))
    _default_site(cfg, default, None)
    if not raw_rules:
        missing = [k for k in TENANT_KEYS if default[k] is None]
        if missing:
            hint = ""
            if "site" in missing and default.get("vendor"):
                sites = [s.get("id") for s in cfg.sites if s.get("vendor") == default["vendor"]]
                hint = f" (vendor '{default['vendor']}' has sites {', '.join(sites)})" if sites else ""
            problems.append(f"{where}: set {', '.join(missing)} for its rows{hint}, or add [[source.tenants]] rules")
    return TenantRules(default, tuple(rules))


def _default_site(cfg: Config, tenant: dict[str, str | None], fallback: dict[str, str | None] | None) -> None:
    """A vendor with exactly one site in bpo.toml needs no explicit site."""
    if tenant.get("site") is not None:
        return
    vendor = tenant.get("vendor") or (fallback or {}).get("vendor")
    sites = [s.get("id") for s in cfg.sites if s.get("vendor") == vendor]
    if len(sites) == 1 and (fallback is None or tenant.get("vendor") is not None):
        tenant["site"] = sites[0]
