"""The review delivered: each recipient's own review by email and to chat, and alerts once per finding.

`deliver(ws, outbox=Outbox(ws.config.delivery), week=...)` goes through the `[[user]]` entries of bpo.toml
that have an `email` or a `webhook_env`, builds the review of THEIR scope (exactly what `--user NAME` shows)
and, per channel:

- the first time for a week: the review (email: a short text, an HTML summary of the KPI tiles and the
  insights, the deck attached; chat: the same summary as a Slack or Teams message);
- later runs: an alert only for what is new since, a headline insight or a contract credit at risk, at
  most once per finding; nothing when nothing is new.

What was sent is recorded in state.db (`delivery_log`: recipient, channel, week, item) after the server
accepted it, never before, so a failed send is retried by the next run and a re-run sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import Any, Literal, Protocol

from connectors.delivery import delivering, record_sent, sent_items
from connectors.errors import BpoError
from connectors.store import User, Workspace
from insights import format
from insights.detection import Insight
from insights.export import MEDIA_TYPES, NO_INSIGHTS, SUFFIXES, action_of, render, tile_value
from insights.review import Review, build_review

Channel = Literal["email", "webhook"]
REVIEW = "review"  # the delivery-log item of the weekly message itself
STATUS_WORDS = {"good": "on track", "bad": "needs attention", "neutral": "steady"}
SLACK_FIELDS_PER_SECTION = 10  # Slack's limit
SLACK_TEXT_LIMIT = 2900  # a section's text may hold 3,000 characters


class Outbox(Protocol):
    """What delivery needs from the transport (`connectors.delivery.Outbox`): mail, webhooks, secrets scrubbed."""

    def check_email(self) -> None: ...
    def send_email(self, message: EmailMessage) -> None: ...
    def webhook_format(self, var: str) -> str: ...
    def post_webhook(self, var: str, payload: Mapping[str, Any]) -> None: ...
    def scrub(self, text: str) -> str: ...


# --------------------------------------------------------------------------- what a review tells


@dataclass(frozen=True, kw_only=True)
class Alert:
    """A finding worth an alert: a headline insight, or a contract credit at risk (keyed 'credit:<insight id>')."""

    key: str
    reason: Literal["headline", "credit"]
    insight: Insight
    credit: str | None = None  # 'USD 3,631 (month to date, 01 – 09 Mar 2025)'


def credit_of(insight: Insight) -> str | None:
    """The service credit an insight says is at risk, in words ('USD 3,631 (Mar 2025)'); None when it quotes none."""
    ev = insight.evidence
    for source in (ev, ev.get("target_miss") or {}, *(ev.get("related") or ())):
        if isinstance(source, Mapping) and source.get("penalty"):
            period = f" ({source['penalty_period']})" if source.get("penalty_period") else ""
            return format.money(source["penalty"], source.get("currency", ""), cents=False) + period
    return None


def alerts_of(review: Review) -> list[Alert]:
    """The review's headline insights and its contract credits at risk, in the review's order."""
    out = []
    for ins in review.insights:
        if ins.type == "data_quality":
            continue
        if ins.tier == "headline":
            out.append(Alert(key=ins.id, reason="headline", insight=ins))
        credit = credit_of(ins)
        if credit:
            out.append(Alert(key=f"credit:{ins.id}", reason="credit", insight=ins, credit=credit))
    return out


def told_by(review: Review) -> set[str]:
    """Every delivery-log item the review's message tells: the review itself, its insights and credits."""
    return {REVIEW, *(i.id for i in review.insights), *(a.key for a in alerts_of(review))}


def iso_week(week: date) -> str:
    """'2025-W10' for the reporting week starting on `week` (the ISO number of its Monday: `format.week_number`)."""
    return format.week_number(week)


def _numbered(review: Review) -> str:
    """'week of Mon 3 Mar 2025 (2025-W10, UTC)': the review's week with its number and calendar."""
    return format.period(review.week, "week", review.calendar, numbered=True)


def _number(review: Review) -> str:
    return iso_week(review.week)


