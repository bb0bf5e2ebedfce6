"""bpo.toml: the workspace's whole schema, checked strictly: every problem at once, each with its fix.

Every table and key of bpo.toml is declared here (`SCHEMA`, `SOURCE_KEYS`); nothing else reads the
raw file. An unknown table or key (with the nearest valid spelling), a value of the wrong type, a
tenant id that no `[[client]]`/`[[vendor]]`/`[[site]]` declares, or a user whose scope is not written
out is a ConfigError (CLI exit 2): a typo never opens access, and `"*"` (every client or vendor) is
only ever what someone wrote.

```toml
[workspace]
name = "Acme support"
currency = "USD"                         # the reporting currency
database_url = "postgresql+psycopg://bpo@db/bpo"   # optional metadata database; never with a password
password_env = "BPO_DB_PASSWORD"         # the environment variable holding that password

[settings]                               # week_start, timezone, sample_end, service_level_formula

[[client]]                               # id, name, timezone, week_start
[[vendor]]                               # id, name
[[site]]                                 # id, name, vendor, tier (onshore|nearshore|offshore), country, timezone

[[user]]
name = "northwind-am"
role = "vendor"                          # admin | brand | vendor
clients = ["*"]                          # brand and vendor users list their clients ("*" = every client)
vendors = ["northwind"]                  # vendor users list their vendors
email = "am@northwind.example"           # optional: the identity sign-in asserts (compared lowercased)
webhook_env = "NORTHWIND_CHAT_WEBHOOK"   # optional: the variable holding the user's chat webhook URL

[[source]]    # see connectors/sources.py      [[fx_rate]]    currency, rate, from
[[rate_card]] # vendor, site, billing_model, channel, rate
[[pilot]]     # name, scope, start, end, kpis, control, pre_weeks, goals
[contact_rules] # how call/chat records count into intervals: keys of insights/catalog/contact_rules.toml
[store]       # optional: the canonical tables in a SQL warehouse instead of Parquet
url = "postgresql+psycopg://bpo@warehouse/bpo"   # never with a password
password_env = "BPO_WAREHOUSE_PASSWORD"          # the environment variable holding it
table_prefix = "bpo_"                            # optional: tables are bpo_tickets, bpo_contact_intervals, ...
schema = "support"                               # optional: the database schema holding them
[auth]        # sign-in (OpenID Connect): server_metadata_url, client_id, client_secret_env, redirect_uri,
              # cookie_secret_env, identity_claim
```
"""
from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import polars as pl

from connectors.errors import AccessDenied, ConfigError
from connectors.schema import Problem

from connectors.store.scope import Scope, User

ROLES = ("admin", "brand", "vendor")
TIERS = ("onshore", "nearshore", "offshore")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BILLING_MODELS = ("per_hour", "per_fte", "per_contact", "per_minute", "fixed", "minimum_shortfall", "penalty", "credit")
PILOT_DIMENSIONS = ("client_id", "vendor_id", "site_id", "channel")
EVERY = "*"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- value checks


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _texts(v: Any) -> str | None:
    if isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v):
        return None
    if isinstance(v, str):
        return f'must be a list of strings; write ["{v}"]'
    return 'must be a list of strings, such as ["acme"]'


