"""One HTTP client for every API source: timeouts, retries with a budget, 429 handling, paginators by name.

- 5xx, connection errors and truncated bodies: exponential backoff with jitter;
- 429: wait what `Retry-After` (seconds or an HTTP date) or the rate-limit reset header says;
- 401/403: stop at once and name the environment variable holding the token;
- every retry counts against a per-run budget; when it runs out, `SourceUnreachable` names the
  source, the endpoint, the last status and the fix.

The token lives only in the Authorization header; it is scrubbed from every message we build, in
every form a server may echo it (literal, URL-encoded, base64, JSON-escaped: `connectors.redact.scrub`).
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import logging
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from connectors.base import Endpoint, FieldMap, Page, Stream, dig, to_utc
from connectors.errors import ConfigError, SourceUnreachable
from connectors.redact import scrub

log = logging.getLogger("connectors.http")

RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 524})
RESET_HEADERS = ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")


class AuthError(ConfigError):
    """The API refused the credentials (401/403): fix the token, retrying will not help."""


class RequestError(ConfigError):
    """The API refused the request itself (4xx other than 401/403/429)."""


class MalformedResponse(SourceUnreachable):
    """The API answered with a body that is not the documented JSON, even after retrying."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, retries per run, backoff base/cap, longest honoured wait."""

    attempts: int = 6
    budget: int = 60
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_wait: float = 300.0
    timeout: float = 30.0


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    label: str
    data: Any = None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise MalformedResponse(f"{self.label} returned a malformed page ({type(e).__name__}: {str(e)[:80]})") from None