def scope_label(user: User, review: Review) -> str:
    """Whose work the recipient's review covers, in names: 'Acme Home', 'Northwind BPO · all clients'."""
    s = user.scope
    clients = ("all clients" if s.clients is None else
               ", ".join(format.label("client", c, review.names) for c in sorted(s.clients)) or "no client")
    if s.vendors is None:
        return clients
    return ", ".join(format.label("vendor", v, review.names) for v in sorted(s.vendors)) + f" · {clients}"


def _tile_line(t: Any) -> tuple[str, str]:
    """(KPI label, 'value · vs target · status') for a tile."""
    target = f"{t.formatted_vs_target} vs {t.target_text}" if t.target_source is not None and t.value is not None \
        else t.target_text
    return t.label, f"{tile_value(t)} · {target} · {STATUS_WORDS.get(t.status, t.status)}"


def where_of(ins: Insight, names: format.Names | None = None) -> str:
    """The insight's segment in names ('Acme Home · channel email'), as its card names it."""
    return format.segment(ins.segment, names)


def shown_tiles(review: Review) -> list[Any]:
    """The tiles with a value this week (a KPI without data stays in the attached deck, not in a short message)."""
    return [t for t in review.tiles if t.value is not None]


def _insight_line(ins: Insight, names: format.Names | None, credit: str | None = None) -> str:
    """'Acme Home · channel email: <headline> Contract credit at risk: USD 20,555 (…).'"""
    return f"{where_of(ins, names)}: {ins.headline}" + (f" Contract credit at risk: {credit}." if credit else "")


# --------------------------------------------------------------------------- email


