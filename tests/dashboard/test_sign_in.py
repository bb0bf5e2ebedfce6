"""Sign-in: bpo.toml [auth], identities mapped to [[user]] emails (deny by default), --user on loopback only,
the launcher's secrets file, and the audit log of sign-ins, page views and exports (AppTest and the CLI)."""

from __future__ import annotations

import os
import stat
import tomllib
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tiny
from connectors.errors import ConfigError, WorkspaceError
from connectors.store import AuthConfig, Scope, Workspace, audit
from connectors.store.config import parse_config
from dashboard import access, launch
from insights.cli import main

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
AUTH = """
[auth]
server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
client_id = "bpo-insights"
client_secret_env = "BPO_OIDC_SECRET"
redirect_uri = "https://bpo.example.com/oauth2callback"
cookie_secret_env = "BPO_COOKIE_SECRET"
"""
EMAILS = {"admin": "Ada@Brand.example", "acme-manager": "ana@acme.example", "northwind-am": "nico@northwind.example"}


def with_emails(toml: str) -> str:
    for user, email in EMAILS.items():
        head = f'[[user]]\nname = "{user}"\n'
        toml = toml.replace(head, head + f'email = "{email}"\n')
    return toml


def config(tmp_path: Path, text: str):
    (tmp_path / "bpo.toml").write_text(text)
    return parse_config(tmp_path / "bpo.toml")


@pytest.fixture(scope="module")
def signin_ws(tmp_path_factory) -> Workspace:
    """The tiny workspace with [auth] and an email on admin, acme-manager and northwind-am."""
    ws = tiny.build(tmp_path_factory.mktemp("signin") / "ws")
    (ws.path / "bpo.toml").write_text(with_emails(tiny.TOML) + AUTH)
    return Workspace.open(ws.path)


# --------------------------------------------------------------------------- bpo.toml [auth]


def test_auth_is_read_with_the_email_claim_by_default_and_emails_lowercased(tmp_path):
    cfg = config(tmp_path, with_emails(tiny.TOML) + AUTH)
    assert cfg.auth == AuthConfig(server_metadata_url="https://login.example.com/.well-known/openid-configuration",
                                  client_id="bpo-insights", client_secret_env="BPO_OIDC_SECRET",
                                  redirect_uri="https://bpo.example.com/oauth2callback",
                                  cookie_secret_env="BPO_COOKIE_SECRET", identity_claim="email")
    assert cfg.user("admin").email == "ada@brand.example"
    assert cfg.user("globex-manager").email is None


def test_without_auth_there_is_no_sign_in(tmp_path):
    assert config(tmp_path, tiny.TOML).auth is None


@pytest.mark.parametrize(("edit", "message"), [
    pytest.param(lambda t: t + 'client_secret = "s3cret"\n', "unknown key 'client_secret'; secrets never live in bpo.toml: "
                 "put it in an environment variable and name that with client_secret_env", id="secret-in-the-file"),
    pytest.param(lambda t: t.replace('client_id = "bpo-insights"\n', ""), "'client_id' is missing", id="missing-key"),
    pytest.param(lambda t: t + 'scopes = "openid"\n', "unknown key 'scopes'; the keys are", id="unknown-key"),
    pytest.param(lambda t: t.replace("https://bpo.example.com/oauth2callback", "https://bpo.example.com/callback"),
                 "must end with /oauth2callback", id="redirect-path"),
    pytest.param(lambda t: t.replace("https://login.example.com", "http://login.example.com"),
                 "plain http; use https", id="plain-http-beyond-loopback"),
    pytest.param(lambda t: t.replace('"BPO_COOKIE_SECRET"', '"cookie secret"'),
                 "'cookie secret' is not an environment variable name", id="env-name"),
    pytest.param(lambda t: t.replace('email = "nico@northwind.example"', 'email = "ana@ACME.example"'),
                 "email 'ana@acme.example' is also user 'acme-manager's", id="one-identity-two-users"),
    pytest.param(lambda t: t.replace('email = "nico@northwind.example"', 'email = ["nico@northwind.example"]'),
                 "\\[\\[user\\]\\] 'northwind-am': email", id="email-not-a-string"),
])
def test_a_bad_auth_table_is_refused_with_the_key_and_the_fix(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, edit(with_emails(tiny.TOML) + AUTH))


def test_plain_http_is_accepted_on_this_machine(tmp_path):
    text = (with_emails(tiny.TOML) + AUTH).replace("https://login.example.com", "http://127.0.0.1:9400") \
        .replace("https://bpo.example.com", "http://localhost:{port}")
    assert config(tmp_path, text).auth.redirect_uri == "http://localhost:{port}/oauth2callback"


