"""The HTTP client: rate-limit headers, retry caps, paginators chosen by name, secrets scrubbed."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from connectors.base import Endpoint
from connectors.errors import SourceUnreachable
from connectors.http import AuthError, HttpClient, RetryPolicy
from fake_apis.server import FakeApi, Reply

ITEMS = list(range(1, 8))


class Pages(FakeApi):
    """A generic API: page-number, Intercom-style search, and rate-limit replies on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.limit_reply: dict[str, str] | None = None

    def authorized(self, header: str) -> bool:
        return header == "Bearer good-token"

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if self.limit_reply is not None:
            headers, self.limit_reply = self.limit_reply, None
            return Reply(429, {"errors": [{"code": "rate_limit_exceeded"}]}, headers)
        if path == "/numbered":
            page, size = int(query["page"][0]), 3
            return Reply(200, {"items": ITEMS[(page - 1) * size: page * size]}, {})
        if path == "/conversations/search":
            after = int((body.get("pagination") or {}).get("starting_after") or 0)
            chunk = [i for i in ITEMS if i > after][:3]
            more = chunk and chunk[-1] < ITEMS[-1]
            return Reply(200, {"conversations": chunk, "pages": {"next": {"starting_after": str(chunk[-1])} if more else None}}, {})
        return Reply(404, {"error": "not found"}, {})


@pytest.fixture
def api():
    server = Pages().start()
    yield server
    server.stop()


def client(api: FakeApi, token: str = "good-token", **policy: Any) -> HttpClient:
    return HttpClient(api.url, "test-src", "TEST_TOKEN", headers={"Authorization": f"Bearer {token}"},
                      policy=RetryPolicy(backoff=0.01, **policy), secrets=(token,))


@pytest.mark.parametrize(("paginator", "path", "data_key", "params"), [
    pytest.param("page-number", "/numbered", "items", {}, id="page-number"),
    pytest.param("search-cursor", "/conversations/search", "conversations", {"query": {"field": "updated_at"}}, id="search-cursor"),
])
def test_paginators_by_name_return_every_item_once(api, paginator, path, data_key, params):
    ep = Endpoint(path, data_key=data_key, paginator=paginator, page_size=3)
    got = [i for _, data in client(api).pages(ep, params) for i in data[data_key]]
    assert got == ITEMS


@pytest.mark.parametrize(("headers", "at_least"), [
    pytest.param({"Retry-After": "1"}, 0.9, id="retry-after-seconds"),
    pytest.param({"Retry-After": "DATE"}, 0.5, id="retry-after-http-date"),
    pytest.param({"X-RateLimit-Reset": "EPOCH"}, 0.5, id="intercom-reset-epoch"),
])
def test_rate_limit_waits_as_the_headers_say(api, headers, at_least):
    reset = time.time() + 1.5
    api.limit_reply = {k: v.replace("DATE", email.utils.formatdate(reset, usegmt=True)).replace("EPOCH", str(int(reset) + 1))
                       for k, v in headers.items()}
    c = client(api)
    t0 = time.perf_counter()
    c.request("GET", "/numbered", {"page": 1})
    assert time.perf_counter() - t0 >= at_least
    assert c.retries["429"] == 1


def test_a_wait_longer_than_allowed_is_reported_not_slept(api):
    api.limit_reply = {"Retry-After": "3600"}
    with pytest.raises(SourceUnreachable, match=r"test-src: GET /numbered returned 429 and asks to wait 3600 s"):
        client(api, max_wait=60).request("GET", "/numbered", {"page": 1})


def test_unreachable_host_names_the_fix_after_capped_attempts():
    c = HttpClient("http://127.0.0.1:9", "test-src", "TEST_TOKEN", policy=RetryPolicy(attempts=3, backoff=0.01))
    with pytest.raises(SourceUnreachable, match=r"could not connect to 127\.0\.0\.1:9 .* after 3 attempts"):
        c.request("GET", "/numbered")
    assert c.retry_count == 2


def test_401_stops_at_once_without_echoing_the_token(api):
    c = client(api, token="very-secret-value")
    with pytest.raises(AuthError, match=r"returned 401: check the token in \$TEST_TOKEN") as e:
        c.request("GET", "/numbered", {"page": 1})
    assert "very-secret-value" not in str(e.value) and c.requests == 1
