"""One formatter for every number and label people read: tiles, charts, sentences, exports and the CLI.

The rules, the same on every surface:

- a missing value is `EMPTY` ('–'), never 'None', 'n/a', 'nan' or '-';
- a KPI value is written in its catalog format ('91.2%', '1,204', '4.44'); a duration in one unit with
  one decimal above a minute, at every magnitude: '42 s', '4.2 min', '2.5 h', '3.1 d' (a number and a
  unit reads the same in a tile, a sentence, a change and an interval: '+0.3 min', '4.1 min to 4.6 min');
- a change carries its sign ('+', '−', '±' when it rounds to nothing); a change of a percentage is in
  points ('+1.2 pts');
- money is the amount and its ISO currency ('USD 2,582.50', 'USD 4.44');
- labels are names: clients, vendors, sites and queues from bpo.toml, KPIs by their catalog label; the
  id only when no name is declared.

>>> value("percent", 0.9123), delta("percent", -0.012), duration(252), interval("seconds", 246, 276)
('91.2%', '−1.2 pts', '4.2 min', '4.1 min to 4.6 min')
>>> segment({"client_id": "acme", "site_id": "nw-manila"}, Names(client={"acme": "Acme Home"}))
'Acme Home · site nw-manila'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Protocol

EMPTY = "–"
MINUS = "−"  # U+2212: the typographic minus, one width with '+'
Unit = Literal["percent", "seconds", "count", "currency", "ratio", "score"]
# a unit's format when the KPI does not name one
DEFAULT_FORMATS: dict[str, str] = {"percent": ".1%", "count": ",.0f", "currency": ",.2f", "ratio": ".2f", "score": ".2f"}
# a duration's unit: (name, seconds in one, the largest shown value before the next unit takes over)
DURATION_UNITS = (("s", 1.0, 60.0), ("min", 60.0, 60.0), ("h", 3600.0, 24.0), ("d", 86400.0, math.inf))
# how a segment dimension is named in a label ('site Northwind Manila'); the client is named bare
DIMENSIONS: dict[str, str] = {"client_id": "client", "vendor_id": "vendor", "site_id": "site", "queue": "queue",
                              "queue_id": "queue", "channel": "channel", "priority": "priority",
                              "contact_reason": "contact reason", "handled_by": "handler", "agent_id": "agent",
                              "organisation": "organisation", "direction": "direction"}
# who handled the work, in words ('work handled by a person after AI'); the codes are connectors.schema.HANDLED_BY
HANDLERS: dict[str, str] = {"ai_agent": "an AI agent", "bot": "a bot", "self_service": "self-service", "ivr": "the IVR",
                            "human": "a person", "human_after_ai": "a person after AI"}
# kinds with display names: bpo.toml declares them ([[client]], [[vendor]], [[site]], [[queue]]) and sources name
# their groups/teams (queue) and agents (the workspace's labels, read for the viewer's scope)
NAMED_KINDS = ("client", "vendor", "site", "queue", "agent")
NO_SEGMENT = "all work in view"


class Shown(Protocol):
    """What a number is, for showing it: a catalog KPI, a review tile (anything with a unit and a format)."""

    @property
    def unit(self) -> str: ...

    @property
    def format(self) -> str: ...


Kpi = Shown | str  # a KPI (or tile) with its format, or just a unit


@dataclass(frozen=True, kw_only=True)
class Names:
    """Display names by id: clients, vendors, sites and queues from bpo.toml, KPI labels from the catalog; and the
    vendor that runs each site, which a site's name brings with it ('Southpeak Kraków' is Southpeak Contact's)."""

    client: Mapping[str, str] = field(default_factory=dict)
    vendor: Mapping[str, str] = field(default_factory=dict)
    site: Mapping[str, str] = field(default_factory=dict)
    queue: Mapping[str, str] = field(default_factory=dict)
    agent: Mapping[str, str] = field(default_factory=dict)
    kpi: Mapping[str, str] = field(default_factory=dict)
    site_vendor: Mapping[str, str] = field(default_factory=dict)  # who runs each site ([[site]] vendor): its vendor's id

    @classmethod
    def of(cls, config: Any, catalog: Any = None, labels: Mapping[str, Mapping[str, str]] | None = None) -> Names:
        """The names a workspace's bpo.toml declares, with the catalog's KPI labels (the shipped catalog by default)
        and `labels` (kind → id → name, as sources name their groups and agents); a name bpo.toml declares wins."""
        raw = getattr(config, "raw", None) or {}
        lists = {"client": getattr(config, "clients", None), "vendor": getattr(config, "vendors", None),
                 "site": getattr(config, "sites", None), "queue": raw.get("queue")}
        declared = {kind: {str(i["id"]): str(i.get("name") or i["id"]) for i in items or () if i.get("id")}
                    for kind, items in lists.items()}
        for kind, found in (labels or {}).items():
            if kind in NAMED_KINDS:
                declared[kind] = {**found, **declared.get(kind, {})}
        site_vendor = {str(i["id"]): str(i["vendor"]) for i in lists["site"] or () if i.get("id") and i.get("vendor")}
        return cls(**declared, kpi=_kpi_labels(catalog), site_vendor=site_vendor)

    @classmethod
    def of_view(cls, ws: Any, scope: Any, catalog: Any = None) -> Names:
        """`of` the workspace's bpo.toml with the source names (groups, teams, agents) the viewer's scope may see."""
        return cls.of(ws.config, catalog, labels=ws.labels(scope))

    def of_kind(self, kind: str) -> Mapping[str, str]:
        """The id → name table of `kind` (empty for kinds that have no declared names)."""
        return getattr(self, kind, {}) if kind in (*NAMED_KINDS, "kpi") else {}


def _kpi_labels(catalog: Any = None) -> dict[str, str]:
    if catalog is None:
        from insights.catalog import load_catalog

        catalog = load_catalog()
    return {name: k.label for name, k in catalog.kpis.items()}


# --------------------------------------------------------------------------- numbers


def of(kpi: str | None, unit: str) -> Kpi:
    """The shipped catalog's KPI named `kpi` (so its format is used), else just `unit`."""
    from insights.catalog import load_catalog

    return load_catalog().kpis.get(kpi or "", unit)


