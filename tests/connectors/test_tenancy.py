"""Metadata rows (events, pilots, contract targets) reach only viewers who may see every tenant they name."""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest

from connectors.store import Workspace
from insights.analyses.pilots import PilotError, evaluate_pilot, load_pilots

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import tiny  # noqa: E402 - acme served by northwind (nw-manila) and southpeak (sp-austin), globex by eastbay

VIEWERS = ("admin", "acme-manager", "globex-manager", "northwind-am", "southpeak-am", "eastbay-am")
EXTRA_USERS = "".join(f'[[user]]\nname = "{v}-am"\nrole = "vendor"\nclients = ["*"]\nvendors = ["{v}"]\n'
                      for v in ("southpeak", "eastbay"))
STAMP = datetime(2025, 3, 10, tzinfo=timezone.utc)
LINEAGE = dict(source_system="test", source_instance="tenancy", ingested_at=STAMP, updated_at=STAMP)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    ws = Workspace.create(tmp_path_factory.mktemp("tenancy") / "ws", tiny.TOML + EXTRA_USERS + """
[[pilot]]
name = "globex krakow pilot"
scope = { client_id = "globex", vendor_id = "eastbay" }
start = 2024-10-07
[[pilot]]
name = "pilot naming no client"
scope = { site_id = "nw-manila" }
start = 2024-10-07
""")
    ws.upsert("tickets", tiny.tickets())
    ws.upsert("sla_targets", pl.concat([tiny.sla_targets(), pl.DataFrame([dict(
        target_id="globex-eastbay-frt", client_id="globex", vendor_id="eastbay", metric="sla_first_response",
        effective_from=date(2024, 1, 1), attainment_target=0.8, **LINEAGE)])], how="diagonal_relaxed"))
    ws.upsert("events", pl.DataFrame([dict(event_id=c.id, name=c.id, kind=c.kind, client_id=c.client, vendor_id=c.vendor,
                                           site_id=c.site, start_date=date(2024, 12, 2), **LINEAGE) for c in EVENTS]))
    return ws


class Event(NamedTuple):
    id: str
    kind: str
    client: str | None
    vendor: str | None
    site: str | None
    seen_by: tuple[str, ...]


EVENTS = (
    Event("public-holiday", "holiday", None, None, None, VIEWERS),
    Event("no-tenant-not-a-holiday", "promotion", None, None, None, ("admin",)),
    Event("vendor-pilot-without-client", "pilot", None, "northwind", "nw-manila", ("admin",)),
    Event("site-without-client", "outage", None, None, "sp-austin", ("admin",)),
    Event("acme-wide", "promotion", "acme", None, None, ("admin", "acme-manager", "northwind-am", "southpeak-am")),
    Event("globex-wide", "promotion", "globex", None, None, ("admin", "globex-manager", "eastbay-am")),
    Event("acme-at-another-vendors-site", "outage", "acme", None, "sp-austin", ("admin", "acme-manager", "southpeak-am")),
    Event("acme-northwind", "pilot", "acme", "northwind", None, ("admin", "acme-manager", "northwind-am")),
    Event("undeclared-site", "outage", "globex", None, "zz-globex-only-site", ("admin", "globex-manager")),
    Event("vendor-and-site-disagree", "outage", "acme", "northwind", "sp-austin", ("admin", "acme-manager")),
)


def _scope(ws, viewer):
    return ws.config.user(viewer).scope


@pytest.mark.parametrize("event", [pytest.param(e, id=e.id) for e in EVENTS])
def test_an_event_reaches_only_the_viewers_of_every_tenant_it_names(ws, event):
    seen = tuple(v for v in VIEWERS if event.id in ws.read("events", _scope(ws, v))["event_id"].to_list())
    assert seen == event.seen_by


@pytest.mark.parametrize(("viewer", "targets"), [
    pytest.param("admin", ["acme-frt", "globex-eastbay-frt", "globex-frt"], id="admin"),
    pytest.param("acme-manager", ["acme-frt"], id="brand"),
    pytest.param("northwind-am", ["acme-frt"], id="vendor-serving-acme-only"),
    pytest.param("southpeak-am", ["acme-frt"], id="vendor-serving-acme-here"),
    pytest.param("eastbay-am", ["globex-eastbay-frt", "globex-frt"], id="vendor-serving-globex"),
])
def test_a_vendor_sees_the_targets_of_the_clients_it_serves_only(ws, viewer, targets):
    assert sorted(ws.read("sla_targets", _scope(ws, viewer))["target_id"]) == targets


def test_data_health_counts_only_the_targets_a_vendor_may_see(ws):
    counts = dict(ws.table_summary(_scope(ws, "northwind-am")).select("table", "rows").iter_rows())
    assert counts["sla_targets"] == 1 and counts["events"] == 3  # acme's target; the holiday, acme-wide, its own pilot


@pytest.mark.parametrize(("viewer", "pilots"), [
    pytest.param("admin", ["acme-northwind", "globex krakow pilot", "pilot naming no client",
                           "vendor-pilot-without-client"], id="admin"),
    pytest.param("acme-manager", ["acme-northwind"], id="brand"),
    pytest.param("globex-manager", ["globex krakow pilot"], id="other-brand"),
    pytest.param("northwind-am", ["acme-northwind"], id="vendor"),
    pytest.param("eastbay-am", ["globex krakow pilot"], id="competitor"),
])
def test_pilots_in_events_and_bpo_toml_are_listed_to_their_tenants_only(ws, viewer, pilots):
    assert sorted(load_pilots(ws, _scope(ws, viewer))) == pilots


def test_a_pilot_out_of_scope_is_not_named_in_the_error(ws):
    with pytest.raises(PilotError, match="no pilot named 'acme-northwind' in scope; defined pilots: globex krakow pilot "):
        evaluate_pilot(ws, _scope(ws, "globex-manager"), "acme-northwind")


def test_the_samples_coaching_pilot_is_acmes(tmp_path):
    from sample_data.generator import generate

    generate(tmp_path / "ws", weeks=14, scale=0.02, seed=7)
    sample = Workspace.open(tmp_path / "ws")
    pilots = sample.read("events", _scope(sample, "admin")).filter(pl.col("kind") == "pilot")
    assert pilots.select("name", "client_id", "vendor_id", "site_id").rows() == [
        ("nw-bogota coaching pilot", "acme", "northwind", "nw-bogota")]
    assert list(load_pilots(sample, _scope(sample, "acme-manager"))) == ["nw-bogota coaching pilot"]
    assert list(load_pilots(sample, _scope(sample, "globex-manager"))) == []