@dataclass
class HttpClient:
    """A keep-alive connection to one API host, with the retry rules above."""

    base_url: str
    source: str
    token_env: str
    headers: Mapping[str, str] = field(default_factory=dict)  # includes Authorization; never logged
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    secrets: tuple[str, ...] = ()
    sleep: Callable[[float], None] = time.sleep
    retries: Counter = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        u = urlsplit(self.base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"{self.source}: base_url '{self.base_url}' is not an http(s) URL; fix it in bpo.toml")
        self._scheme, self._host, self._port = u.scheme, u.hostname, u.port
        self._prefix = u.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None

    @property
    def retry_count(self) -> int:
        return sum(self.retries.values())

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Response:
        """One logical request, retried under the policy; returns the 2xx response or raises."""
        target = path if path.startswith("/") else "/" + path
        if path.startswith(("http://", "https://")):  # absolute next-page links
            u = urlsplit(path)
            target = u.path + (f"?{u.query}" if u.query else "")
            endpoint = u.path
        else:
            endpoint = target.split("?")[0]
            target = self._prefix + target
            if params:
                target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        label = self._scrub(f"{self.source}: {method} {endpoint}")
        data = None if body is None else json.dumps(body).encode()
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                resp = self._once(method, target, data, label)
            except (OSError, http.client.HTTPException) as e:
                last = f"could not connect to {self._host}:{self._port or ''} ({type(e).__name__}: {self._scrub(str(e))[:80]})"
                wait = self._backoff(attempt)
                reason = "connection"
            else:
                if 200 <= resp.status < 300:
                    if attempt > 1:
                        log.info("%s succeeded after %d attempts", label, attempt)
                    try:
                        resp.data = resp.json()
                    except MalformedResponse:
                        last = "returned a malformed page (body is not valid JSON)"
                        reason = "malformed"
                        if attempt >= min(3, self.policy.attempts):
                            raise MalformedResponse(f"{label} returned a malformed page (body is not valid JSON) "
                                                    f"{attempt} times; the cursor was not advanced past the last "
                                                    f"stored batch: report it to the vendor or retry later") from None
                        wait = self._backoff(attempt)
                        self._spend(label, reason, wait, last)
                        continue
                    return resp
                if resp.status in (401, 403):
                    raise AuthError(f"{label} returned {resp.status}: check the token in ${self.token_env}")
                if resp.status == 429:
                    wait = self._rate_limit_wait(resp)
                    if wait > self.policy.max_wait:
                        raise SourceUnreachable(
                            f"{label} returned 429 and asks to wait {wait:.0f} s (more than the {self.policy.max_wait:.0f} s "
                            f"we wait): the API quota is used up; run the sync again after the reset")
                    last, reason = "returned 429 (rate limited)", "429"
                elif resp.status in RETRY_STATUSES:
                    last, reason = f"returned {resp.status}", str(resp.status)
                    wait = self._backoff(attempt)
                else:
                    detail = self._scrub(resp.body[:200].decode("utf-8", "replace")).strip()
                    hint = "check subdomain/base_url in bpo.toml" if resp.status == 404 else "check the source settings in bpo.toml"
                    raise RequestError(f"{label} returned {resp.status} ({detail}): {hint}")
            if attempt == self.policy.attempts:
                break
            self._spend(label, reason, wait, last)
        raise SourceUnreachable(
            f"{label} {last} after {self.policy.attempts} attempts ({self.retry_count} retries this run): "
            f"the source is down or overloaded; run 'bpo-insights sync {self.source}' again later "
            f"(the cursor is kept, nothing is lost)")

    def _spend(self, label: str, reason: str, wait: float, last: str) -> None:
        if self.retry_count >= self.policy.budget:
            raise SourceUnreachable(
                f"{label} {last}; the retry budget of {self.policy.budget} retries for this run is used up: "
                f"the source is failing or rate-limiting; run 'bpo-insights sync {self.source}' again later "
                f"(the cursor is kept, nothing is lost)")
        self.retries[reason] += 1
        log.warning("%s %s; retry in %.2f s", label, last, wait)
        self.sleep(wait)

    def _once(self, method: str, target: str, data: bytes | None, label: str) -> Response:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.policy.timeout)
        headers = {"Accept": "application/json", "User-Agent": "bpo-insights", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.requests += 1
        try:
            self._conn.request(method, target, body=data, headers=headers)
            r = self._conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException, socket.timeout):
            self.close()
            raise
        if r.getheader("connection", "").lower() == "close" or r.will_close:
            self.close()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, body, label)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _backoff(self, attempt: int) -> float:
        base = min(self.policy.max_backoff, self.policy.backoff * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)

    def _rate_limit_wait(self, resp: Response) -> float:
        ra = resp.headers.get("retry-after")
        if ra:
            ra = ra.strip()
            if re.fullmatch(r"\d+(\.\d+)?", ra):
                return float(ra)
            try:
                when = email.utils.parsedate_to_datetime(ra).timestamp()
                return max(0.0, when - time.time())
            except (TypeError, ValueError):
                pass
        for h in RESET_HEADERS:
            v = resp.headers.get(h)
            if v and re.fullmatch(r"\d+(\.\d+)?", v.strip()):
                x = float(v)
                # an epoch (Intercom) or a number of seconds (IETF draft)
                return max(0.0, x - time.time()) if x > 1e9 else x
        return self._backoff(self.retries["429"] + 1)

    def _scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    # ---- pagination

    def pages(self, endpoint: Endpoint, params: Mapping[str, Any]) -> Iterator[tuple[Response, Any]]:
        """Every page of `endpoint` from `params`, following the paginator the endpoint names."""
        return PAGINATORS[endpoint.paginator](self, endpoint, dict(params))


def _records(endpoint: Endpoint, data: Any, label: str) -> list:
    recs = data if endpoint.data_key is None else (data.get(endpoint.data_key) if isinstance(data, dict) else None)
    if not isinstance(recs, list):
        raise MalformedResponse(f"{label} returned a malformed page: expected a list under "
                                f"'{endpoint.data_key or '(top level)'}', got {type(recs).__name__}; the cursor was not advanced")
    return recs


