"""The Weekly review page in AppTest on the tiny workspace: how its charts draw KPIs comparable only within a channel."""

from __future__ import annotations

import json


def test_the_first_response_median_is_charted_per_channel_with_a_note(open_app):
    at = open_app("admin", query={"client": "acme"})
    figures = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
               for c in at.get("plotly_chart")}
    frt = figures["First response time (median)"]
    shown = {t["name"] for t in frt["data"] if t.get("visible", True) is True and t.get("showlegend", True)}
    assert shown == {"chat", "email", "voice"}
    assert "one line per channel" in frt["layout"]["title"]["subtitle"]["text"]
    assert any(c.value.startswith("First response time (median): one line per channel") for c in at.caption)


def test_one_channel_in_view_keeps_one_line(open_app):
    at = open_app("admin", query={"client": "acme", "channel": "email"})
    figures = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
               for c in at.get("plotly_chart")}
    assert "this year" in {t["name"] for t in figures["First response time (median)"]["data"]}


def test_a_vendor_account_manager_is_told_the_view_holds_only_its_vendors_work(open_app):
    at = open_app("northwind-am")
    assert "Northwind BPO's work only: other vendors' work for these clients is not in this view" in at.caption[0].value
    assert "all work in your view" not in at.caption[0].value
