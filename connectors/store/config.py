"""bpo.toml: the workspace's tenants, users, sources, settings and FX rates, checked strictly (every problem at once)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import polars as pl

from connectors.errors import AccessDenied, ConfigError
from connectors.schema import Problem

from connectors.store.scope import Scope, User


FX_RATE_KEYS = ("currency", "rate", "from")


@dataclass(frozen=True, kw_only=True)
class FxRate:
    """One dated exchange rate from bpo.toml `[[fx_rate]]`: 1 `currency` = `rate` reporting-currency units from `valid_from` on."""

    currency: str
    rate: float
    valid_from: date


def rate_in_force(rates: Sequence[FxRate], currency: str, on: date) -> FxRate | None:
    """The `currency` rate with the latest `valid_from` on or before `on` (None when none is in force)."""
    live = [r for r in rates if r.currency == currency and r.valid_from <= on]
    return max(live, key=lambda r: r.valid_from) if live else None


def unconvertible(lines: pl.DataFrame, config: Config, *, shown: int = 5) -> list[Problem]:
    """Invoice lines with no currency, or in a currency with no `[[fx_rate]]` in force on their `period_start`."""
    if "currency" not in lines.columns or "period_start" not in lines.columns:
        return []
    pairs = lines.select("currency", pl.col("period_start").cast(pl.Date)).unique().drop_nulls("period_start")
    bad = {(c, d) for c, d in pairs.iter_rows()
           if c is None or (c != config.currency and rate_in_force(config.fx_rates, c, d) is None)}
    if not bad:
        return []
    at = lines.with_row_index("__row").filter(pl.struct("currency", pl.col("period_start").cast(pl.Date)).map_elements(
        lambda v: (v["currency"], v["period_start"]) in bad, return_dtype=pl.Boolean))
    out = []
    for row in at.head(shown).iter_rows(named=True):
        code, day = row["currency"], row["period_start"]
        out.append(Problem("cost_invoices", "currency", f"no currency; fill it ({config.currency} or the code billed)"
                           if code is None else f"{code} has no [[fx_rate]] in force on {day}; add [[fx_rate]] currency = "
                           f"\"{code}\", rate = <{config.currency} per 1 {code}>, from = {day} (or earlier) to bpo.toml",
                           row["__row"]))
    return out


def _fx_rates(items: Any, reporting: str, problems: list[str]) -> tuple[FxRate, ...]:
    """Parse `[[fx_rate]]` tables strictly; each problem names the entry, the key and the fix."""
    if not isinstance(items, list):
        problems.append("'fx_rate' must be an array of tables: write each rate as [[fx_rate]] currency, rate, from")
        return ()
    rates: list[FxRate] = []
    seen: set[tuple[str, date]] = set()
    for i, item in enumerate(items):
        where = f"[[fx_rate]] #{i + 1}"
        if not isinstance(item, dict):
            problems.append(f"{where}: not a table; write currency = \"PHP\", rate = 0.0172, from = 2026-07-01")
            continue
        unknown = sorted(set(item) - set(FX_RATE_KEYS))
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(FX_RATE_KEYS)}")
        missing = [k for k in FX_RATE_KEYS if k not in item]
        if missing:
            problems.append(f"{where}: '{missing[0]}' is missing; every rate needs {', '.join(FX_RATE_KEYS)}")
            continue
        code, rate, start = item["currency"], item["rate"], item["from"]
        ok = True
        if not (isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper()):
            problems.append(f"{where}: currency {code!r} is not an ISO 4217 code; write it as three capitals (\"PHP\")")
            ok = False
        elif code == reporting:
            problems.append(f"{where}: currency {code} is the workspace's reporting currency; remove the entry")
            ok = False
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            problems.append(f"{where}: rate {rate!r} must be a positive number ({reporting} per 1 {code})")
            ok = False
        if isinstance(start, datetime) or not isinstance(start, date):
            problems.append(f"{where}: from {start!r} is not a date; write a bare TOML date (from = 2026-07-01)")
            ok = False
        if not ok:
            continue
        if (code, start) in seen:
            problems.append(f"{where}: a second {code} rate from {start}; keep one rate per currency and date")
            continue
        seen.add((code, start))
        rates.append(FxRate(currency=code, rate=float(rate), valid_from=start))
    return tuple(sorted(rates, key=lambda r: (r.currency, r.valid_from)))


AUTH_KEYS = ("server_metadata_url", "client_id", "client_secret_env", "redirect_uri", "cookie_secret_env", "identity_claim")
AUTH_REQUIRED = AUTH_KEYS[:5]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CALLBACK_PATH = "/oauth2callback"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    """Sign-in through an OpenID Connect provider, from bpo.toml `[auth]` (secrets stay in environment variables).

    A signed-in identity's `identity_claim` (lowercased) must equal a `[[user]]`'s `email`; anyone else sees nothing.
    """

    server_metadata_url: str
    client_id: str
    client_secret_env: str
    redirect_uri: str
    cookie_secret_env: str
    identity_claim: str = "email"


def _url_problem(key: str, value: str, *, callback: bool = False) -> str | None:
    """Why `value` cannot serve as [auth] `key` (absolute; https unless on this machine), else None."""
    u = urlparse(value)
    if u.scheme not in ("http", "https") or not u.hostname:
        return f"[auth] {key} {value!r} is not an absolute http(s) URL"
    if u.scheme == "http" and u.hostname not in LOOPBACK_HOSTS:
        return f"[auth] {key} {value!r} is plain http; use https (plain http only for 127.0.0.1, ::1 or localhost)"
    if callback and not u.path.endswith(CALLBACK_PATH):
        return (f"[auth] redirect_uri {value!r} must end with {CALLBACK_PATH} (e.g. https://bpo.example.com{CALLBACK_PATH}); "
                "register the same URI with the identity provider")
    return None


def parse_auth(table: Any, users: Sequence[User], problems: list[str]) -> AuthConfig | None:
    """Parse bpo.toml `[auth]` strictly (None when absent); each problem names the key and the fix."""
    if table is None:
        return None
    if not isinstance(table, dict):
        problems.append("'auth' must be a table: write [auth] with " + ", ".join(AUTH_REQUIRED))
        return None
    n = len(problems)
    for key in sorted(set(table) - set(AUTH_KEYS)):
        hint = (f"; secrets never live in bpo.toml: put it in an environment variable and name that with {key}_env"
                if key in ("client_secret", "cookie_secret") else f"; the keys are {', '.join(AUTH_KEYS)}")
        problems.append(f"[auth]: unknown key '{key}'{hint}")
    for key in AUTH_REQUIRED:
        if key not in table:
            problems.append(f"[auth]: '{key}' is missing; sign-in needs {', '.join(AUTH_REQUIRED)}")
    for key in AUTH_KEYS:
        value = table.get(key)
        if key not in table:
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"[auth] {key}: {value!r} is not a non-empty string")
        elif key.endswith("_env") and not _ENV_NAME.fullmatch(value):
            problems.append(f"[auth] {key}: {value!r} is not an environment variable name (e.g. \"BPO_OIDC_SECRET\")")
        elif key == "identity_claim" and not _CLAIM.fullmatch(value):
            problems.append(f"[auth] identity_claim: {value!r} is not a claim name (e.g. \"email\")")
        elif key in ("server_metadata_url", "redirect_uri"):
            bad = _url_problem(key, value, callback=key == "redirect_uri")
            if bad:
                problems.append(bad)
    seen: dict[str, str] = {}
    for u in users:
        if u.email is None:
            continue
        if u.email in seen:
            problems.append(f"[[user]] '{u.name}': email {u.email!r} is also user '{seen[u.email]}'s; one identity maps to one user")
        seen.setdefault(u.email, u.name)
    if len(problems) > n:
        return None
    return AuthConfig(**{k: table[k].strip() for k in AUTH_KEYS if k in table})


def _user_text(u: dict, key: str, name: str, problems: list[str]) -> str | None:
    """An optional one-word string key of a [[user]] (email, webhook_env); a problem when it is anything else."""
    value = u.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        problems.append(f"[[user]] '{name}': {key} {value!r} must be one word, e.g. {key} = "
                        + ('"ana@acme.example"' if key == "email" else '"ANA_WEBHOOK_URL"'))
        return None
    return value.strip().lower() if key == "email" else value.strip()


@dataclass
class Config:
    """The parsed bpo.toml."""

    name: str = "bpo-insights workspace"
    database_url: str | None = None
    currency: str = "USD"
    clients: list[dict] = field(default_factory=list)
    vendors: list[dict] = field(default_factory=list)
    sites: list[dict] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    fx_rates: tuple[FxRate, ...] = ()
    auth: AuthConfig | None = None
    raw: dict = field(default_factory=dict)

    def user(self, name: str) -> User:
        for u in self.users:
            if u.name == name:
                return u
        raise AccessDenied(f"user '{name}' is not declared in bpo.toml; add a [[user]] entry with its clients and vendors")

    def site(self, site_id: str) -> dict:
        return next((s for s in self.sites if s.get("id") == site_id), {})


def parse_config(path: Path) -> Config:
    """Read bpo.toml; every problem is listed in one ConfigError."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; create a workspace with 'bpo-insights sample --out {path.parent}' or write bpo.toml") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the syntax") from None
    problems: list[str] = []
    ws = raw.get("workspace", {})
    users = []
    for i, u in enumerate(raw.get("user", [])):
        name = u.get("name")
        if not name:
            problems.append(f"[[user]] #{i + 1}: 'name' is missing")
            continue
        role = u.get("role", "brand")
        if role not in ("admin", "brand", "vendor"):
            problems.append(f"[[user]] '{name}': role '{role}' is not one of admin, brand, vendor")
        if role == "admin":
            scope = Scope.everything()
        else:
            if "clients" not in u:
                problems.append(f"[[user]] '{name}': 'clients' is missing (list client ids, or [\"*\"])")
            scope = Scope.of(u.get("clients", []), u.get("vendors", "*"))
        users.append(User(name, role, scope, email=_user_text(u, "email", name, problems),
                          webhook_env=_user_text(u, "webhook_env", name, problems)))
    for kind in ("client", "vendor", "site"):
        for i, item in enumerate(raw.get(kind, [])):
            if not item.get("id"):
                problems.append(f"[[{kind}]] #{i + 1}: 'id' is missing")
    currency = ws.get("currency", "USD")
    fx_rates = _fx_rates(raw.get("fx_rate", []), currency, problems)
    auth = parse_auth(raw.get("auth"), users, problems)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return Config(
        name=ws.get("name", "bpo-insights workspace"),
        database_url=ws.get("database_url") or None,
        currency=currency,
        clients=raw.get("client", []),
        vendors=raw.get("vendor", []),
        sites=raw.get("site", []),
        users=users,
        sources=raw.get("source", []),
        settings=raw.get("settings", {}),
        fx_rates=fx_rates,
        auth=auth,
        raw=raw,
    )
