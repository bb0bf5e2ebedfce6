"""Every API vendor is one file in connectors/vendors/, listed in SOURCES, and runs the shared engine suite.

The shared suite (tests/connectors/test_sync_vendors.py) checks what every connector owes its users:
every record stored once, incremental and idempotent syncs, resumable after a kill, retries honest
about 429/5xx, malformed pages refused with the cursor kept, and secrets never reaching logs, the
store or errors. A vendor added to SOURCES without a fake API and that suite fails here.
"""
from __future__ import annotations

import importlib

import pytest

from connectors.store.config import SOURCE_KEYS, source_kind_keys
from connectors.vendors import SOURCES
from fake_apis.gorgias import GORGIAS
from fake_apis.harness import VENDORS
from fake_apis.intercom import INTERCOM

# kind -> (the fake vendor, the test module that collects the shared suite against it)
FAKES = {**{v.kind: (v, "test_sync_vendors") for v in VENDORS},
         INTERCOM.kind: (INTERCOM, "test_intercom"), GORGIAS.kind: (GORGIAS, "test_gorgias")}
SHARED_SUITE = (
    "test_full_sync_stores_every_ticket_once",
    "test_incremental_sync_picks_up_exactly_the_changes",
    "test_rerun_is_a_no_op",
    "test_rate_limited_and_failing_sync_finishes_and_reports_its_retries",
    "test_missing_token_variable_is_a_config_error",
    "test_retry_budget_caps_retries_across_requests",
    "test_malformed_page_is_a_clear_error_and_keeps_the_cursor",
    "test_token_never_reaches_logs_store_or_state",
    "test_cli_sync_prints_one_line_and_exits_with_the_report_code",
)


def test_every_registered_vendor_has_a_fake_api_and_every_fake_a_vendor() -> None:
    assert set(SOURCES) == set(FAKES)


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_the_shared_suite_runs_against_every_vendor(kind: str) -> None:
    fake, module_name = FAKES[kind]
    module = importlib.import_module(module_name)
    missing = [name for name in SHARED_SUITE if not callable(getattr(module, name, None))]
    assert not missing, f"{module_name} does not collect the shared suite's {missing} against {kind}"
    assert fake.kind == kind


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_vendor_declares_its_keys_and_says_where_its_account_lives(kind: str) -> None:
    vendor = SOURCES[kind]
    assert "token_env" in vendor.keys and "base_url" in vendor.keys
    assert source_kind_keys()[kind] == vendor.keys and not (vendor.keys & set(SOURCE_KEYS))
    assert vendor.base_url({"base_url": "http://127.0.0.1:9"}) == "http://127.0.0.1:9"
    assert vendor.check({"base_url": "http://127.0.0.1:9", "email": "ops@acme.example"}) == []
    problems = vendor.check({})
    assert vendor.base_url({}) is not None or any("base_url" in p for p in problems)