def _cursor_pages(client: HttpClient, ep: Endpoint, params: dict) -> Iterator[tuple[Response, Any]]:
    """Zendesk-style cursor pagination: `after_cursor` until `end_of_stream` (or `meta.has_more` false)."""
    while True:
        r = client.request(ep.method, ep.path, params)
        data = r.data
        _records(ep, data, r.label)
        yield r, data
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        if "end_of_stream" in data:
            done, nxt = bool(data["end_of_stream"]), data.get("after_cursor")
        else:
            done, nxt = not meta.get("has_more"), meta.get("after_cursor")
        if done or not nxt:
            return
        params = {k: v for k, v in params.items() if k not in (ep.cursor_param, "page[after]")}
        params["cursor" if "end_of_stream" in data else "page[after]"] = nxt


_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _link_pages(client: HttpClient, ep: Endpoint, params: dict) -> Iterator[tuple[Response, Any]]:
    """RFC 8288 `Link: <...>; rel="next"` pagination (Freshdesk, GitHub-style APIs)."""
    r = client.request(ep.method, ep.path, params)
    while True:
        data = r.data
        _records(ep, data, r.label)
        yield r, data
        m = _LINK_NEXT.search(r.headers.get("link", ""))
        if not m:
            return
        r = client.request(ep.method, m.group(1))


def _page_number_pages(client: HttpClient, ep: Endpoint, params: dict) -> Iterator[tuple[Response, Any]]:
    """`page=1,2,...` until a short or empty page."""
    page = int(params.pop("page", 1))
    while True:
        r = client.request(ep.method, ep.path, {**params, "page": page})
        data = r.data
        recs = _records(ep, data, r.label)
        yield r, data
        if len(recs) < ep.page_size:
            return
        page += 1


def _search_cursor_pages(client: HttpClient, ep: Endpoint, params: dict) -> Iterator[tuple[Response, Any]]:
    """Intercom search: POST the query, then `pagination.starting_after` from `pages.next`."""
    body = dict(params)
    while True:
        r = client.request("POST", ep.path, None, body)
        data = r.data
        _records(ep, data, r.label)
        yield r, data
        nxt = ((data.get("pages") or {}).get("next") or {}) if isinstance(data.get("pages"), dict) else {}
        after = nxt.get("starting_after") if isinstance(nxt, dict) else None
        if not after:
            return
        body = {**body, "pagination": {**(body.get("pagination") or {}), "starting_after": after}}


def _single_page(client: HttpClient, ep: Endpoint, params: dict) -> Iterator[tuple[Response, Any]]:
    r = client.request(ep.method, ep.path, params)
    _records(ep, r.data, r.label)
    yield r, r.data


PAGINATORS: dict[str, Callable[[HttpClient, Endpoint, dict], Iterator[tuple[Response, Any]]]] = {
    "cursor": _cursor_pages,
    "link-header": _link_pages,
    "page-number": _page_number_pages,
    "search-cursor": _search_cursor_pages,
    "none": _single_page,
}


def records_of(endpoint: Endpoint, data: Any, label: str) -> list:
    """The record list of a page body (checked: a page without it is malformed)."""
    return _records(endpoint, data, label)


# --------------------------------------------------------------------------- HTTP sources


