"""Which viewers get a vendor's work scanned across the clients it serves (issue 11: detection where a BPO account
manager looks): only those whose scope holds every client, so a vendor (and each of its sites) in view is seen
whole."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from connectors.store import Scope
from insights.detection.scan import cross_client_levels

CLIENTS = frozenset({"acme", "globex"})
BOTH_LEVELS = [("vendor_id",), ("vendor_id", "site_id"), ("vendor_id", "channel"), ("vendor_id", "site_id", "channel")]


class Case(NamedTuple):
    scope: Scope
    fixed: tuple[str, ...]
    levels: list[tuple[str, ...]]


@pytest.mark.parametrize("case", [
    pytest.param(Case(Scope.everything(), (), BOTH_LEVELS), id="admin"),
    pytest.param(Case(Scope.of(clients="*", vendors=["southpeak"]), (), BOTH_LEVELS), id="vendor-am-every-client"),
    pytest.param(Case(Scope.of(clients=["acme", "globex"]), (), BOTH_LEVELS), id="brand-holding-every-client"),
    pytest.param(Case(Scope.of(clients=["acme"]), (), []), id="brand-of-one-client-sees-no-other-clients-work"),
    pytest.param(Case(Scope.of(clients=["globex"], vendors=["southpeak"]), (), []), id="vendor-am-of-one-client"),
    pytest.param(Case(Scope.everything(), ("channel",), [("vendor_id", "channel"), ("vendor_id", "site_id", "channel")]),
                 id="channel-filter-kept"),
    pytest.param(Case(Scope.everything(), ("site_id", "channel"), [("vendor_id", "site_id", "channel")]),
                 id="site-and-channel-filters-kept"),
    pytest.param(Case(Scope.everything(), ("site_id",), [("vendor_id", "site_id"), ("vendor_id", "site_id", "channel")]),
                 id="site-filter-kept"),
])
def test_a_vendor_is_scanned_across_clients_only_for_viewers_who_see_every_client(case):
    assert cross_client_levels(CLIENTS, case.scope, case.fixed) == case.levels


def test_a_workspace_declaring_no_clients_scans_across_clients_only_for_an_unrestricted_scope():
    assert cross_client_levels(frozenset(), Scope.everything(), ()) == BOTH_LEVELS
    assert cross_client_levels(frozenset(), Scope.of(clients=["acme"]), ()) == []


def test_a_lane_that_serves_one_client_is_not_scanned_again_across_clients():
    """Southpeak's social work is all Globex's: scanned under 'vendor Southpeak · social' it told Globex's social
    finding a second time, with the same numbers, under another name (seen in the latest sample week)."""
    import polars as pl

    from insights.detection.scan import cross_key, serving_several

    daily = pl.DataFrame({"client_id": ["acme", "globex", "globex", "acme"],
                          "site_id": ["sp-austin", "sp-austin", "sp-krakow", "nw-manila"],
                          "channel": ["voice", "voice", "social", "email"]})
    several = serving_several(daily, {"sp-austin": "southpeak", "sp-krakow": "southpeak", "nw-manila": "northwind"})
    assert cross_key({"vendor_id": "southpeak"}) in several
    assert cross_key({"vendor_id": "southpeak", "channel": "voice"}) in several
    assert cross_key({"vendor_id": "southpeak", "site_id": "sp-austin", "channel": "voice"}) in several
    assert cross_key({"vendor_id": "southpeak", "channel": "social"}) not in several
    assert cross_key({"vendor_id": "southpeak", "site_id": "sp-krakow"}) not in several
    assert cross_key({"vendor_id": "northwind"}) not in several
