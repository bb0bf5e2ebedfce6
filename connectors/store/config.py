"""bpo.toml: the workspace's tenants, users, sources, settings and FX rates, checked strictly (every problem at once)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence

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


DELIVERY_KEYS = ("smtp_host", "smtp_port", "sender", "username", "password_env", "starttls", "attach", "webhook_format")
ATTACHMENTS = ("pptx", "pdf", "none")
WEBHOOK_FORMATS = ("slack", "teams")


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """bpo.toml `[delivery]`: the SMTP server `deliver` sends through, the deck it attaches, and webhook formats.

    The password is never here: `password_env` names the environment variable that holds it.
    `webhook_format` maps a webhook's environment variable to 'slack' or 'teams' when its host does not say.
    """

    smtp_host: str | None = None
    smtp_port: int = 587
    sender: str | None = None
    username: str | None = None
    password_env: str | None = None
    starttls: bool = True
    attach: str = "pptx"
    webhook_format: dict[str, str] = field(default_factory=dict)


def _delivery(item: Any, problems: list[str]) -> Delivery | None:
    """Parse `[delivery]` strictly; each problem names the key and the fix."""
    where = "[delivery]"
    if not isinstance(item, dict):
        problems.append(f"{where} must be a table: smtp_host, smtp_port, sender, username, password_env, starttls")
        return None
    unknown = sorted(set(item) - set(DELIVERY_KEYS))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(DELIVERY_KEYS)}")
    n = len(problems)
    for key in ("smtp_host", "sender", "username", "password_env"):
        if key in item and not (isinstance(item[key], str) and item[key].strip()):
            problems.append(f"{where}: {key} must be a non-empty string")
    if "password" in item:
        problems.append(f"{where}: never write the password in bpo.toml; set password_env = \"SMTP_PASSWORD\" and export it")
    port = item.get("smtp_port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"{where}: smtp_port {port!r} must be a port number (587 for STARTTLS, 25 for plain)")
    if not isinstance(item.get("starttls", True), bool):
        problems.append(f"{where}: starttls must be true or false")
    if "sender" in item and "@" not in str(item["sender"]):
        problems.append(f"{where}: sender {item['sender']!r} is not an email address")
    if item.get("password_env") and not item.get("username"):
        problems.append(f"{where}: password_env is set without username; add username = \"the SMTP login\"")
    if item.get("attach", "pptx") not in ATTACHMENTS:
        problems.append(f"{where}: attach {item['attach']!r} is not one of {', '.join(ATTACHMENTS)}")
    formats = item.get("webhook_format", {})
    if not isinstance(formats, dict) or any(v not in WEBHOOK_FORMATS for v in formats.values()):
        problems.append(f"{where}: webhook_format maps a webhook's variable to 'slack' or 'teams' "
                        f"(webhook_format = {{ TEAMS_OPS_URL = \"teams\" }})")
    if len(problems) > n:
        return None
    return Delivery(smtp_host=item.get("smtp_host"), smtp_port=port, sender=item.get("sender"),
                    username=item.get("username"), password_env=item.get("password_env"),
                    starttls=item.get("starttls", True), attach=item.get("attach", "pptx"), webhook_format=dict(formats))


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
    raw: dict = field(default_factory=dict)
    delivery: Delivery | None = None  # [delivery]: how `bpo-insights deliver` sends mail

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
        users.append(User(name, role, scope, email=u.get("email"), webhook_env=u.get("webhook_env")))
    for kind in ("client", "vendor", "site"):
        for i, item in enumerate(raw.get(kind, [])):
            if not item.get("id"):
                problems.append(f"[[{kind}]] #{i + 1}: 'id' is missing")
    currency = ws.get("currency", "USD")
    fx_rates = _fx_rates(raw.get("fx_rate", []), currency, problems)
    delivery = _delivery(raw["delivery"], problems) if "delivery" in raw else None
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
        raw=raw,
        delivery=delivery,
    )
