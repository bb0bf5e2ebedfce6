"""Redaction: secrets scrubbed in every encoding, personal data masked in free text.

Two functions, used on every path that writes a log line, an error message or a stored value:

    scrub("auth failed for tok%2Fen", ["tok/en"])   -> "auth failed for ***"
    mask_pii("call +44 20 7946 0958 or a@b.co")      -> "call [phone] or [email]"

`scrub` knows the forms a server or a library echoes a secret in: literal, URL-encoded (either
hex case, `+` or `%20` for spaces), base64 (standard and URL-safe, with or without padding) and
JSON-escaped.  `mask_pii` masks e-mail addresses, phone numbers and payment card numbers (Luhn
checked, so order numbers are left alone); `looks_like_contact` says whether a whole value is an
e-mail address or a phone number (a hash column must never hold one).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

import polars as pl

MASK = "***"

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# 7 to 15 digits (E.164), optionally grouped by spaces, dots, dashes or parentheses, optionally with a +
PHONE = r"(?<![\w+])\+?\(?\d(?:[\s.\-()]{0,2}\d){6,14}(?![\w])"
CARD = r"(?<!\d)\d(?:[ \-]?\d){12,18}(?!\d)"

_EMAIL_RE = re.compile(EMAIL)
_PHONE_RE = re.compile(PHONE)
_CARD_RE = re.compile(CARD)
_WHOLE_EMAIL = re.compile(rf"^\s*(?:mailto:)?{EMAIL}\s*$")
_WHOLE_PHONE = re.compile(r"^\s*\+?\(?\d(?:[\s.\-()]{0,2}\d){6,14}\s*$")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}")
_DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")


def secret_forms(secret: str) -> set[str]:
    """Every encoding of `secret` that may be echoed back: literal, URL-encoded, base64, JSON-escaped."""
    if not secret:
        return set()
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="")}
    for enc in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms |= {enc, enc.rstrip("=")}
    escaped = json.dumps(secret)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {f for f in forms if f}


@lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    if not forms:
        return None
    # IGNORECASE: servers re-encode with lower-case hex (%2f) as often as upper (%2F)
    return re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by ***."""
    pattern = _pattern(tuple(sorted({s for s in secrets if s})))
    return text if pattern is None or not text else pattern.sub(MASK, text)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)


def _phone(m: re.Match[str]) -> str:
    s = m.group(0)
    digits = re.sub(r"\D", "", s)
    if not 7 <= len(digits) <= 15 or _DATE.search(s):
        return s
    if _DECIMAL.match(s) and not s.startswith("+"):  # a bare number (an id, an amount, an epoch) is not a phone
        return s
    return "[phone]"


def mask_pii(text: str | None) -> str | None:
    """Mask e-mail addresses, payment card numbers (Luhn-valid) and phone numbers in free text."""
    if not text:
        return text
    text = _EMAIL_RE.sub("[email]", text)
    text = _CARD_RE.sub(_card, text)
    return _PHONE_RE.sub(_phone, text)


_CANDIDATE = r"@|\d[\d\s.\-()]{5,}\d"  # cheap vectorised pre-filter: only these values go through mask_pii


def mask_series(s: pl.Series) -> pl.Series:
    """`mask_pii` over a text column (each distinct candidate value once)."""
    if s.dtype != pl.String or s.null_count() == s.len():
        return s
    distinct = s.filter(s.str.contains(_CANDIDATE).fill_null(False)).unique().to_list()
    table = {v: mask_pii(v) for v in distinct}
    changed = {k: v for k, v in table.items() if k != v}
    if not changed:
        return s
    return s.replace(changed).alias(s.name)


def contact_values(s: pl.Series) -> pl.Series:
    """Per value of a text column: whether the whole value is an e-mail address or a phone number."""
    return s.str.contains(_WHOLE_EMAIL.pattern) | s.str.contains(_WHOLE_PHONE.pattern)


def looks_like_contact(value: str | None) -> bool:
    """Whether a whole value is an e-mail address or a phone number (never a hash)."""
    return bool(value) and bool(_WHOLE_EMAIL.match(value) or _WHOLE_PHONE.match(value))  # type: ignore[arg-type]
