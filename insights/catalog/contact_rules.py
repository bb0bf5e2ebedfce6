"""Contact-level counting rules as data: `contact_rules.toml`, validated at load time.

`load_contact_rules(overrides)` reads the file beside the KPI catalog, applies a workspace's
`[contact_rules]` of bpo.toml on top, and checks every key and value (unknown keys with the nearest
spelling, types, ranges, the allowed choices); all problems are listed in one `RulesError`, each
naming where the value came from and the fix.  Nothing has a default in code.

>>> rules = load_contact_rules()
>>> rules.sl_threshold_seconds, rules.sl_boundary, rules.precedence
(20.0, '<=', 'contacts')
>>> load_contact_rules({"sl_boundary": "<"}).sl_boundary
'<'
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from insights.catalog import CATALOG_DIR, _Problems, _read
from insights.errors import RulesError

CONTACT_RULES_FILE = "contact_rules.toml"
BOUNDARIES = ("<=", "<")
ASSIGN_BY = ("queue_arrival", "initiation")
IVR_ONLY = ("excluded", "abandoned")
PRECEDENCE = ("contacts", "intervals")
NO_QUEUE = "(no queue)"  # the queue_id of interval rows for contacts that name no queue


@dataclass(frozen=True, kw_only=True)
class ContactRules:
    """The rules that count contacts into intervals (see contact_rules.toml for what each means)."""

    interval_minutes: int
    assign_by: str
    ivr_only: str
    phantom_seconds: float
    short_abandon_seconds: float
    short_abandon_boundary: str
    sl_threshold_seconds: float
    sl_boundary: str
    answered_without_queue_wait_seconds: float
    precedence: str


# key -> (kind, allowed choices or (lo, hi) range)
_SPEC: dict[str, tuple[str, Any]] = {
    "interval_minutes": ("int", (5, 10, 15, 20, 30, 60)),
    "assign_by": ("choice", ASSIGN_BY),
    "ivr_only": ("choice", IVR_ONLY),
    "phantom_seconds": ("seconds", (0, 3600)),
    "short_abandon_seconds": ("seconds", (0, 3600)),
    "short_abandon_boundary": ("choice", BOUNDARIES),
    "sl_threshold_seconds": ("seconds", (0, 86400)),
    "sl_boundary": ("choice", BOUNDARIES),
    "answered_without_queue_wait_seconds": ("seconds", (0, 3600)),
    "precedence": ("choice", PRECEDENCE),
}
assert set(_SPEC) == {f.name for f in fields(ContactRules)}


def _check(where: str, key: str, value: Any, problems: _Problems) -> Any:
    kind, allowed = _SPEC[key]
    if kind == "choice":
        if value not in allowed:
            problems.add(where, key, f"= {value!r}; use one of {', '.join(repr(a) for a in allowed)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(where, key, f"= {value!r} must be a number")
        return value
    if kind == "int":
        if value not in allowed:
            problems.add(where, key, f"= {value!r}; use one of {', '.join(str(a) for a in allowed)} (minutes dividing an hour)")
        return int(value)
    lo, hi = allowed
    if not lo <= value <= hi:
        problems.add(where, key, f"= {value!r} is out of range; use {lo} to {hi} seconds")
    return float(value)


def _unknown(where: str, doc: Mapping[str, Any], problems: _Problems) -> None:
    for key in doc:
        if key not in _SPEC:
            close = difflib.get_close_matches(key, list(_SPEC), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (keys: {', '.join(_SPEC)})"
            problems.add(where, key, f"is not a contact rule{hint}")


def load_contact_rules(overrides: Mapping[str, Any] | None = None, folder: Path | None = None) -> ContactRules:
    """The rules of contact_rules.toml with a workspace's bpo.toml [contact_rules] on top (RulesError lists every problem)."""
    base = _base(folder or CATALOG_DIR)
    problems = _Problems()
    where = "bpo.toml [contact_rules]"
    _unknown(where, overrides or {}, problems)
    values = dict(base)
    for key, value in (overrides or {}).items():
        if key in _SPEC:
            values[key] = _check(where, key, value, problems)
    if problems:
        raise RulesError(f"{len(problems)} problem(s) in the contact rules: " + "; ".join(problems), list(problems))
    return ContactRules(**values)


@lru_cache(maxsize=4)
def _base(folder: Path) -> tuple[tuple[str, Any], ...]:
    problems = _Problems()
    doc = _read(folder, CONTACT_RULES_FILE, problems)
    rules = doc.get("rules")
    if not problems and not isinstance(rules, dict):
        problems.add(CONTACT_RULES_FILE, "(file)", "has no [rules] table; restore it from the repository")
    rules = rules if isinstance(rules, dict) else {}
    where = f"{CONTACT_RULES_FILE} [rules]"
    for extra in set(doc) - {"rules"}:
        problems.add(CONTACT_RULES_FILE, f"[{extra}]", "is not a table of the contact rules; keep every rule under [rules]")
    _unknown(where, rules, problems)
    values = {}
    for key in _SPEC:
        if key not in rules:
            if rules or not problems:
                problems.add(where, key, "is missing; every contact rule is set in the file (the code has no default)")
            continue
        values[key] = _check(where, key, rules[key], problems)
    if problems:
        raise RulesError(f"{len(problems)} problem(s) in the contact rules: " + "; ".join(problems), list(problems))
    return tuple(values.items())
