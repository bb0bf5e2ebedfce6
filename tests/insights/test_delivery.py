"""`bpo-insights deliver`: each recipient gets the review of its own scope, by email (a real SMTP server on 127.0.0.1)
and to Slack / Teams webhooks (a real HTTP server on 127.0.0.1); alerts once per finding; nothing sent twice; a failed
send is recorded as nothing and retried; secrets never printed."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import polars as pl
import pytest
import sqlalchemy as sa

from _delivery_servers import Hooks, SmtpServer, free_port
from _tiny import tiny
from connectors.delivery import DeliveryError, Outbox, format_of_url
from connectors.errors import ConfigError
from connectors.store import Workspace, delivery_log, parse_config
from insights.cli import main
from insights.export.delivery import REVIEW, deliver

WEEK = tiny.REVIEW_WEEK
SLACK_SECRET = "T0SECRET/B0SECRET/xoxb-slack-secret-7741"
TEAMS_SECRET = "teams-secret-sig-9932"
SMTP_PASSWORD = "smtp-pa$$word-5511"
ACME, GLOBEX, NORTHWIND = "acme.manager@acme.example", "globex.manager@globex.example", "am@northwind.example"
# what only another tenant's review would hold
NOT_FOR_ACME = tiny.GLOBEX_MARKERS
NOT_FOR_GLOBEX = ("Acme", "acme", "Northwind", "Southpeak", "Manila", "Austin")
NOT_FOR_NORTHWIND = (*tiny.GLOBEX_MARKERS, "Southpeak", "southpeak", "Austin", "sp-austin", "Eastbay")


def toml(smtp_port: int, *, password_env: bool = False) -> str:
    text = tiny.TOML
    for name, extra in (("acme-manager", f'email = "{ACME}"\nwebhook_env = "ACME_SLACK_URL"'),
                        ("globex-manager", f'email = "{GLOBEX}"'),
                        ("northwind-am", f'email = "{NORTHWIND}"\nwebhook_env = "NW_TEAMS_URL"')):
        text = text.replace(f'name = "{name}"\n', f'name = "{name}"\n{extra}\n')
    login = 'username = "bpo"\npassword_env = "TEST_SMTP_PASSWORD"\n' if password_env else ""
    return text + (f'\n[delivery]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsender = "reviews@bpo.example"\n'
                   f'starttls = false\nattach = "none"\n{login}'
                   'webhook_format = { ACME_SLACK_URL = "slack", NW_TEAMS_URL = "teams" }\n')


def make_ws(path, smtp_port: int, *, penalty: float | None = 250.0, attach: str = "none") -> Workspace:
    """tiny's planted-miss workspace (acme email falls to ~40 % against a 90 % contract) with recipients declared;
    acme's contract carries a service credit per point below target."""
    ws = Workspace.create(path, toml(smtp_port).replace('attach = "none"', f'attach = "{attach}"'))
    ws.upsert("tickets", tiny.planted_tickets())
    ws.upsert("sla_targets", tiny.sla_targets().with_columns(
        pl.when(pl.col("client_id") == "acme").then(pl.lit(penalty)).otherwise(None).cast(pl.Float64)
        .alias("penalty_per_point"), pl.lit("USD").alias("currency")))
    return ws


@pytest.fixture
def env(monkeypatch):
    def set_(hook_port: int) -> None:
        monkeypatch.setenv("ACME_SLACK_URL", f"http://127.0.0.1:{hook_port}/slack/{SLACK_SECRET}")
        monkeypatch.setenv("NW_TEAMS_URL", f"http://127.0.0.1:{hook_port}/teams?sig={TEAMS_SECRET}")
    return set_


def logged(ws: Workspace) -> set[tuple[str, str, str]]:
    with ws.engine.connect() as con:
        return {(r.recipient, r.channel, r.item) for r in con.execute(sa.select(delivery_log))}