def _mail(*, sender: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


HTML_HEAD = ('<!DOCTYPE html><html><body style="font-family:Segoe UI,Arial,sans-serif;color:#111;max-width:760px">')
TABLE = '<table style="border-collapse:collapse;font-size:14px" cellpadding="6">'


def email_review(review: Review, *, sender: str, to: str, label: str,
                 deck: tuple[str, bytes] | None = None) -> EmailMessage:
    """The weekly email: a short text, an HTML summary (KPI tiles, insights with what to do), the deck attached."""
    week = _numbered(review)
    n = len(review.insights)
    subject = f"Weekly review, {week}: {label}, {n} insight{'s' if n != 1 else ''}"
    lines = [f"Weekly review for {label}, {week}."]
    lines += [f"Note: {x.message}" for x in review.notices if x.severity == "warning"] + [""]
    lines += ["This week:"] + [f"- {a}: {b}" for a, b in map(_tile_line, shown_tiles(review))]
    lines += ["", "Insights:"] + ([f"{i}. {_insight_line(ins, review.names, credit_of(ins))}\n   What to do: "
                                   f"{action_of(ins, review.names)}" for i, ins in enumerate(review.insights, 1)]
                                  or [NO_INSIGHTS])
    if deck:
        lines += ["", f"The full review (charts, evidence, definitions) is attached: {deck[0]}."]
    html = [HTML_HEAD, f"<h2 style='margin:0'>Weekly review: {escape(label)}</h2>",
            f"<p style='color:#444;margin:4px 0 12px'>{escape(week)}</p>"]
    html += [f"<p style='background:#FFF6E0;padding:6px'>{escape(x.message)}</p>" for x in review.notices
             if x.severity == "warning"]
    if shown_tiles(review):
        html.append("<h3>This week</h3>" + TABLE + "<tr><th align=left>KPI</th><th align=left>value</th>"
                    "<th align=left>vs last week</th><th align=left>target</th><th align=left>status</th></tr>")
        for t in shown_tiles(review):
            colour = {"good": "#0072B2", "bad": "#E69F00"}.get(t.status, "#8C8C8C")
            html.append(f"<tr><td>{escape(t.label)}</td><td><b>{escape(tile_value(t))}</b></td>"
                        f"<td>{escape(t.formatted_vs_last_week)}</td><td>{escape(t.target_text)}</td>"
                        f"<td style='color:{colour}'>{escape(STATUS_WORDS.get(t.status, t.status))}</td></tr>")
        html.append("</table>")
    html.append("<h3>Insights</h3>")
    if not review.insights:
        html.append(f"<p>{escape(NO_INSIGHTS)}</p>")
    html += [f"<p><b>{i}. {escape(_insight_line(ins, review.names, credit_of(ins)))}</b><br>"
             f"<i>What to do:</i> {escape(action_of(ins, review.names))}</p>" for i, ins in enumerate(review.insights, 1)]
    if deck:
        html.append(f"<p style='color:#444'>The full review is attached: {escape(deck[0])}.</p>")
    html.append("</body></html>")
    msg = _mail(sender=sender, to=to, subject=subject, text="\n".join(lines), html="\n".join(html))
    if deck:
        name, data = deck
        maintype, _, subtype = next(MEDIA_TYPES[f] for f, s in SUFFIXES.items() if name.endswith(s)).partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def _alert_subject(alerts: Sequence[Alert], label: str, review: Review) -> str:
    credits = sum(a.reason == "credit" for a in alerts)
    what = (f"{len(alerts)} new finding{'s' if len(alerts) != 1 else ''}"
            + (f" ({credits} contract credit{'s' if credits != 1 else ''} at risk)" if credits else ""))
    return f"Alert, {_numbered(review)}: {label}, {what}"


def _alert_lines(alerts: Sequence[Alert], review: Review) -> list[tuple[str, str]]:
    """(lead, text) per alert: 'New headline' / 'Contract credit at risk', the sentence and what to do."""
    out = []
    for a in alerts:
        lead = "New headline" if a.reason == "headline" else f"Contract credit at risk: {a.credit}"
        out.append((lead, f"{_insight_line(a.insight, review.names)} What to do: {action_of(a.insight, review.names)}"))
    return out


def email_alert(review: Review, alerts: Sequence[Alert], *, sender: str, to: str, label: str) -> EmailMessage:
    """An alert: only the findings not told before, each with what to do."""
    lines = _alert_lines(alerts, review)
    text = "\n".join([f"New since the review of {_number(review)} was sent ({label}):", ""]
                     + [f"- {lead}. {body}" for lead, body in lines])
    html = "\n".join([HTML_HEAD, f"<h3>New since the review of {escape(_number(review))} ({escape(label)})</h3>"]
                     + [f"<p><b>{escape(lead)}.</b> {escape(body)}</p>" for lead, body in lines] + ["</body></html>"])
    return _mail(sender=sender, to=to, subject=_alert_subject(alerts, label, review), text=text, html=html)


# --------------------------------------------------------------------------- chat


def _slack_escape(text: str) -> str:
    """Slack mrkdwn's three control characters as entities, so data never becomes a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(title: str, subtitle: str, facts: Sequence[tuple[str, str]],
                  points: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit): header, context, facts as fields, one section per point."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(_slack_escape(subtitle), 2900)}]}]
    for k in range(0, len(facts), SLACK_FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": _clip(f"*{_slack_escape(a)}*\n{_slack_escape(b)}", 2000)}
            for a, b in facts[k:k + SLACK_FIELDS_PER_SECTION]]})
    if points:
        blocks.append({"type": "divider"})
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*{_slack_escape(lead)}* {_slack_escape(body)}",
                                                                          SLACK_TEXT_LIMIT)}}
               for lead, body in points[:40]]
    return {"text": _clip(f"{title}: {subtitle}", 3000), "blocks": blocks[:50]}


def _teams_text(text: str) -> str:
    """Text from data with the card's Markdown link syntax broken ('](' gets a zero-width space): never a link."""
    return text.replace("](", "]\u200b(")


def teams_message(title: str, subtitle: str, facts: Sequence[tuple[str, str]],
                  points: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A Microsoft Teams webhook message: one Adaptive Card (Workflows and incoming webhooks both take it)."""
    title, subtitle = _teams_text(title), _teams_text(subtitle)
    facts = [(_teams_text(a), _teams_text(b)) for a, b in facts]
    points = [(_teams_text(a), _teams_text(b)) for a, b in points]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Large", "wrap": True},
        {"type": "TextBlock", "text": subtitle, "isSubtle": True, "wrap": True, "spacing": "None"}]
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": a, "value": b} for a, b in facts]})
    body += [{"type": "TextBlock", "text": f"**{lead}** {body_}", "wrap": True, "separator": i == 0}
             for i, (lead, body_) in enumerate(points)]
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
            "msteams": {"width": "Full"}, "body": body}
    return {"type": "message", "summary": title,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


CHAT_FORMATS = {"slack": slack_message, "teams": teams_message}


def chat_review(review: Review, fmt: str, *, label: str) -> dict[str, Any]:
    """The weekly review as a chat message: KPI tiles as facts, then each insight with what to do."""
    points = [(f"{i}.", f"{_insight_line(ins, review.names, credit_of(ins))} What to do: {action_of(ins, review.names)}")
              for i, ins in enumerate(review.insights, 1)] or [("Insights:", NO_INSIGHTS)]
    notes = [("Note:", x.message) for x in review.notices if x.severity == "warning"]
    return CHAT_FORMATS[fmt](f"Weekly review, {_numbered(review)}", label,
                             [_tile_line(t) for t in shown_tiles(review)], notes + points)


def chat_alert(review: Review, alerts: Sequence[Alert], fmt: str, *, label: str) -> dict[str, Any]:
    """An alert as a chat message: only the findings not told before."""
    return CHAT_FORMATS[fmt](_alert_subject(alerts, label, review).replace(f": {label}, ", ": "), label, [],
                             _alert_lines(alerts, review))


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """What one run did for one recipient and channel."""

    recipient: str
    channel: Channel
    week: date | None
    outcome: Literal["sent review", "sent alert", "nothing new", "would send review", "would send alert", "failed"]
    items: tuple[str, ...] = ()  # delivery-log items sent (or that would be)
    to: str = ""  # the address, or the webhook's variable and format (never the URL)
    error: str | None = None

    @property
    def sent(self) -> bool:
        return self.outcome in ("sent review", "sent alert")

    def __str__(self) -> str:
        week = iso_week(self.week) if self.week else "-"
        head = f"{self.recipient:<18} {self.channel:<8} {week:<9} {self.to}: "
        if self.error:
            return head + f"FAILED: {self.error} (nothing recorded as sent; the next run retries)"
        count = len([i for i in self.items if i != REVIEW])
        return head + self.outcome + (f" ({count} finding{'s' if count != 1 else ''})" if self.items else "")


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    """Every recipient and channel of a run; `exit_code` 0 all well, 1 some sent and some failed, 2 all failed."""

    rows: tuple[Delivered, ...]
    dry_run: bool = False

    @property
    def failed(self) -> tuple[Delivered, ...]:
        return tuple(r for r in self.rows if r.error)

    @property
    def exit_code(self) -> int:
        if not self.failed:
            return 0
        return 1 if any(r.sent for r in self.rows) else 2

    def __str__(self) -> str:
        sent = sum(r.sent for r in self.rows)
        tail = (f"dry run: nothing sent, nothing recorded ({sum(r.outcome.startswith('would') for r in self.rows)} "
                f"message(s) would go)" if self.dry_run else
                f"{sent} message(s) sent, {len(self.failed)} failed, "
                f"{sum(r.outcome == 'nothing new' for r in self.rows)} with nothing new")
        return "\n".join([*map(str, self.rows), tail])


class DeliveryConfigError(BpoError):
    """No recipient, or a recipient declared in a way delivery cannot use."""


def recipients(ws: Workspace, names: Sequence[str] | None = None) -> list[User]:
    """The `[[user]]` entries with an `email` or a `webhook_env` (only `names` when given)."""
    users = [u for u in ws.config.users if u.email or u.webhook_env]
    if names:
        unknown = sorted(set(names) - {u.name for u in users})
        if unknown:
            raise DeliveryConfigError(f"{', '.join(unknown)}: not a recipient; give the [[user]] an email = \"…\" or "
                                      f"webhook_env = \"VAR\" in bpo.toml")
        users = [u for u in users if u.name in names]
    if not users:
        raise DeliveryConfigError("no recipients: add email = \"name@example.com\" or webhook_env = \"SLACK_URL\" "
                                  "to a [[user]] in bpo.toml")
    return users


def deliver(ws: Workspace, *, outbox: Outbox, week: date | None = None, dry_run: bool = False,
            only: Sequence[str] | None = None, catalog: Any = None) -> DeliveryReport:
    """Send each recipient the review of their own scope, then, on later runs, alerts for what is new.

    Example: `deliver(ws, outbox=connectors.delivery.Outbox(ws.config.delivery), week=date(2025, 3, 3))`.
    Idempotent per (recipient, channel, week, item): a re-run sends nothing already sent.
    """
    rows: list[Delivered] = []
    settings = ws.config.delivery
    users = recipients(ws, only)
    with delivering(ws.path):  # two overlapping cron runs would both find nothing logged and both send
        for user in users:
            channels: list[Channel] = []
            if user.email:
                channels.append("email")
            if user.webhook_env:
                channels.append("webhook")
            try:
                review = build_review(ws, user.scope, week=week, catalog=catalog)
            except BpoError as e:  # this recipient's review cannot be built: say so, go on with the others
                rows += [Delivered(recipient=user.name, channel=c, week=week, outcome="failed",
                                   error=outbox.scrub(str(e))) for c in channels]
                continue
            label = scope_label(user, review)
            for channel in channels:
                rows.append(_one(ws, user, channel, review, label, outbox, dry_run, catalog,
                                 attach=settings.attach if settings else "pptx",
                                 sender=settings.sender if settings and settings.sender else ""))
    return DeliveryReport(rows=tuple(rows), dry_run=dry_run)


def _one(ws: Workspace, user: User, channel: Channel, review: Review, label: str, outbox: Outbox, dry_run: bool,
         catalog: Any, *, attach: str = "none", sender: str = "") -> Delivered:
    """Send (or, dry, describe) what `user` has not yet had on `channel` for the review's week; log it once sent."""
    to = (user.email or "") if channel == "email" else f"${user.webhook_env}"
    row = Delivered(recipient=user.name, channel=channel, week=review.week, outcome="failed", to=to)
    try:
        fmt = ""
        if channel == "email":
            if "@" not in (user.email or ""):
                raise DeliveryConfigError(f"[[user]] '{user.name}': email {user.email!r} is not an address")
            outbox.check_email()
        else:
            fmt = outbox.webhook_format(user.webhook_env or "")
            row = replace(row, to=f"{to} ({fmt})")
        done = sent_items(ws.engine, user.name, channel, review.week)
        new = [a for a in alerts_of(review) if a.key not in done]
        if REVIEW not in done:
            items = told_by(review)
        elif new:
            items = {a.key for a in new}
        else:
            return replace(row, outcome="nothing new")
        is_review = REVIEW in items
        if dry_run:
            return replace(row, outcome="would send review" if is_review else "would send alert", items=tuple(sorted(items)))
        if channel == "email":
            if is_review:
                deck = None
                if attach != "none":
                    deck = (f"weekly-review-{_number(review)}{SUFFIXES[attach]}",
                            render(review, attach, title=f"Weekly review: {label}", catalog=catalog))
                message = email_review(review, sender=sender, to=user.email or "", label=label, deck=deck)
            else:
                message = email_alert(review, new, sender=sender, to=user.email or "", label=label)
            outbox.send_email(message)
        else:
            payload = chat_review(review, fmt, label=label) if is_review else chat_alert(review, new, fmt, label=label)
            outbox.post_webhook(user.webhook_env or "", payload)
        record_sent(ws.engine, user.name, channel, review.week, items)  # only after the server accepted it
        return replace(row, outcome="sent review" if is_review else "sent alert", items=tuple(sorted(items)))
    except BpoError as e:  # DeliveryError, an export that failed (no Chromium for a PDF), a recipient's bad address
        return replace(row, error=outbox.scrub(str(e)))