def missing(v: Any) -> bool:
    """True for a value that is not there: None, NaN (or an infinite number, which no one can read)."""
    if v is None:
        return True
    try:
        return not math.isfinite(v)
    except TypeError:  # text, dates: there, and not numbers
        return False


def _unit(kpi: Kpi) -> str:
    return kpi if isinstance(kpi, str) else kpi.unit


def _spec(kpi: Kpi) -> str:
    unit = _unit(kpi)
    spec = "" if isinstance(kpi, str) else (kpi.format or "")
    return spec or DEFAULT_FORMATS.get(unit, ",.2f")


def _minus(text: str) -> str:
    return text.replace("-", MINUS, 1) if text.startswith("-") else text


def duration(seconds: float | None) -> str:
    """Seconds in the one unit that reads best: '42 s', '4.2 min', '2.5 h', '3.1 d' ('–' when missing)."""
    if missing(seconds):
        return EMPTY
    a = abs(float(seconds))  # type: ignore[arg-type]
    for name, size, limit in DURATION_UNITS:
        digits = 0 if name == "s" else 1
        shown = round(a / size, digits)
        if shown < limit:  # 59.97 s rounds to 60 s: that is 1.0 min
            text = f"{a / size:,.{digits}f} {name}"
            return _minus(f"-{text}") if seconds < 0 and shown else text  # type: ignore[operator]
    raise AssertionError("the last duration unit has no limit")


def value(kpi: Kpi, v: float | None) -> str:
    """A KPI's value (`kpi`: the catalog KPI, or just its unit) as people read it: '91.2%', '4.2 min', '1,204'."""
    if missing(v):
        return EMPTY
    if _unit(kpi) == "seconds":
        return duration(v)
    try:
        return _minus(format(v, _spec(kpi)))
    except ValueError:
        return _minus(f"{v:,.2f}")


def _points(kpi: Kpi) -> int:
    """Decimals of a percentage's points: the KPI format's ('.0%' → 0), one by default."""
    m = re.search(r"\.(\d+)%", _spec(kpi))
    return int(m.group(1)) if m else 1


def delta(kpi: Kpi, d: float | None) -> str:
    """A change with its sign: '+1.2 pts' for percentages, '−3.1 min', '+58'; '±0' when it rounds to nothing."""
    if missing(d):
        return EMPTY
    a, unit = abs(float(d)), _unit(kpi)  # type: ignore[arg-type]
    if unit == "percent":
        body = f"{a * 100:.{_points(kpi)}f} pts"
    elif unit == "seconds":
        body = duration(a)
    else:
        body = format(a, _spec(kpi).replace("+", ""))  # the sign is written once, below
    nothing = not any(c in "123456789" for c in body.split(" ")[0])
    sign = "±" if nothing else "+" if d > 0 else MINUS  # type: ignore[operator]
    return f"{sign}{body}"