def _text_or_texts(v: Any) -> str | None:
    return None if _text(v) is None or _texts(v) is None else 'must be a string or a list of strings'


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _integer(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "must be a whole number (0 or more)"


def _number(v: Any) -> str | None:
    return None if isinstance(v, (int, float)) and not isinstance(v, bool) else "must be a number"


def _positive(v: Any) -> str | None:
    return _number(v) or (None if v > 0 else "must be a positive number")


def _day(v: Any) -> str | None:
    if isinstance(v, date) and not isinstance(v, datetime):
        return None
    return "must be a bare TOML date (2026-08-10, no quotes)"


def _day_or_text(v: Any) -> str | None:
    if _day(v) is None:
        return None
    if isinstance(v, str):
        try:
            date.fromisoformat(v)
            return None
        except ValueError:
            pass
    return "must be a date (2026-08-10)"


def _when(v: Any) -> str | None:
    return None if isinstance(v, (date, str)) else "must be a date (2025-01-01) or an ISO timestamp"


def _table(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be a table ({ key = value, ... })"


def _tables(v: Any) -> str | None:
    return None if isinstance(v, dict) or (isinstance(v, list) and all(isinstance(x, dict) for x in v)) \
        else "must be a table or an array of tables"


def _value_maps(v: Any) -> str | None:
    """`values.<column> = { "<source value>" = "<canonical value>" }` (a [[source]]'s own value maps)."""
    from connectors.schema import VOCABULARY

    columns = sorted({c for vocab in VOCABULARY.values() for c in vocab})
    example = 'such as [source.values.channel] with "Phone" = "voice"'
    if not isinstance(v, dict):
        return f"must be a table of value maps, {example}"
    for column, m in v.items():
        if column not in columns:
            return f"maps '{column}', which is not one of {', '.join(columns)}"
        if not isinstance(m, dict) or not all(isinstance(x, str) for x in m.values()):
            return f"values.{column} must map source values to canonical values, {example}"
    return None


def _env(v: Any) -> str | None:
    if isinstance(v, str) and _ENV_NAME.match(v):
        return None
    return ("names an environment variable (such as \"TEAM_CHAT_WEBHOOK\"), never the secret or URL itself; "
            "export the value in that variable")


def _email(v: Any) -> str | None:
    """The identity sign-in asserts: an email address, or the value of [auth] identity_claim (one word)."""
    if isinstance(v, str) and v.strip() and not any(c.isspace() for c in v.strip()):
        return None
    return 'must be one word, e.g. email = "ana@acme.example"'



def _zone(v: Any) -> str | None:
    if not isinstance(v, str):
        return "must be an IANA time zone name (Europe/Warsaw)"
    try:
        ZoneInfo(v)
        return None
    except Exception:  # noqa: BLE001 - any failure means "not a zone"
        return "is not an IANA time zone (e.g. Europe/Warsaw, America/Chicago)"


def _currency(v: Any) -> str | None:
    ok = isinstance(v, str) and len(v) == 3 and v.isalpha() and v.isupper()
    return None if ok else 'must be an ISO 4217 code in three capitals ("USD")'


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)}"
    return check