class HttpSource:
    """A source made of `Endpoint`s: the vendor subclass declares endpoints and field maps, and may
    override `prepare` (sideloads) or `since_param` (the vendor's time format and limits)."""

    system: str = "http"
    endpoints: dict[str, Endpoint] = {}
    mappings: dict[str, FieldMap] = {}
    patches: frozenset[str] = frozenset()
    # kind of id (queue: groups or teams; agent) -> the endpoint listing their names (see `names`)
    name_endpoints: dict[str, Endpoint] = {}

    def __init__(self, name: str, client: HttpClient, *, page_size: int | None = None) -> None:
        self.name = name
        self.client = client
        self.page_size = page_size

    def streams(self) -> tuple[Stream, ...]:
        return tuple(Stream(n, self.mappings[n], patch=n in self.patches) for n in self.endpoints)

    def params(self, endpoint: Endpoint, since: datetime) -> dict[str, Any]:
        """First request's parameters: the endpoint's own, the incremental start, the page size."""
        p: dict[str, Any] = dict(endpoint.params)
        if endpoint.cursor_param:
            p[endpoint.cursor_param] = int(since.timestamp()) if endpoint.cursor_format == "epoch" else iso_seconds(since)
        if endpoint.page_size_param:
            p[endpoint.page_size_param] = self.page_size or endpoint.page_size
        return p

    def read(self, stream: str, since: datetime) -> Iterator[Page]:
        ep = self.endpoints[stream]
        for resp, data in self.client.pages(ep, self.params(ep, since)):
            yield self.page(stream, resp, data)

    def page(self, stream: str, resp: Response, data: Any) -> Page:
        ep = self.endpoints[stream]
        recs = self.prepare(stream, data, records_of(ep, data, resp.label))
        return Page(recs, position_of(recs, ep.cursor_field), resp.label)

    def prepare(self, stream: str, data: Any, records: list[dict]) -> list[dict]:
        """Hook for sideloads and reshaping; the default keeps the records as they are."""
        return records

    def names(self, kind: str) -> dict[str, str]:
        """The source's display names of one kind of id (`NAME_KINDS`): id → name, as its stores the ids.

        Read whole on every sync (a few hundred groups and agents); nothing when the source lists none."""
        ep = self.name_endpoints.get(kind)
        if ep is None:
            return {}
        out: dict[str, str] = {}
        for resp, data in self.client.pages(ep, self.params(ep, datetime.now(timezone.utc))):
            for r in records_of(ep, data, resp.label):
                got = self.name_of(kind, r) if isinstance(r, dict) else None
                if got is not None:
                    out[got[0]] = got[1]
        return out

    def name_of(self, kind: str, record: dict) -> tuple[str, str] | None:
        """(id, name) of one record of a names endpoint (`id` and `name` by default); None when either is missing."""
        return id_and_name(record.get("id"), record.get("name"))

    def stats(self) -> dict[str, int]:
        return {"requests": self.client.requests, **{f"retries_{k}": v for k, v in self.client.retries.items()}}

    def close(self) -> None:
        self.client.close()


NAME_KINDS = ("queue", "agent")  # the ids a source's names are read for: its groups or teams, and its agents


def id_and_name(ident: Any, name: Any) -> tuple[str, str] | None:
    """An id as the canonical tables store it (2.0 and "2" are "2") with its trimmed name; None when either is missing."""
    if ident is None or isinstance(ident, (bool, dict, list)) or not isinstance(name, str) or not name.strip():
        return None
    text = str(int(ident)) if isinstance(ident, float) and ident.is_integer() else str(ident)
    return text, name.strip()


def position_of(records: list[dict], cursor_field: str) -> datetime | None:
    """The furthest stream position in a page (records with an unreadable position are ignored)."""
    parts = cursor_field.split(".")
    best: datetime | None = None
    for r in records:
        v = dig(r, parts)
        if v is None:
            continue
        try:
            d = to_utc(v)
        except (TypeError, ValueError, OverflowError):
            continue
        if best is None or d > best:
            best = d
    return best


def iso_seconds(d: datetime) -> str:
    """UTC timestamp with second precision and a Z, the form vendor APIs accept."""
    return d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True, kw_only=True)
class Vendor:
    """What the sync engine needs to know of an API vendor: its `[[source]]` keys, auth, address, constructor.

    Each vendor file ends with one `VENDOR = Vendor(...)`; `connectors.vendors.SOURCES` lists them by kind.
    """

    kind: str
    keys: frozenset[str]  # its own `[[source]]` keys, beside the common ones
    auth_header: Callable[[dict, str], str]
    base_url: Callable[[dict], str | None]
    build: Callable[[str, HttpClient, dict, int | None], HttpSource]
    extra_headers: Callable[[dict], dict[str, str]] = lambda settings: {}
    check: Callable[[dict], list[str]] = lambda settings: []  # problems of its own keys, each with the fix