def magnitude(kpi: Kpi, d: float | None) -> str:
    """A change's size without its sign, for 'rose 6.7 pts' or '14.5 pts short' ('–' when missing)."""
    return EMPTY if missing(d) else delta(kpi, abs(d)).lstrip("+±")  # type: ignore[arg-type]


def interval(kpi: Kpi, lo: float | None, hi: float | None, *, change: bool = False) -> str:
    """'80.1% to 83.9%' (signed changes when `change`: '−2.1 pts to +0.4 pts'); '–' when either end is missing."""
    if missing(lo) or missing(hi):
        return EMPTY
    f = delta if change else value
    return f"{f(kpi, lo)} to {f(kpi, hi)}"


def count(n: float | None) -> str:
    """A count with thousands separators: '1,204' ('–' when missing)."""
    return EMPTY if missing(n) else _minus(f"{n:,.0f}")


def share(x: float | None, digits: int = 1) -> str:
    """A share of a whole as a percentage: '42.0%' ('–' when missing)."""
    return EMPTY if missing(x) else _minus(f"{x:.{digits}%}")


def money(amount: float | None, currency: str = "", *, cents: bool = True) -> str:
    """An amount with its ISO currency: 'USD 2,582.50'; 'USD 2,583' without `cents` ('–' when missing)."""
    if missing(amount):
        return EMPTY
    text = _minus(f"{amount:,.{2 if cents else 0}f}")
    return f"{currency} {text}" if currency else text


def p_value(p: float | None) -> str:
    """A p- or q-value to three significant digits: '0.0123' ('–' when missing)."""
    return EMPTY if missing(p) else f"{p:.3g}"


def text(v: Any) -> str:
    """Any cell as text: '–' for None or NaN, else the value as written."""
    return EMPTY if missing(v) or (isinstance(v, str) and not v.strip()) else str(v)


# --------------------------------------------------------------------------- periods


def period(first: date, grain: str = "week", calendar: Any = None, *, numbered: bool = False) -> str:
    """A period in words, with the reporting calendar it is cut in (`insights.view.Calendar`, its `name`).

    `numbered` adds a week's number: YYYY-Www names the reporting week holding the Monday of ISO week ww
    (with Monday weeks, the ISO week itself; a Sunday week is numbered by the Monday after its Sunday).

    >>> from insights.view import Calendar
    >>> period(date(2026, 11, 1), "week", Calendar(timezone="America/New_York", week_start=6))
    'week of Sun 1 Nov 2026 (America/New_York)'
    >>> period(date(2025, 3, 3), "week", Calendar(), numbered=True)
    'week of Mon 3 Mar 2025 (2025-W10, UTC)'
    >>> period(date(2026, 11, 1), "month"), period(date(2026, 11, 3), "day")
    ('Nov 2026', 'Tue 3 Nov 2026')
    """
    day = f"{first:%a} {first.day} {first:%b %Y}"
    words = {"day": day, "week": f"week of {day}", "month": f"{first:%b %Y}",
             "quarter": f"Q{(first.month - 1) // 3 + 1} {first.year}", "year": f"{first.year}"}.get(grain, day)
    notes = [week_number(first)] if numbered and grain == "week" else []
    name = getattr(calendar, "name", None)
    notes += [name] if name else []
    return f"{words} ({', '.join(notes)})" if notes else words


def week_number(first: date) -> str:
    """'2025-W10': the number of the reporting week starting on `first`, the ISO number of the Monday inside it
    (the first Monday on or after `first`: the ISO week itself for Monday weeks; `--week` reads it back)."""
    y, w, _ = (first + timedelta(days=(7 - first.weekday()) % 7)).isocalendar()
    return f"{y}-W{w:02d}"


# --------------------------------------------------------------------------- labels


def label(kind: str, ident: str | None, names: Names | None = None) -> str:
    """The display name of an id of `kind` (client, vendor, site, queue, kpi, channel ...): a name, never a code."""
    if missing(ident) or ident == "":
        return EMPTY
    ident = str(ident)
    if kind == "kpi":
        table = names.kpi if names is not None and names.kpi else _kpi_labels()
        return table.get(ident) or ident.replace("_", " ")
    found = (names or Names()).of_kind(kind).get(ident)
    if found:
        return found
    if kind in ("handler", "handled_by") and ident in HANDLERS:
        return HANDLERS[ident]
    return ident if kind in NAMED_KINDS else ident.replace("_", " ")


def dimension(column: str) -> str:
    """A segment column in words: 'site_id' → 'site', 'contact_reason' → 'contact reason'."""
    return DIMENSIONS.get(column, column.replace("_", " "))