def everything_in(msg) -> str:
    """Every text a recipient could read in a message: headers, text, HTML and any attached deck's XML."""
    parts = [str(msg["Subject"])]
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename():
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                parts += [z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml")]
        else:
            parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One delivery of week 2025-W10 to three recipients (the deck attached), then a second run; the servers' record."""
    smtp_port, hook_port = free_port(), free_port()
    ws = make_ws(tmp_path_factory.mktemp("deliver") / "ws", smtp_port, attach="pptx")
    mp = pytest.MonkeyPatch()
    mp.setenv("ACME_SLACK_URL", f"http://127.0.0.1:{hook_port}/slack/{SLACK_SECRET}")
    mp.setenv("NW_TEAMS_URL", f"http://127.0.0.1:{hook_port}/teams?sig={TEAMS_SECRET}")
    try:
        with SmtpServer(smtp_port) as smtp, Hooks(hook_port) as hooks:
            first = deliver(ws, outbox=Outbox(ws.config.delivery), week=WEEK)
            mails, posts = list(smtp.messages), list(hooks.posts)
            second = deliver(ws, outbox=Outbox(ws.config.delivery), week=WEEK)
            again = (len(smtp.messages) - len(mails), len(hooks.posts) - len(posts))
    finally:
        mp.undo()
    return {"ws": ws, "first": first, "second": second, "mails": mails, "posts": posts, "again": again}


def mail_to(run, address: str):
    found = [m for rcpt, m in run["mails"] if rcpt == [address]]
    assert len(found) == 1, f"{address} got {len(found)} messages"
    return found[0]


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_each_recipient_gets_one_mail_with_the_review_of_its_own_scope(first_run):
    assert first_run["first"].exit_code == 0, str(first_run["first"])
    assert len(first_run["mails"]) == 3
    acme, globex, northwind = (mail_to(first_run, a) for a in (ACME, GLOBEX, NORTHWIND))
    assert "Acme Home" in acme["Subject"] and "2025-W10" in acme["Subject"]
    assert "Globex Travel" in globex["Subject"]
    assert "Northwind BPO" in northwind["Subject"]
    text = everything_in(acme)
    assert "SLA attainment (first response)" in text and "against the 90.0% target" in text  # tiles and the miss
    for who, msg, foreign in (("acme", acme, NOT_FOR_ACME), ("globex", globex, NOT_FOR_GLOBEX),
                              ("northwind", northwind, NOT_FOR_NORTHWIND)):
        leaked = [m for m in foreign if m in everything_in(msg)]
        assert leaked == [], f"{who}'s mail holds another tenant's {leaked}"


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_the_mail_is_text_html_and_the_deck(first_run):
    msg = mail_to(first_run, ACME)
    assert msg["From"] == "reviews@bpo.example"
    assert msg.get_body(("plain",)).get_content().startswith("Weekly review for Acme Home")
    html = msg.get_body(("html",)).get_content()
    assert "<table" in html and "needs attention" in html
    decks = [p for p in msg.iter_attachments() if p.get_filename()]
    assert [p.get_filename() for p in decks] == ["weekly-review-2025-W10.pptx"]
    from pptx import Presentation

    deck = Presentation(io.BytesIO(decks[0].get_payload(decode=True)))
    assert len(deck.slides) >= 3


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_a_contract_credit_at_risk_is_told(first_run):
    text = mail_to(first_run, ACME).get_body(("plain",)).get_content()
    assert "Contract credit at risk: USD " in text
    assert "credit" not in mail_to(first_run, GLOBEX).get_body(("plain",)).get_content().lower()


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_chat_recipients_get_slack_and_teams_messages(first_run):
    paths = sorted(p.split("/")[1].split("?")[0] for p, _ in first_run["posts"])
    assert paths == ["slack", "teams"]
    slack = next(b for p, b in first_run["posts"] if p.startswith("/slack"))
    teams = next(b for p, b in first_run["posts"] if p.startswith("/teams"))
    assert slack["blocks"][0]["type"] == "header" and "2025-W10" in slack["blocks"][0]["text"]["text"]
    assert "Acme Home" in slack["text"]
    assert any("against the 90.0% target" in b.get("text", {}).get("text", "") for b in slack["blocks"])
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert "Northwind BPO" in str(card["content"]["body"])
    assert not [m for m in NOT_FOR_NORTHWIND if m in str(teams)]
    assert not [m for m in NOT_FOR_ACME if m in str(slack)]


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_a_second_run_sends_nothing(first_run):
    assert first_run["again"] == (0, 0)
    assert {r.outcome for r in first_run["second"].rows} == {"nothing new"}
    assert first_run["second"].exit_code == 0


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_the_log_holds_what_was_sent(first_run):
    rows = logged(first_run["ws"])
    assert {(r, c) for r, c, i in rows if i == REVIEW} == {
        ("acme-manager", "email"), ("acme-manager", "webhook"), ("globex-manager", "email"),
        ("northwind-am", "email"), ("northwind-am", "webhook")}
    acme_items = {i for r, c, i in rows if r == "acme-manager" and c == "email"}
    assert any(i.startswith("credit:") for i in acme_items)


def test_a_new_headline_after_the_review_is_alerted_once(tmp_path, env):
    smtp_port, hook_port = free_port(), free_port()
    ws = make_ws(tmp_path / "ws", smtp_port, penalty=None)
    env(hook_port)
    with SmtpServer(smtp_port) as smtp, Hooks(hook_port) as hooks:
        deliver(ws, outbox=Outbox(ws.config.delivery), week=WEEK, only=["acme-manager"])
        assert len(smtp.messages) == 1 and len(hooks.posts) == 1
        told = {i for _, _, i in logged(ws)}
        # later in the week the chat queue breaks down too: every acme chat ticket of the week breaches
        week_chat = (tiny.planted_tickets()
                     .filter((pl.col("client_id") == "acme") & (pl.col("channel") == "chat")
                             & (pl.col("created_at").dt.date() >= WEEK))
                     .with_columns(pl.lit(True).alias("first_response_breached"),
                                   pl.lit(18000.0).alias("first_response_seconds"),
                                   pl.col("updated_at").dt.offset_by("1d")))
        ws.upsert("tickets", week_chat)
        report = deliver(ws, outbox=Outbox(ws.config.delivery), week=WEEK, only=["acme-manager"])
        assert [r.outcome for r in report.rows] == ["sent alert", "sent alert"], str(report)
        alert = smtp.messages[-1][1]
        assert alert["Subject"].strip().startswith("Alert, week of Mon 3 Mar 2025 (2025-W10, UTC): Acme Home")  # long: folded
        body = alert.get_body(("plain",)).get_content()
        assert "- New headline. Acme Home" in body and "What to do:" in body
        new = {i for _, _, i in logged(ws)} - told
        assert new and all(i in report.rows[0].items for i in new)
        assert not (set(report.rows[0].items) & told)  # nothing told before is told again
        slack = hooks.posts[-1][1]
        assert slack["blocks"][0]["text"]["text"].startswith("Alert, week of Mon 3 Mar 2025")
        third = deliver(ws, outbox=Outbox(ws.config.delivery), week=WEEK, only=["acme-manager"])
        assert [r.outcome for r in third.rows] == ["nothing new", "nothing new"]
        assert len(smtp.messages) == 2 and len(hooks.posts) == 2


def test_servers_down_send_nothing_record_nothing_and_exit_2(tmp_path, env, capsys):
    smtp_port, hook_port = free_port(), free_port()  # nothing listens on either
    ws = make_ws(tmp_path / "ws", smtp_port)
    env(hook_port)
    code = main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10", "--user", "acme-manager"])
    out = capsys.readouterr()
    assert code == 2
    assert "FAILED: SMTP server 127.0.0.1" in out.out and "connection refused" in out.out
    assert "FAILED: webhook $ACME_SLACK_URL could not be reached" in out.out
    assert logged(ws) == set()
    for secret in (SLACK_SECRET, "xoxb-slack-secret", TEAMS_SECRET):
        assert secret not in out.out + out.err
    with SmtpServer(smtp_port) as smtp, Hooks(hook_port) as hooks:  # the servers are back: the next run retries
        assert main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10", "--user", "acme-manager"]) == 0
        assert len(smtp.messages) == 1 and len(hooks.posts) == 1


def test_a_webhook_answering_500_is_a_partial_failure_retried_alone(tmp_path, env, capsys):
    smtp_port, hook_port = free_port(), free_port()
    ws = make_ws(tmp_path / "ws", smtp_port)
    env(hook_port)
    with SmtpServer(smtp_port) as smtp, Hooks(hook_port, status=500) as hooks:
        code = main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10", "--user", "acme-manager"])
        out = capsys.readouterr().out
        assert code == 1
        assert "webhook $ACME_SLACK_URL answered HTTP 500" in out and SLACK_SECRET not in out
        assert {c for _, c, i in logged(ws) if i == REVIEW} == {"email"}
        hooks.status = 200
        assert main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10", "--user", "acme-manager"]) == 0
        assert len(smtp.messages) == 1 and len(hooks.posts) == 1  # the mail is not sent twice
        assert {c for _, c, i in logged(ws) if i == REVIEW} == {"email", "webhook"}


def test_a_dry_run_sends_and_records_nothing(tmp_path, env, capsys):
    smtp_port, hook_port = free_port(), free_port()
    ws = make_ws(tmp_path / "ws", smtp_port)
    env(hook_port)
    with SmtpServer(smtp_port) as smtp, Hooks(hook_port) as hooks:
        code = main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10", "--dry-run"])
        out = capsys.readouterr().out
        assert code == 0
        assert out.count("would send review") == 5 and "nothing sent, nothing recorded" in out
        assert smtp.messages == [] and hooks.posts == [] and logged(ws) == set()
        assert SLACK_SECRET not in out and TEAMS_SECRET not in out and "$ACME_SLACK_URL (slack)" in out


def test_an_unset_webhook_variable_is_named(tmp_path, monkeypatch):
    ws = make_ws(tmp_path / "ws", free_port())
    monkeypatch.delenv("ACME_SLACK_URL", raising=False)
    report = deliver(ws, outbox=Outbox(ws.config.delivery), week=WEEK, only=["acme-manager"], dry_run=True)
    hook = next(r for r in report.rows if r.channel == "webhook")
    assert hook.error and "environment variable ACME_SLACK_URL is not set" in hook.error


def test_the_smtp_password_is_used_and_never_shown(tmp_path, monkeypatch):
    port = free_port()
    (tmp_path / "bpo.toml").write_text(toml(port, password_env=True))
    settings = parse_config(tmp_path / "bpo.toml").delivery
    assert settings is not None and settings.password_env == "TEST_SMTP_PASSWORD"
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    outbox = Outbox(settings)
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "reviews@bpo.example", ACME, "x"
    msg.set_content("x")
    with SmtpServer(port):  # no AUTH offered over plain text: the login fails with a message, not the password
        with pytest.raises(DeliveryError, match="offers no login") as e:
            outbox.send_email(msg)
    assert SMTP_PASSWORD not in str(e.value)
    assert outbox.scrub(f"x {SMTP_PASSWORD} y") == "x *** y"


def test_no_recipient_is_exit_2_with_the_fix(tmp_path, capsys):
    ws = tiny.build(tmp_path / "ws")
    assert main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10"]) == 2
    assert "add email = " in capsys.readouterr().err


@pytest.mark.parametrize("table, message", [
    pytest.param('smtp_host = "x"\nsender = "a@b.c"\npassword = "hunter2"', "never write the password", id="password"),
    pytest.param('smtp_host = "x"\nsender = "a@b.c"\nsmpt_port = 25', "unknown key(s) smpt_port", id="typo"),
    pytest.param('smtp_host = "x"\nsender = "a@b.c"\npassword_env = "P"', "password_env is set without username",
                 id="no-username"),
    pytest.param('smtp_host = "x"\nsender = "a@b.c"\nwebhook_format = { X = "discord" }', "'slack' or 'teams'",
                 id="format"),
    pytest.param('smtp_host = "x"\nsender = "a@b.c"\nattach = "docx"', "attach 'docx'", id="attach"),
])
def test_a_wrong_delivery_table_is_a_config_error(tmp_path, table, message):
    (tmp_path / "bpo.toml").write_text(tiny.TOML + f"\n[delivery]\n{table}\n")
    with pytest.raises(ConfigError, match="delivery") as e:
        parse_config(tmp_path / "bpo.toml")
    assert message in str(e.value)


@pytest.mark.parametrize("url, fmt", [
    pytest.param("https://hooks.slack.com/services/T0/B0/x", "slack", id="slack"),
    pytest.param("https://acme.webhook.office.com/webhookb2/x", "teams", id="teams-connector"),
    pytest.param("https://prod-12.westus.logic.azure.com:443/workflows/x", "teams", id="teams-workflow"),
    pytest.param("https://default1.environment.api.powerplatform.com/x", "teams", id="teams-powerplatform"),
    pytest.param("https://evil.example/hooks.slack.com/x", None, id="host-not-path"),
    pytest.param("http://127.0.0.1:9/x", None, id="local"),
])
def test_the_webhook_format_follows_the_host(url, fmt):
    assert format_of_url(url) == fmt


@pytest.mark.slow  # shares the module's first run: three reviews and three decks (~10-25 s)
def test_the_review_week_is_the_log_key(first_run):
    with first_run["ws"].engine.connect() as con:
        weeks = {r[0] for r in con.execute(sa.select(delivery_log.c.week))}
    assert weeks == {date(2025, 3, 3)}


def test_an_overlapping_run_stops_and_sends_nothing(tmp_path, env, capsys):
    from connectors.delivery import delivering

    smtp_port, hook_port = free_port(), free_port()
    ws = make_ws(tmp_path / "ws", smtp_port)
    env(hook_port)
    with SmtpServer(smtp_port) as smtp, delivering(ws.path):  # a run still going
        assert main(["deliver", "--workspace", str(ws.path), "--week", "2025-W10"]) == 2
        assert "another 'bpo-insights deliver' is running" in capsys.readouterr().err
        assert smtp.messages == [] and logged(ws) == set()


def test_text_from_data_never_becomes_a_link_or_markup_in_a_message(tmp_path):
    from dataclasses import replace

    from insights.export.delivery import chat_review, email_review, scope_label
    from insights.review import build_review

    ws = make_ws(tmp_path / "ws", free_port())
    user = ws.config.user("acme-manager")
    review = build_review(ws, user.scope, week=WEEK)
    evil = "[click](https://evil.example) <https://evil.example|here> <script>alert(1)</script>"
    review = replace(review, insights=(replace(review.insights[0], headline=evil),))
    label = scope_label(user, review)
    slack, teams = chat_review(review, "slack", label=label), chat_review(review, "teams", label=label)
    html = email_review(review, sender="a@b.example", to=ACME, label=label).get_body(("html",)).get_content()
    assert "<https://evil.example|here>" not in str(slack) and "&lt;https://evil.example|here&gt;" in str(slack)
    assert "](https://evil.example)" not in str(teams)
    assert "<script>" not in html and "&lt;script&gt;" in html
