"""Sending the review out: SMTP mail and chat webhooks (Slack, Microsoft Teams), and the log of what was sent.

The message is built elsewhere (`insights.export.delivery`); this module only moves bytes and keeps
`delivery_log` in state.db.  Secrets stay here: the SMTP password and the webhook URLs are read from the
environment variables bpo.toml names, used, and never put into a message, an error or a log
(`Outbox.scrub` removes them, URL-encoded forms included, from any text that leaves).

A webhook's format is chosen by its URL's host (hooks.slack.com: Slack; *.webhook.office.com,
*.logic.azure.com, *.powerplatform.com: Teams), else by `[delivery] webhook_format = { VAR = "teams" }`.
"""
from __future__ import annotations

import fcntl
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.errors import BpoError
from connectors.store import Delivery, delivery_log

TIMEOUT_SECONDS = 30
SLACK_HOSTS = ("hooks.slack.com",)
TEAMS_HOST_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".powerplatform.com", "outlook.office.com")
HIDDEN = "***"


class DeliveryError(BpoError):
    """A message could not be sent (server down or refusing, settings missing); nothing was recorded as sent."""


def format_of_url(url: str) -> str | None:
    """'slack' or 'teams' by the webhook URL's host; None when the host does not say."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in SLACK_HOSTS:
        return "slack"
    if any(host.endswith(s) or host == s.lstrip(".") for s in TEAMS_HOST_SUFFIXES):
        return "teams"
    return None


class Outbox:
    """The SMTP server and webhooks of a workspace, with the secrets read from `environ` (default: os.environ)."""

    def __init__(self, settings: Delivery | None, environ: Mapping[str, str] | None = None):
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self._secrets: set[str] = set()

    # ---- secrets
    def _secret(self, var: str, what: str) -> str:
        value = self.environ.get(var, "")
        if not value.strip():
            raise DeliveryError(f"{what}: environment variable {var} is not set; export it (bpo.toml names it)")
        self._secrets.add(value)
        return value

    def scrub(self, text: str) -> str:
        """`text` with every secret this outbox has read removed (literal and URL-encoded)."""
        for s in sorted(self._secrets, key=len, reverse=True):
            for form in {s, urllib.parse.quote(s, safe=""), urllib.parse.quote_plus(s), json.dumps(s)[1:-1]}:
                text = text.replace(form, HIDDEN)
        return text

    # ---- mail
    def check_email(self) -> None:
        """Raise a DeliveryError naming the missing `[delivery]` key when mail cannot be sent."""
        s = self.settings
        if s is None or not s.smtp_host or not s.sender:
            raise DeliveryError("email recipients need [delivery] smtp_host and sender in bpo.toml "
                                "(and username + password_env when the server wants a login)")
        if s.password_env:
            self._secret(s.password_env, "[delivery] password_env")

    def send_email(self, message: EmailMessage) -> None:
        """Send one message through the `[delivery]` SMTP server (STARTTLS when set); DeliveryError on any failure."""
        self.check_email()
        s = self.settings
        assert s is not None and s.smtp_host is not None
        where = f"SMTP server {s.smtp_host}:{s.smtp_port}"
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
                if s.starttls:
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(f"{where} does not offer STARTTLS; use its STARTTLS port (587), or set "
                                            f"[delivery] starttls = false only for a server on a trusted network")
                    smtp.starttls(context=ssl.create_default_context())
                if s.username and s.password_env:
                    smtp.ehlo()
                    if not smtp.has_extn("auth"):
                        raise DeliveryError(f"{where} offers no login (AUTH) on this connection; turn on starttls or "
                                            f"remove [delivery] username/password_env")
                    smtp.login(s.username, self._secret(s.password_env, "[delivery] password_env"))
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(self.scrub(f"{where} refused the login of {s.username} ({e.smtp_code}); check "
                                           f"[delivery] username and the password in ${s.password_env}")) from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(self.scrub(f"{where}: {_reason(e)}; check [delivery] smtp_host/smtp_port or try "
                                           f"again later")) from None
        if refused:
            raise DeliveryError(self.scrub(f"{where} refused {', '.join(sorted(refused))}; check the [[user]] email"))

    # ---- webhooks
    def webhook_format(self, var: str) -> str:
        """'slack' or 'teams' for the webhook in $`var`: `[delivery] webhook_format` when set, else by the URL's host."""
        url = self._secret(var, f"webhook_env {var}")
        explicit = self.settings.webhook_format.get(var) if self.settings else None
        found = explicit or format_of_url(url)
        if found is None:
            raise DeliveryError(f"webhook in ${var}: its host does not say whether it is Slack or Teams; add "
                                f"[delivery] webhook_format = {{ {var} = \"slack\" }} (or \"teams\") to bpo.toml")
        if not url.lower().startswith(("https://", "http://")):
            raise DeliveryError(f"webhook in ${var} is not an http(s) URL; set it to the incoming-webhook URL")
        return found

    def post_webhook(self, var: str, payload: Mapping[str, Any]) -> None:
        """POST `payload` as JSON to the webhook in $`var`; DeliveryError unless the server answers 2xx."""
        url = self._secret(var, f"webhook_env {var}")
        request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 - http(s) only, checked
                answer.read()
        except urllib.error.HTTPError as e:
            raise DeliveryError(f"webhook ${var} answered HTTP {e.code} ({e.reason}); check the URL in ${var} or try "
                                f"again later") from None
        except (urllib.error.URLError, OSError) as e:
            raise DeliveryError(self.scrub(f"webhook ${var} could not be reached ({_reason(e)}); try again later")) from None


def _reason(e: BaseException) -> str:
    """The cause of a network error in words, without the URL."""
    inner = getattr(e, "reason", None)
    if isinstance(inner, BaseException):
        e = inner
    if isinstance(e, smtplib.SMTPResponseException):
        return f"answered {e.smtp_code} {e.smtp_error.decode(errors='replace') if isinstance(e.smtp_error, bytes) else e.smtp_error}"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS}s"
    return f"{type(e).__name__}: {e.strerror or e}" if isinstance(e, OSError) else f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- the delivery log


@contextmanager
def delivering(workspace: Path) -> Iterator[None]:
    """Hold the workspace's delivery lock for a run; a second run meanwhile stops with a message (cron overlaps)."""
    path = Path(workspace) / ".deliver.lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeliveryError(f"another 'bpo-insights deliver' is running on {workspace}; let it finish (nothing was "
                                f"sent by this run)") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sent_items(engine: sa.Engine, recipient: str, channel: str, week: date) -> set[str]:
    """The items already sent to `recipient` on `channel` for `week` ('review', insight ids, 'credit:<id>')."""
    c = delivery_log.c
    with engine.connect() as con:
        rows = con.execute(sa.select(c.item).where((c.recipient == recipient) & (c.channel == channel)
                                                   & (c.week == week))).all()
    return {r[0] for r in rows}


def record_sent(engine: sa.Engine, recipient: str, channel: str, week: date, items: Iterable[str]) -> int:
    """Record `items` as sent (after the send succeeded); items already recorded are left alone. Returns rows added."""
    new = sorted(set(items) - sent_items(engine, recipient, channel, week))
    if new:
        at = datetime.now(timezone.utc)
        with engine.begin() as con:
            con.execute(delivery_log.insert(), [{"recipient": recipient, "channel": channel, "week": week, "item": i,
                                                 "sent_at": at} for i in new])
    return len(new)
