"""Open one of the dashboard's pages in AppTest as a viewer, with the URL's query parameters."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = {"sla_trends": "views/sla_trends.py", "vendors_sites": "views/vendors_sites.py",
         "quality": "views/quality.py", "insights": "views/insights_page.py"}
TITLES = {"sla_trends": "SLA trends", "vendors_sites": "Vendors & sites", "quality": "Quality & coaching",
          "insights": "Insights"}
USERS = ("admin", "acme-manager", "globex-manager", "northwind-am", "initech-manager")
TIMEOUT = 90


def open_page(monkeypatch, ws, user: str, page: str, query: dict[str, str] | None = None) -> AppTest:
    """Run the entry script for `user` on `ws`, then switch to `page`."""
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", user)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    return at.switch_page(PAGES[page]).run()


def frame(at: AppTest, key: str):
    """The pandas frame of the dataframe element with `key`."""
    return next(d.value for d in at.dataframe if d.proto.id and key in d.proto.id)