# --------------------------------------------------------------------------- identity -> user


@pytest.mark.parametrize(("claims", "user"), [
    pytest.param({"email": "ana@acme.example", "email_verified": True}, "acme-manager", id="exact"),
    pytest.param({"email": " Ana@ACME.Example "}, "acme-manager", id="case-and-blanks"),
    pytest.param({"email": "ada@brand.example", "sub": "x"}, "admin", id="admin"),
])
def test_a_signed_in_identity_becomes_the_user_with_that_email(signin_ws, claims, user):
    viewer = access.resolve_identity(signin_ws, claims)
    assert isinstance(viewer, access.Viewer)
    assert (viewer.name, viewer.method, viewer.identity) == (user, "oidc", claims["email"].strip().lower())
    assert viewer.scope == signin_ws.config.user(user).scope


@pytest.mark.parametrize(("claims", "reason", "fix"), [
    pytest.param({"email": "mallory@elsewhere.example"},
                 "You are signed in as mallory@elsewhere.example, who has no access in this workspace.",
                 'Ask an admin to add a [[user]] with email = "mallory@elsewhere.example"', id="unknown"),
    pytest.param({"email": "ana@acme.example", "email_verified": False},
                 "You are signed in as ana@acme.example, but your identity provider has not verified that email",
                 "Verify the email", id="unverified-email"),
    pytest.param({"sub": "123", "name": "Ana"}, "The identity provider did not send the 'email' claim",
                 "release the 'email' claim", id="no-email-claim"),
    pytest.param({"email": "acme-manager"}, "You are signed in as acme-manager, who has no access",
                 "Ask an admin", id="a-user-name-is-not-an-identity"),
])
def test_anyone_else_is_denied_with_what_to_do(signin_ws, claims, reason, fix):
    denied = access.resolve_identity(signin_ws, claims)
    assert isinstance(denied, access.Denied)
    assert denied.reason.startswith(reason)
    assert fix in denied.fix
    assert denied.identity


def test_the_identity_claim_can_be_another_claim(tmp_path):
    ws = Workspace.create(tmp_path / "ws", with_emails(tiny.TOML) + AUTH + 'identity_claim = "upn"\n')
    assert access.resolve_identity(ws, {"upn": "ANA@acme.example", "email": "x@y.z"}).name == "acme-manager"
    assert isinstance(access.resolve_identity(ws, {"email": "ana@acme.example"}), access.Denied)


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("LOCALHOST", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("", False), (None, False), ("127.0.0.1.evil.example", False),
])
def test_only_loopback_is_loopback(address, loopback):
    assert access.is_loopback(address) is loopback
    assert (access.refuse_local_mode(address) is None) is loopback


# --------------------------------------------------------------------------- the launcher


def test_local_mode_listens_on_loopback_for_one_user(tmp_path):
    cmd = launch.command(tmp_path, port=8765, user="admin")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--") + 1:] == ["--workspace", str(tmp_path.resolve()), "--user", "admin"]
    assert "--secrets.files" not in cmd
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--server.allowedHosts"] == ["localhost", "127.0.0.1", "::1"]
    assert cmd[cmd.index("--server.trustedUserHeaders") + 1] == "{}"


def test_sign_in_mode_reads_the_secrets_file_and_accepts_the_public_address(tmp_path, signin_ws):
    cmd = launch.command(tmp_path, port=8501, user=None, address="0.0.0.0", secrets_file=tmp_path / "s.toml",
                         auth=signin_ws.config.auth)
    assert cmd[cmd.index("--secrets.files") + 1] == str(tmp_path / "s.toml")
    assert cmd[cmd.index("--") + 1:] == ["--workspace", str(tmp_path.resolve())]
    assert "bpo.example.com" in [cmd[i + 1] for i, a in enumerate(cmd) if a == "--server.allowedHosts"]
    assert cmd[cmd.index("--server.corsAllowedOrigins") + 1] == "https://bpo.example.com"
    assert cmd[cmd.index("--server.enableXsrfProtection") + 1] == "true"


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.20"])
def test_user_beyond_loopback_is_a_configuration_error(address):
    with pytest.raises(ConfigError, match="listens only on 127.0.0.1, ::1 or localhost"):
        launch.check_local("admin", address)