def part(column: str, ident: str, names: Names | None = None) -> str:
    """One dimension of a segment: 'site Northwind Manila' (a client by its name alone)."""
    kind = dimension(column)
    name = label(kind, ident, names)
    if column == "handled_by":
        return f"work handled by {name}"
    return name if column == "client_id" else f"{kind} {name}"


def segment(seg: Mapping[str, str], names: Names | None = None) -> str:
    """'Acme Home · site Northwind Manila · channel email' ('all work in view' for no segment)."""
    return " · ".join(part(k, v, names) for k, v in seg.items()) or NO_SEGMENT


QUEUE_PARTS = ("client_id", "vendor_id", "site_id", "channel")  # the work a queue holds, when it has no name


def queue(row: Mapping[str, Any], names: Names | None = None) -> str:
    """A queue as people know it: its name (bpo.toml's [[queue]], else the source's group or team name in `names`),
    else the work it holds ('Acme Home · site Northwind Manila · channel voice'; the vendor only where no site names
    it); its id only when the row says nothing else."""
    ident = row.get("queue_id")
    named = (names or Names()).queue.get(str(ident)) if not missing(ident) and ident != "" else None
    if named:
        return named
    work = {k: str(row[k]) for k in QUEUE_PARTS if not missing(row.get(k)) and row.get(k) != ""}
    if "site_id" in work:  # a site's name brings its vendor with it ([[site]] vendor)
        work.pop("vendor_id", None)
    return segment(work, names) if work else label("queue", ident, names)


def filters(chosen: Mapping[str, str], names: Names | None = None) -> str:
    """Filters in force in words: 'client: Acme Home · channel: email' ('' when there are none)."""
    return " · ".join(f"{k}: {label(k, v, names)}" for k, v in chosen.items())


def split_note(dimension: str | None) -> str:
    """Why a chart draws one line per channel (a KPI comparable only within one: catalog `within`)."""
    return f"one line per {dimension}: a figure over all {dimension}s moves with their mix, not with performance"


# --------------------------------------------------------------------------- text from data, shown as typed

ZERO_WIDTH = "\u200b"
# Markdown punctuation escaped with a backslash: emphasis, code, links and images, tables, math, strike, Streamlit's
# ':red[...]' colours (the '[') and headings
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]#|~$])")
# what a GFM renderer turns into a link even when every punctuation mark is escaped ('http://', 'www.', 'a@b.c'), and
# Streamlit's ':material/icon:' shortcodes: a zero-width space breaks each (escapes do not: they resolve first)
AUTOLINK_TRIGGERS = re.compile(r"(?<=:)(?=//|[A-Za-z_]+/)|(?<=@)|(?<=www)(?=\.)", re.IGNORECASE)
# a list item or numbered item at the start of a line
LINE_START = re.compile(r"^(\s*)([-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$)))")
# the only tags a chart keeps (the product's own line breaks, bold and hover boxes); every other '<' is shown as typed
CHART_TAGS = re.compile(r"<(?!/?(?:br|b|i|em|sub|sup|extra)\s*/?>)", re.IGNORECASE)


def markdown(v: Any) -> str:
    """Text from data (a name, an id, a reason, a note, a sentence that quotes them) made to read as typed inside
    Markdown (Streamlit's or a wiki's): no emphasis, heading, list, link, image, autolink, HTML tag, math or icon.

    Line breaks become spaces (a cell, a caption, a label is one line).

    >>> print(markdown("![x](http://evil.example/p.png) <b>*hi*</b>").replace(ZERO_WIDTH, "{zwsp}"))
    !\\[x\\](http:{zwsp}//evil.example/p.png) &lt;b&gt;\\*hi\\*&lt;/b&gt;
    """
    s = re.sub(r"[\r\n\t\f\v]+", " ", text(v))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = MARKDOWN_SPECIALS.sub(r"\\\1", s)
    s = AUTOLINK_TRIGGERS.sub(ZERO_WIDTH, s)
    m = LINE_START.match(s)
    if m:  # '- x' and '1. x' would start a list: escape the marker (or the dot after the number)
        s = (f"{m.group(1)}\\{s[m.end(1):]}" if m.group(2) in "-+"
             else f"{s[:m.end()]}\\{s[m.end():]}")
    return s


def chart_text(v: Any) -> str:
    """Text from data made to read as typed in a Plotly label, legend, tick or hover: every '<' that does not open
    one of the product's own formatting tags (<br>, <b>, <i>, <sub>, <sup>, <extra>) is written '&lt;', so a
    '<a href=...>' planted in a site id shows as typed instead of becoming a link."""
    return CHART_TAGS.sub("&lt;", v) if isinstance(v, str) else v