def _anything(v: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Key:
    """One key of a bpo.toml table: how its value is checked, whether it must be there."""

    check: Callable[[Any], str | None]
    required: bool = False


@dataclass(frozen=True)
class Section:
    """One bpo.toml table: `[name]` (array=False) or `[[name]]` (array=True), and its keys."""

    array: bool
    keys: dict[str, Key]


# The whole file. A key is added here when the code that reads it lands; [[source]] keys depend on its kind.
SCHEMA: dict[str, Section] = {
    "workspace": Section(array=False, keys={
        "name": Key(_text), "currency": Key(_currency), "database_url": Key(_text), "password_env": Key(_env)}),
    "settings": Section(array=False, keys={
        "week_start": Key(_one_of(*WEEKDAYS)), "timezone": Key(_zone), "sample_end": Key(_day_or_text),
        "service_level_formula": Key(_text), "pseudonymise_agents": Key(_flag)}),
    "client": Section(array=True, keys={
        "id": Key(_text, True), "name": Key(_text), "timezone": Key(_zone), "week_start": Key(_one_of(*WEEKDAYS))}),
    "vendor": Section(array=True, keys={"id": Key(_text, True), "name": Key(_text)}),
    "site": Section(array=True, keys={
        "id": Key(_text, True), "name": Key(_text), "vendor": Key(_text), "tier": Key(_one_of(*TIERS)),
        "country": Key(_text), "timezone": Key(_zone)}),
    "user": Section(array=True, keys={
        "name": Key(_text, True), "role": Key(_one_of(*ROLES), True), "clients": Key(_texts),
        "vendors": Key(_texts), "email": Key(_email), "webhook_env": Key(_env)}),
    "source": Section(array=True, keys={}),  # checked by kind: see SOURCE_KEYS
    "fx_rate": Section(array=True, keys={"currency": Key(_anything, True), "rate": Key(_anything, True),
                                         "from": Key(_anything, True)}),
    "rate_card": Section(array=True, keys={
        "vendor": Key(_text, True), "site": Key(_text), "billing_model": Key(_one_of(*BILLING_MODELS), True),
        "channel": Key(_text), "rate": Key(_positive, True)}),
    "store": Section(array=False, keys={
        "url": Key(_text, True), "password_env": Key(_env), "table_prefix": Key(_text), "schema": Key(_text)}),
    "auth": Section(array=False, keys={}),  # checked by parse_auth
    # how contact records count into intervals: the keys of insights/catalog/contact_rules.toml, whose loader
    # checks the values (insights may not be imported here)
    "contact_rules": Section(array=False, keys={k: Key(_anything) for k in (
        "interval_minutes", "assign_by", "ivr_only", "phantom_seconds", "short_abandon_seconds", "short_abandon_boundary",
        "sl_threshold_seconds", "sl_boundary", "answered_without_queue_wait_seconds", "precedence")}),
    "delivery": Section(array=False, keys={}),  # checked by _delivery
    "pilot": Section(array=True, keys={
        "name": Key(_text, True), "scope": Key(_table), "start": Key(_day), "end": Key(_day), "kpis": Key(_texts),
        "control": Key(_table), "pre_weeks": Key(_integer), "goals": Key(_table)}),
}
FX_RATE_KEYS = tuple(SCHEMA["fx_rate"].keys)

# [[source]]: keys every kind takes, the SQL kind's own, and the match/tenant keys of [[source.tenants]] rules.
SOURCE_KEYS: dict[str, Key] = {
    "name": Key(_text, True), "kind": Key(_text, True), "client": Key(_text), "vendor": Key(_text),
    "site": Key(_text), "tenants": Key(_tables), "start": Key(_when), "lookback_minutes": Key(_number),
    "batch_rows": Key(_integer), "page_size": Key(_integer), "max_retries": Key(_integer),
    "retry_budget": Key(_number), "backoff_seconds": Key(_number), "timeout_seconds": Key(_number),
    "max_wait_seconds": Key(_number), "values": Key(_value_maps),
}
SQL_SOURCE_KEYS = frozenset({"url", "password_env", "preset", "table", "query", "cursor_column", "id_column", "columns",
                             "schema", "table_prefix", "timezone", "system"})
MATCH_KEYS = ("group", "brand", "tag", "queue")
TENANT_KEYS = ("client", "vendor", "site")
FILE_SOURCE_KEYS = frozenset({"path", "preset", "mapping"})


def source_kind_keys() -> dict[str, frozenset[str]]:
    """Each source kind's own keys, beside SOURCE_KEYS: the API vendors' (from their registry), sql, files."""
    from connectors.vendors import SOURCES  # the vendors know their keys; imported late (they import the engine)

    return {**{kind: frozenset(v.keys) for kind, v in SOURCES.items()}, "sql": SQL_SOURCE_KEYS,
            "files": FILE_SOURCE_KEYS}


# [auth]: sign-in through an OpenID Connect provider (dashboard/access.py, dashboard/launch.py read it).
AUTH_KEYS = ("server_metadata_url", "client_id", "client_secret_env", "redirect_uri", "cookie_secret_env", "identity_claim")
AUTH_REQUIRED = AUTH_KEYS[:5]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CALLBACK_PATH = "/oauth2callback"
_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")


# --------------------------------------------------------------------------- records


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


@dataclass(frozen=True, kw_only=True)
class FxRate:
    """One dated exchange rate from bpo.toml `[[fx_rate]]`: 1 `currency` = `rate` reporting-currency units from `valid_from` on."""

    currency: str
    rate: float
    valid_from: date


@dataclass(frozen=True, kw_only=True)
class RateCard:
    """One contracted rate from `[[rate_card]]`: what `vendor` (at `site`, on `channel`) charges per unit of `billing_model`."""

    vendor: str
    site: str | None
    billing_model: str
    channel: str | None
    rate: float


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


@dataclass(frozen=True)
class StoreConfig:
    """`[store]`: the SQL warehouse holding the canonical tables (its password in the variable `password_env`)."""

    url: str
    password_env: str | None = None
    table_prefix: str = ""
    schema: str | None = None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _store(item: Mapping[str, Any], problems: list[str]) -> StoreConfig | None:
    if _check_keys("[store]", "store", item, SCHEMA["store"].keys, problems) or "url" not in item:
        return None
    url = str(item.get("url", ""))
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        problems.append(f"[store]: url = {url!r} is not a database URL; write it like "
                        "\"postgresql+psycopg://user@host/db\" (or \"duckdb:///path/file.duckdb\")")
        return None
    if "@" in rest and ":" in rest.split("@")[0]:
        problems.append("[store]: url holds a password; remove it and set password_env to the environment variable "
                        "that holds it")
        return None
    for key in ("table_prefix", "schema"):
        value = item.get(key)
        if value is not None and not _IDENTIFIER.fullmatch(str(value) if key == "schema" else f"x{value}"):
            problems.append(f"[store]: {key} = {value!r} may hold only letters, digits and underscores")
            return None
    return StoreConfig(url=url, password_env=item.get("password_env"), table_prefix=str(item.get("table_prefix", "")),
                       schema=item.get("schema"))


@dataclass(frozen=True, kw_only=True)
class Config:
    """The parsed, checked bpo.toml (`parse_config`): tenants, users, sources, settings, FX rates, rate cards, pilots."""

    name: str = "bpo-insights workspace"
    database_url: str | None = None
    password_env: str | None = None  # the variable holding database_url's password
    currency: str = "USD"
    clients: tuple[dict, ...] = ()
    vendors: tuple[dict, ...] = ()
    sites: tuple[dict, ...] = ()
    users: tuple[User, ...] = ()
    sources: tuple[dict, ...] = ()
    settings: dict = field(default_factory=dict)
    fx_rates: tuple[FxRate, ...] = ()
    rate_cards: tuple[RateCard, ...] = ()
    pilots: tuple[dict, ...] = ()
    auth: AuthConfig | None = None  # sign-in; None: no sign-in (local single-user mode only)
    delivery: Delivery | None = None  # [delivery]: how `bpo-insights deliver` sends mail
    contact_rules: dict = field(default_factory=dict)  # [contact_rules]: overrides of insights/catalog/contact_rules.toml
    store: StoreConfig | None = None  # [store]: the canonical tables live in this SQL warehouse

    def user(self, name: str) -> User:
        for u in self.users:
            if u.name == name:
                return u
        raise AccessDenied(f"user '{name}' is not declared in bpo.toml; add a [[user]] entry with its clients and vendors")

    def user_for_email(self, email: str) -> User:
        """The user whose `email` is this address (compared lowercased); an unknown address is denied."""
        wanted = email.strip().lower()
        for u in self.users:
            if u.email is not None and u.email == wanted:
                return u
        raise AccessDenied(f"no [[user]] of bpo.toml has email '{wanted}'; an admin adds it (email = \"{wanted}\") "
                           "to the user it belongs to")

    def site(self, site_id: str) -> dict:
        return next((s for s in self.sites if s.get("id") == site_id), {})

    def ids(self, kind: str) -> tuple[str, ...]:
        """The declared ids of `kind` ('client', 'vendor' or 'site'), in declaration order."""
        return tuple(str(t["id"]) for t in {"client": self.clients, "vendor": self.vendors, "site": self.sites}[kind])

    def unknown_id(self, kind: str, value: str) -> str | None:
        """Why `value` is not a declared `kind` id, with the fix (None when it is declared)."""
        return _unknown_id(kind, value, self.ids(kind))


# --------------------------------------------------------------------------- parsing


def _nearest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown_id(kind: str, value: str, known: Sequence[str]) -> str | None:
    if value in known:
        return None
    declared = f"declared: {', '.join(known)}" if known else f"no [[{kind}]] is declared"
    return (f"'{value}' is not a [[{kind}]] id of bpo.toml{_nearest(value, known)} ({declared}); "
            f"fix the id, or declare it with [[{kind}]] id = \"{value}\"")


def _where(section: str, i: int, item: Mapping[str, Any]) -> str:
    label = item.get("name") if section in ("user", "source", "pilot") else item.get("id")
    head = f"[[{section}]]" if SCHEMA[section].array else f"[{section}]"
    if not SCHEMA[section].array:
        return head
    return f"{head} '{label}'" if isinstance(label, str) and label else f"{head} #{i + 1}"


def _check_keys(where: str, section: str, item: Mapping[str, Any], keys: Mapping[str, Key],
                problems: list[str]) -> bool:
    """Unknown keys (with the nearest spelling), missing required keys and values of the wrong type (True: some)."""
    head = f"[[{section}]]" if SCHEMA[section].array else f"[{section}]"
    mistyped = False
    for k in item:
        if k not in keys:
            problems.append(f"{where}: '{k}' is not a key of {head}{_nearest(k, keys)} (keys: {', '.join(keys)})")
    for k, spec in keys.items():
        if k not in item:
            if spec.required:
                problems.append(f"{where}: '{k}' is missing")
            continue
        why = spec.check(item[k])
        if why:
            problems.append(f"{where}: {k} = {item[k]!r} {why}")
            mistyped = True
    return mistyped


def _sections(raw: Mapping[str, Any], problems: list[str]) -> dict[str, list[dict]]:
    """Each known section as a list of its tables; unknown or mis-shaped top-level entries are problems."""
    out: dict[str, list[dict]] = {name: [] for name in SCHEMA}
    for name, value in raw.items():
        if name not in SCHEMA:
            what = "table" if isinstance(value, (dict, list)) else "key"
            problems.append(f"'{name}' is not a {what} of bpo.toml{_nearest(name, SCHEMA)} "
                            f"(tables: {', '.join(SCHEMA)})")
            continue
        section = SCHEMA[name]
        if section.array:
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                out[name] = list(value)
            else:
                problems.append(f"'{name}' must be an array of tables: write each one under its own [[{name}]] header")
        elif isinstance(value, dict):
            out[name] = [value]
        else:
            problems.append(f"'{name}' must be a table: write its keys under one [{name}] header")
    return out


def _tenants(sections: dict[str, list[dict]], problems: list[str]) -> dict[str, tuple[str, ...]]:
    """Declared client, vendor and site ids (duplicates are problems); a site's vendor must be declared."""
    known: dict[str, tuple[str, ...]] = {}
    for kind in ("client", "vendor", "site"):
        ids: list[str] = []
        for item in sections[kind]:
            v = item.get("id")
            if isinstance(v, str) and v.strip():
                if v in ids:
                    problems.append(f"[[{kind}]] '{v}' is declared twice; keep one")
                else:
                    ids.append(v)
        known[kind] = tuple(ids)
    for site in sections["site"]:
        vendor = site.get("vendor")
        if isinstance(vendor, str) and vendor.strip():
            why = _unknown_id("vendor", vendor, known["vendor"])
            if why:
                problems.append(f"{_where('site', 0, site)}: vendor {why}")
    return known


def _users(items: list[dict], known: dict[str, tuple[str, ...]], problems: list[str]) -> tuple[User, ...]:
    """Users with their scopes written out: never wider than what the entry says, and nothing unknown."""
    users: list[User] = []
    names: set[str] = set()
    emails: dict[str, str] = {}
    for i, u in enumerate(items):
        where = _where("user", i, u)
        n0 = len(problems)
        _check_keys(where, "user", u, SCHEMA["user"].keys, problems)
        name, role = u.get("name"), u.get("role")
        if isinstance(name, str):
            if name in names:
                problems.append(f"{where}: declared twice; user names must be unique")
            names.add(name)
        if role == "admin":
            extra = [k for k in ("clients", "vendors") if k in u]
            if extra:
                problems.append(f"{where}: an admin sees every client and vendor, so {' and '.join(extra)} would limit "
                                f"nothing; remove {' and '.join(extra)}, or make the role brand or vendor")
        elif role in ("brand", "vendor"):
            need = ("clients", "vendors") if role == "vendor" else ("clients",)
            for k in need:
                if k not in u:
                    kind = k[:-1]
                    problems.append(f"{where}: a {role} user must list its {k} ({k} = [\"<{kind} id>\"], or "
                                    f"[\"*\"] for every {kind}); without it the user would see nothing")
            for k in ("clients", "vendors"):
                values = u.get(k)
                if k not in u or _texts(values) is not None:
                    continue
                if not values:
                    problems.append(f"{where}: {k} is empty, so the user would see nothing; list {k[:-1]} ids, "
                                    f"or [\"*\"] for every {k[:-1]}")
                elif EVERY in values and len(values) > 1:
                    problems.append(f"{where}: {k} mixes \"*\" with ids; write [\"*\"] alone for every {k[:-1]}, "
                                    "or list the ids alone")
                else:
                    for v in values:
                        why = None if v == EVERY else _unknown_id(k[:-1], v, known[k[:-1]])
                        if why:
                            problems.append(f"{where}: {k} {why}")
        email = u.get("email")
        if isinstance(email, str) and _email(email) is None:
            email = email.strip().lower()
            if email in emails:
                problems.append(f"{where}: email {email!r} is also user '{emails[email]}'s; one identity maps to one user")
            emails[email] = str(name)
        if len(problems) > n0:
            continue
        scope = Scope.everything() if role == "admin" else Scope.of(u["clients"], u.get("vendors", [EVERY]))
        users.append(User(str(name), str(role), scope, email=email if isinstance(email, str) else None,
                          webhook_env=u.get("webhook_env")))
    return tuple(users)


def _sources(items: list[dict], known: dict[str, tuple[str, ...]], problems: list[str]) -> set[int]:
    """[[source]] keys by kind, their types and tenant ids; the entries (by index) with a value of the wrong type."""
    kinds = source_kind_keys() if items else {}  # the vendors' registry (HTTP clients) only when there are sources
    names: list[str] = []
    return {i for i, e in enumerate(items) if _source(i, e, kinds, names, known, problems)}


def _source(i: int, e: dict, kinds: dict[str, frozenset[str]], names: list[str], known: dict[str, tuple[str, ...]],
            problems: list[str]) -> bool:
    where = _where("source", i, e)
    kind = e.get("kind")
    if isinstance(e.get("name"), str):
        if e["name"] in names:
            problems.append(f"{where}: declared twice; source names must be unique")
        names.append(e["name"])
    if kind not in kinds:
        problems.append(f"{where}: kind {kind!r} is not one of {', '.join(kinds)}{_nearest(str(kind), kinds)}"
                        if kind is not None else f"{where}: 'kind' is missing (one of {', '.join(kinds)})")
        return True
    keys = {**SOURCE_KEYS, **{k: Key(_anything) for k in sorted(kinds[kind])}}
    mistyped = _check_keys(where, "source", e, keys, problems)
    _tenant_values(where, e, known, problems)
    rules = e.get("tenants") or []
    for j, r in enumerate([rules] if isinstance(rules, dict) else rules):
        if not isinstance(r, dict):
            continue
        at = f"{where} tenants rule #{j + 1}"
        for k in r:
            if k not in MATCH_KEYS + TENANT_KEYS:
                problems.append(f"{at}: '{k}' is not a key of [[source.tenants]]{_nearest(k, MATCH_KEYS + TENANT_KEYS)} "
                                f"(match on {', '.join(MATCH_KEYS)}; set {', '.join(TENANT_KEYS)})")
        _tenant_values(at, r, known, problems)
    return mistyped


def _tenant_values(where: str, item: Mapping[str, Any], known: dict[str, tuple[str, ...]], problems: list[str]) -> None:
    for k in TENANT_KEYS:
        v = item.get(k)
        if isinstance(v, str):
            why = _unknown_id(k, v, known[k])
            if why:
                problems.append(f"{where}: {k} {why}")


def _fx_rates(items: list[dict], reporting: str, problems: list[str]) -> tuple[FxRate, ...]:
    """`[[fx_rate]]` tables as dated records; each problem names the entry, the key and the fix."""
    rates: list[FxRate] = []
    seen: set[tuple[str, date]] = set()
    for i, item in enumerate(items):
        where = f"[[fx_rate]] #{i + 1}"
        n0 = len(problems)
        _check_keys(where, "fx_rate", item, SCHEMA["fx_rate"].keys, problems)
        if any(k not in item for k in FX_RATE_KEYS):
            continue
        code, rate, start = item["currency"], item["rate"], item["from"]
        if not (isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper()):
            problems.append(f"{where}: currency {code!r} is not an ISO 4217 code; write it as three capitals (\"PHP\")")
        elif code == reporting:
            problems.append(f"{where}: currency {code} is the workspace's reporting currency; remove the entry")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            problems.append(f"{where}: rate {rate!r} must be a positive number ({reporting} per 1 {code})")
        if isinstance(start, datetime) or not isinstance(start, date):
            problems.append(f"{where}: from {start!r} is not a date; write a bare TOML date (from = 2026-07-01)")
        if len(problems) > n0:
            continue
        if (code, start) in seen:
            problems.append(f"{where}: a second {code} rate from {start}; keep one rate per currency and date")
            continue
        seen.add((code, start))
        rates.append(FxRate(currency=code, rate=float(rate), valid_from=start))
    return tuple(sorted(rates, key=lambda r: (r.currency, r.valid_from)))


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
    """Parse bpo.toml `[auth]` strictly (None when absent); each problem names the key and the fix.

    (One identity, one user: [[user]] emails are checked with the users, whether or not [auth] is there.)
    """
    if table is None:
        return None
    if not isinstance(table, dict):
        problems.append("'auth' must be a table: write [auth] with " + ", ".join(AUTH_REQUIRED))
        return None
    n = len(problems)
    for key in sorted(set(table) - set(AUTH_KEYS)):
        hint = (f"; secrets never live in bpo.toml: put it in an environment variable and name that with {key}_env"
                if key in ("client_secret", "cookie_secret") else f"{_nearest(key, AUTH_KEYS)}; the keys are {', '.join(AUTH_KEYS)}")
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
    if len(problems) > n:
        return None
    return AuthConfig(**{k: table[k].strip() for k in AUTH_KEYS if k in table})


def _rate_cards(items: list[dict], known: dict[str, tuple[str, ...]], problems: list[str]) -> tuple[RateCard, ...]:
    cards = []
    for i, r in enumerate(items):
        where = f"[[rate_card]] #{i + 1}"
        n0 = len(problems)
        _check_keys(where, "rate_card", r, SCHEMA["rate_card"].keys, problems)
        _tenant_values(where, r, known, problems)
        if len(problems) == n0:
            cards.append(RateCard(vendor=r["vendor"], site=r.get("site"), billing_model=r["billing_model"],
                                  channel=r.get("channel"), rate=float(r["rate"])))
    return tuple(cards)


def _pilots(items: list[dict], known: dict[str, tuple[str, ...]], problems: list[str]) -> tuple[dict, ...]:
    for i, p in enumerate(items):
        where = _where("pilot", i, p)
        _check_keys(where, "pilot", p, SCHEMA["pilot"].keys, problems)
        for part in ("scope", "control"):
            groups = p.get(part)
            if not isinstance(groups, dict):
                continue
            for dim, values in groups.items():
                if dim not in PILOT_DIMENSIONS:
                    problems.append(f"{where}: {part} dimension '{dim}' is not one of {', '.join(PILOT_DIMENSIONS)}"
                                    f"{_nearest(dim, PILOT_DIMENSIONS)}")
                    continue
                why = _text_or_texts(values)
                if why:
                    problems.append(f"{where}: {part}.{dim} {why}")
                    continue
                if dim != "channel":
                    for v in [values] if isinstance(values, str) else values:
                        bad = _unknown_id(dim.removesuffix("_id"), v, known[dim.removesuffix("_id")])
                        if bad:
                            problems.append(f"{where}: {part}.{dim} {bad}")
        goals = p.get("goals")
        if isinstance(goals, dict):
            for k, v in goals.items():
                if _number(v):
                    problems.append(f"{where}: goals.{k} = {v!r} must be a number (the change that counts as success)")
    return tuple(items)


def parse_config(path: Path) -> Config:
    """Read and check bpo.toml; every problem is listed in one ConfigError (CLI exit 2)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; start a workspace with 'bpo-insights init {path.parent}' "
                          f"(or a demo with 'bpo-insights sample --out {path.parent}')") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the syntax") from None
    problems: list[str] = []
    sections = _sections(raw, problems)
    for name in ("workspace", "settings", "client", "vendor", "site", "contact_rules"):
        for i, item in enumerate(sections[name]):
            _check_keys(_where(name, i, item), name, item, SCHEMA[name].keys, problems)
    known = _tenants(sections, problems)
    ws = sections["workspace"][0] if sections["workspace"] else {}
    url = ws.get("database_url")
    if isinstance(url, str) and ":" in url.split("@")[0].split("//")[-1] and "@" in url:
        problems.append("[workspace]: database_url holds a password; remove it and set password_env to the "
                        "environment variable that holds it")
    if "password_env" in ws and not url:
        problems.append("[workspace]: password_env is set but database_url is not; set database_url or remove password_env")
    users = _users(sections["user"], known, problems)
    wrong_sources = _sources(sections["source"], known, problems)
    currency = ws.get("currency", "USD") if _currency(ws.get("currency", "USD")) is None else "USD"
    fx_rates = _fx_rates(sections["fx_rate"], currency, problems)
    rate_cards = _rate_cards(sections["rate_card"], known, problems)
    pilots = _pilots(sections["pilot"], known, problems)
    auth = parse_auth(sections["auth"][0] if sections["auth"] else None, users, problems)
    delivery = _delivery(sections["delivery"][0], problems) if sections["delivery"] else None
    store = _store(sections["store"][0], problems) if sections["store"] else None
    config = Config(
        name=ws.get("name", "bpo-insights workspace"),
        database_url=url or None,
        password_env=ws.get("password_env"),
        currency=currency,
        clients=tuple(sections["client"]),
        vendors=tuple(sections["vendor"]),
        sites=tuple(sections["site"]),
        users=users,
        sources=tuple(sections["source"]),
        settings=dict(sections["settings"][0]) if sections["settings"] else {},
        fx_rates=fx_rates,
        rate_cards=rate_cards,
        pilots=pilots,
        auth=auth,
        delivery=delivery,
        contact_rules=dict(sections["contact_rules"][0]) if sections["contact_rules"] else {},
        store=store,
    )
    if sections["source"]:
        from connectors.sources import source_problems  # each kind's own needs (address, token, site) live there

        problems += source_problems(config, skip=wrong_sources)
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s): " + "; ".join(problems))
    return config
