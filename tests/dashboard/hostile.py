"""A workspace whose labels attack every surface: Markdown and HTML in an event's name, a URL and a formula in a
site id, a formula in a queue name, a command in a contact reason (tiny's planted-miss workspace otherwise).

Every page, chart, export and CSV must show these as typed: no image fetched, no link, no tag, no formula.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import polars as pl

import tiny
from connectors.store import Workspace

EVENT_NAME = "![x](http://evil.example/p.png) <img src=x onerror=alert(1)> [click](http://evil.example)"
SITE = '@SUM(1) http://evil.example/site <a href="http://evil.example/a">www.evil.example</a>'  # a URL, a tag, a formula
QUEUE = '=HYPERLINK("http://evil.example","x")'
REASON = "+cmd|' /C calc'!A0"
NOTE = "<b>bold</b> **strong** _em_ `code` $x^2$ :red[red] # heading mail@evil.example"
FORMULAS = (SITE, QUEUE, REASON)


def tickets() -> pl.DataFrame:
    """tiny's planted tickets with southpeak's site, acme's queue and a contact reason replaced by hostile labels."""
    t = tiny.planted_tickets()
    return t.with_columns(
        pl.when(pl.col("site_id") == "sp-austin").then(pl.lit(SITE)).otherwise(pl.col("site_id")).alias("site_id"),
        pl.when(pl.col("queue") == "acme-support").then(pl.lit(QUEUE)).otherwise(pl.col("queue")).alias("queue"),
        pl.lit(REASON).alias("contact_reason"),
    )


def events() -> pl.DataFrame:
    """One acme event in the review week, named by the attacker (and one described with Markdown)."""
    base = {"source_system": "csv", "source_instance": "tiny", "client_id": "acme", "vendor_id": None, "site_id": None,
            "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST, "end_date": None, "channel": None}
    return pl.DataFrame([
        {**base, "event_id": "evil-1", "kind": "launch", "name": EVENT_NAME, "start_date": tiny.REVIEW_WEEK,
         "description": NOTE},
        {**base, "event_id": "evil-2", "kind": "outage", "name": NOTE, "start_date": tiny.REVIEW_WEEK - timedelta(weeks=3),
         "description": EVENT_NAME},
    ])


def build(path: Path) -> Workspace:
    """Create the hostile workspace at `path`."""
    ws = Workspace.create(path, tiny.TOML)
    ws.upsert("tickets", tickets())
    ws.upsert("sla_targets", tiny.sla_targets())
    ws.upsert("events", events())
    return ws


# --------------------------------------------------------------------------- what a surface must not contain

# a Markdown link or image not written as typed: '[text](' or '![alt](' with no backslash before the brackets
MD_LINK = re.compile(r"(?<!\\)\[(?:[^\]\\]|\\.)*(?<!\\)\]\(")
# what a GitHub-flavoured renderer turns into a link by itself, and Streamlit's ':material/...:' icons
AUTOLINK = re.compile(r"https?://|www\.|[\w.+-]+@[\w-]+\.\w|:material/", re.IGNORECASE)
# an HTML tag that loads, links or runs something
HTML_TAG = re.compile(r"<\s*(?:img|a|script|iframe|svg|image|object|embed|link)\b", re.IGNORECASE)


def markdown_hazards(text: str) -> list[str]:
    """What in Markdown source would render as a link, an image, an autolink, an icon or a live HTML tag."""
    return [m.group(0) for rx in (MD_LINK, AUTOLINK, HTML_TAG) for m in rx.finditer(text)]


def chart_hazards(text: str) -> list[str]:
    """What in a Plotly text would render as a link or an image (Plotly renders <a href> and styles, not <img>)."""
    return [m.group(0) for m in re.finditer(r"<\s*(?:a|img|span|font)\b", text, re.IGNORECASE)]