@pytest.mark.parametrize(("environ", "message"), [
    pytest.param({"BPO_COOKIE_SECRET": "c" * 40}, "BPO_OIDC_SECRET \\(\\[auth\\] client_secret_env\\) is not set",
                 id="no-client-secret"),
    pytest.param({"BPO_OIDC_SECRET": "s"}, "BPO_COOKIE_SECRET \\(\\[auth\\] cookie_secret_env\\) is not set",
                 id="no-cookie-secret"),
    pytest.param({"BPO_OIDC_SECRET": "s", "BPO_COOKIE_SECRET": "short"}, "holds 5 characters; the cookie secret needs "
                 "at least 32", id="short-cookie-secret"),
])
def test_missing_secrets_stop_the_launch_naming_the_variable(signin_ws, environ, message):
    with pytest.raises(ConfigError, match=message):
        launch.auth_secrets(signin_ws.config.auth, environ)


def test_the_secrets_file_is_private_and_holds_what_streamlit_needs(tmp_path, signin_ws):
    values = launch.auth_secrets(signin_ws.config.auth, {"BPO_OIDC_SECRET": 's"e\\cret', "BPO_COOKIE_SECRET": "c" * 40})
    path = launch.write_secrets(tmp_path, values)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert tomllib.loads(path.read_text())["auth"] == {
        "redirect_uri": "https://bpo.example.com/oauth2callback", "cookie_secret": "c" * 40, "client_id": "bpo-insights",
        "client_secret": 's"e\\cret', "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--address", "0.0.0.0", "--user", "admin"], "--address 0.0.0.0 with --user admin \\(or BPO_USER\\): "
                 "--user serves one viewer to whoever reaches the port", id="user-beyond-loopback"),
    pytest.param([], "the dashboard needs a way in: declare \\[auth\\] in bpo.toml", id="no-way-in"),
])
def test_the_dashboard_command_refuses_with_exit_2(tmp_path, monkeypatch, capsys, args, message):
    import re

    monkeypatch.delenv("BPO_USER", raising=False)
    ws = Workspace.create(tmp_path / "ws", tiny.TOML)
    assert main(["dashboard", "--workspace", str(ws.path), *args]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_sign_in_mode_without_its_secrets_exits_2_naming_the_variable(signin_ws, monkeypatch, capsys):
    monkeypatch.delenv("BPO_USER", raising=False)
    monkeypatch.delenv("BPO_OIDC_SECRET", raising=False)
    monkeypatch.setenv("BPO_COOKIE_SECRET", "c" * 40)
    assert main(["dashboard", "--workspace", str(signin_ws.path)]) == 2
    assert "environment variable BPO_OIDC_SECRET ([auth] client_secret_env) is not set" in capsys.readouterr().err


# --------------------------------------------------------------------------- the audit log


def test_the_audit_log_keeps_entries_newest_first_and_filters_them(tmp_path, capsys):
    ws = Workspace.create(tmp_path / "ws", tiny.TOML)
    t = [datetime(2026, 11, d, 9, tzinfo=timezone.utc) for d in (1, 2, 3)]
    audit.record(ws, event="sign_in", user="acme-manager", role="brand", identity="ana@acme.example", method="oidc", at=t[0])
    audit.record(ws, event="page_view", user="acme-manager", role="brand", identity="ana@acme.example", method="oidc",
                 page="Weekly review", detail="client=acme", at=t[1])
    audit.record(ws, event="export", user="admin", role="admin", identity=None, method="local", page="Weekly review",
                 detail="=HYPERLINK(1).pdf", at=t[2])
    log = audit.read(ws)
    assert log.get_column("event").to_list() == ["export", "page_view", "sign_in"]
    assert log.get_column("at").to_list() == t[::-1]
    assert audit.read(ws, user="acme-manager", since=date(2026, 11, 2)).get_column("event").to_list() == ["page_view"]
    assert audit.read(ws, until=date(2026, 11, 1)).get_column("event").to_list() == ["sign_in"]

    assert main(["audit", "--workspace", str(ws.path), "--of", "acme-manager"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2026-11-02 09:00:00 UTC  page_view") and "Weekly review · client=acme" in out[0]
    assert main(["audit", "--workspace", str(ws.path), "--format", "csv", "--event", "export"]) == 0
    assert "'=HYPERLINK(1).pdf" in capsys.readouterr().out  # neutralised for spreadsheets
    assert main(["audit", "--workspace", str(ws.path), "--user", "acme-manager"]) == 2
    assert "the audit log is for admins" in capsys.readouterr().err


def test_an_audit_log_that_cannot_be_written_says_so(tmp_path):
    ws = Workspace.create(tmp_path / "ws", tiny.TOML)
    with ws.engine.begin() as con:  # a database that refuses the write, as a read-only or full disk would
        con.exec_driver_sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(WorkspaceError, match="the audit log in .*state.db cannot be written .*disk full.*make the database "
                                             "writable"):
        audit.record(ws, event="sign_in", user="admin", role="admin", identity=None, method="local")


# --------------------------------------------------------------------------- the app (AppTest)


def run_app(monkeypatch, ws: Workspace, user: dict, local_user: str | None = None) -> AppTest:
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    if local_user:
        monkeypatch.setenv("BPO_USER", local_user)
    else:
        monkeypatch.delenv("BPO_USER", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.user = user
    return at.run()


def tiles(at: AppTest) -> int:
    return sum("bpo-tile-value" in m.value for m in at.markdown)


def test_before_sign_in_nothing_but_the_way_in_is_shown(monkeypatch, signin_ws):
    at = run_app(monkeypatch, signin_ws, {"is_logged_in": False})
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert (tiles(at), len(at.sidebar.selectbox), len(at.dataframe), len(at.get("plotly_chart"))) == (0, 0, 0, 0)


def test_a_signed_in_brand_manager_sees_their_review_and_the_sign_in_is_audited(monkeypatch, signin_ws):
    before = audit.read(signin_ws).height
    at = run_app(monkeypatch, signin_ws, {"is_logged_in": True, "email": "Ana@Acme.example", "name": "Ana"})
    assert not at.exception
    assert at.title[0].value == "Weekly review"
    assert tiles(at) > 0
    assert at.sidebar.selectbox(key="filter_client").options == ["All clients", "Acme Home"]
    assert "Sign out" in [b.label for b in at.sidebar.button]
    at.run()  # a rerun of the same page is neither a new sign-in nor a new page view
    new = audit.read(signin_ws).head(audit.read(signin_ws).height - before)
    assert new.select("event", "user_name", "role", "identity", "method", "page").rows()[::-1] == [
        ("sign_in", "acme-manager", "brand", "ana@acme.example", "oidc", None),
        ("page_view", "acme-manager", "brand", "ana@acme.example", "oidc", "Weekly review")]


def test_an_unknown_identity_sees_only_why_and_a_way_out(monkeypatch, signin_ws):
    at = run_app(monkeypatch, signin_ws, {"is_logged_in": True, "email": "[mallory](https://evil.example)@x.example"})
    assert at.title[0].value == "Access denied"
    assert "who has no access in this workspace" in at.error[0].value
    assert "` [mallory](https://evil.example)@x.example `" in at.error[0].value  # a code span: text, never a link
    assert [b.label for b in at.button] == ["Sign out"]
    assert (tiles(at), len(at.sidebar.selectbox), len(at.dataframe)) == (0, 0, 0)
    refused = audit.read(signin_ws, event="sign_in_refused")
    assert refused.get_column("identity").to_list()[0] == "[mallory](https://evil.example)@x.example"


def test_sign_in_declared_but_not_handed_to_streamlit_shows_nothing(monkeypatch, signin_ws):
    at = run_app(monkeypatch, signin_ws, {})
    assert at.title[0].value == "Access denied"
    assert "started without it" in at.error[0].value
    assert tiles(at) == 0


def test_local_mode_still_serves_its_user_when_sign_in_is_declared(monkeypatch, signin_ws):
    at = run_app(monkeypatch, signin_ws, {}, local_user="globex-manager")
    assert at.title[0].value == "Weekly review"
    assert at.sidebar.selectbox(key="filter_client").options == ["All clients", "Globex Travel"]
    assert "Sign out" not in [b.label for b in at.sidebar.button]
    assert audit.read(signin_ws, user="globex-manager", event="sign_in").get_column("method").to_list()[:1] == ["local"]


def test_scope_of_a_user_is_unchanged_by_an_email(signin_ws):
    assert signin_ws.config.user("acme-manager").scope == Scope.of(["acme"], "*")


def test_nothing_is_shown_while_the_audit_log_cannot_be_written(monkeypatch, tmp_path):
    ws = tiny.build(tmp_path / "ws")
    with ws.engine.begin() as con:
        con.exec_driver_sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    at = run_app(monkeypatch, ws, {}, local_user="admin")
    assert "Nothing is shown until the audit log can be written" in at.error[0].value
    assert (tiles(at), len(at.sidebar.selectbox)) == (0, 0)
