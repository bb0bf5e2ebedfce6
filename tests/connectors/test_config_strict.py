"""bpo.toml is checked strictly: a typo is an error naming the key and its nearest spelling, never wider access.

Each case below is one mistake in an otherwise valid workspace (the sample's tenants and users). It
must be refused when the workspace opens (ConfigError; `bpo-insights ... ` exits 2 with the message),
so no user, and no scope, is ever built from a file that says something other than what was meant.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from connectors.errors import AccessDenied, ConfigError
from connectors.store import Scope, Workspace, parse_config
from dashboard.access import Denied, Launch, open_workspace
from insights.cli import main
from sample_data.operation import bpo_toml

BASE = bpo_toml("strict test")


class Typo(NamedTuple):
    toml: str  # added to the sample's bpo.toml: at its end, or at its start (top-level keys)
    message: str  # a regex the error must contain
    at_start: bool = False


def user(body: str) -> str:
    return f'\n[[user]]\nname = "nw-2"\n{body}\n'


TYPOS = [
    pytest.param(Typo(user('role = "vendor"\nclients = ["acme"]\nvendor = ["northwind"]'),
                      r"\[\[user\]\] 'nw-2': 'vendor' is not a key of \[\[user\]\]; did you mean 'vendors'\?.*"
                      r"a vendor user must list its vendors"), id="vendor-for-vendors"),
    pytest.param(Typo(user('role = "vendor"\nclients = ["acme"]'),
                      r"'nw-2': a vendor user must list its vendors \(vendors = \[\"<vendor id>\"\], or \[\"\*\"\]"),
                 id="vendor-user-without-vendors"),
    pytest.param(Typo(user('role = "brand"\nclient = ["acme"]'),
                      r"'client' is not a key of \[\[user\]\]; did you mean 'clients'\?.*a brand user must list its clients"),
                 id="client-for-clients"),
    pytest.param(Typo(user('role = "brand"'), r"'nw-2': a brand user must list its clients"), id="brand-without-clients"),
    pytest.param(Typo(user('role = "brand"\nclients = "acme"'), r"clients = 'acme' must be a list of strings; write \[\"acme\"\]"),
                 id="clients-as-a-string"),
    pytest.param(Typo(user('role = "vendor"\nclients = ["*"]\nvendors = "*"'), r"vendors = '\*' must be a list of strings"),
                 id="star-as-a-string"),
    pytest.param(Typo(user('role = "vendor"\nclients = ["*"]\nvendors = ["northwind", 7]'), r"vendors = \['northwind', 7\] must be a list of strings"),
                 id="vendors-not-all-strings"),
    pytest.param(Typo(user('role = "brand"\nclients = ["acmee"]'),
                      r"clients 'acmee' is not a \[\[client\]\] id of bpo.toml; did you mean 'acme'\? \(declared: acme, globex\)"),
                 id="unknown-client-id"),
    pytest.param(Typo(user('role = "vendor"\nclients = ["*"]\nvendors = ["nortwind"]'),
                      r"vendors 'nortwind' is not a \[\[vendor\]\] id of bpo.toml; did you mean 'northwind'\?"),
                 id="unknown-vendor-id"),
    pytest.param(Typo(user('role = "vender"\nclients = ["*"]\nvendors = ["northwind"]'),
                      r"role = 'vender' must be one of admin, brand, vendor"), id="unknown-role"),
    pytest.param(Typo(user('clients = ["acme"]'), r"\[\[user\]\] 'nw-2': 'role' is missing"), id="no-role"),
    pytest.param(Typo(user('Role = "brand"\nclients = ["acme"]'), r"'Role' is not a key of \[\[user\]\]; did you mean 'role'\?"),
                 id="capitalised-key"),
    pytest.param(Typo(user('role = "brand"\nclients = ["*", "acme"]'), r"clients mixes \"\*\" with ids"), id="star-and-ids"),
    pytest.param(Typo(user('role = "brand"\nclients = []'), r"clients is empty, so the user would see nothing"),
                 id="empty-clients"),
    pytest.param(Typo(user('role = "brand"\nclients = ["acme"]\nsites = ["nw-manila"]'),
                      r"'sites' is not a key of \[\[user\]\]"), id="sites-limit-nothing-so-refused"),
    pytest.param(Typo(user('role = "admin"\nclients = ["acme"]'), r"an admin sees every client and vendor, so clients would "
                      r"limit nothing"), id="admin-with-clients"),
    pytest.param(Typo(user('role = "brand"\nclients = ["acme"]\nemail = "acme manager"'), r"email = 'acme manager' must be one word, "
                      r"e.g. email = \"ana@acme.example\""), id="bad-email"),
    pytest.param(Typo(user('role = "brand"\nclients = ["acme"]\nemail = "ACME-Manager@example.com"'),
                      r"email 'acme-manager@example.com' is also user 'acme-manager's; one identity maps to one user"), id="email-of-another-user"),
    pytest.param(Typo(user('role = "brand"\nclients = ["acme"]\nwebhook_env = "https://hooks.slack.com/services/T0/B0/x"'),
                      r"webhook_env = .* names an environment variable .* never the secret or URL itself"),
                 id="webhook-url-instead-of-its-variable"),
    pytest.param(Typo('\n[[user]]\nname = "admin"\nrole = "admin"\n', r"\[\[user\]\] 'admin': declared twice"),
                 id="duplicate-user"),
    pytest.param(Typo('\n[[users]]\nname = "x"\nrole = "admin"\n',
                      r"'users' is not a table of bpo.toml; did you mean 'user'\?"), id="users-table"),
    pytest.param(Typo('nmae = "x"\n', r"'nmae' is not a key of bpo.toml", at_start=True), id="top-level-key"),
    pytest.param(Typo('service_level_formula = 80\n', r"\[settings\]: service_level_formula = 80 must be a non-empty string"),
                 id="settings-value-type"),
    pytest.param(Typo('\n[[client]]\nid = "initech"\nweek_start = "Monday"\n', r"\[\[client\]\] 'initech': week_start = 'Monday' "
                      r"must be one of monday, tuesday"), id="client-weekday"),
    pytest.param(Typo('\n[[site]]\nid = "sp-lima"\nvendor = "soutpeak"\n',
                      r"\[\[site\]\] 'sp-lima': vendor 'soutpeak' is not a \[\[vendor\]\] id of bpo.toml; did you mean "
                      r"'southpeak'\?"), id="site-of-an-unknown-vendor"),
    pytest.param(Typo('\n[[site]]\nid = "sp-lima"\nvendors = "southpeak"\n',
                      r"'vendors' is not a key of \[\[site\]\]; did you mean 'vendor'\?"), id="site-vendors"),
    pytest.param(Typo('\n[[site]]\nid = "sp-lima"\ntier = "near-shore"\n', r"tier = 'near-shore' must be one of onshore, "
                      r"nearshore, offshore"), id="site-tier"),
    pytest.param(Typo('\n[[client]]\nid = "acme"\n', r"\[\[client\]\] 'acme' is declared twice"), id="duplicate-client"),
    pytest.param(Typo('\n[[client]]\nid = "initech"\nnmae = "Initech"\n',
                      r"\[\[client\]\] 'initech': 'nmae' is not a key of \[\[client\]\]; did you mean 'name'\?"),
                 id="client-key"),
    pytest.param(Typo('\n[[client]]\nid = "initech"\ntimezone = "Mars/Olympus"\n', r"timezone = 'Mars/Olympus' is not an IANA "
                      r"time zone"), id="client-timezone"),
    pytest.param(Typo('\n[[vendor]]\nname = "no id"\n', r"\[\[vendor\]\] #5: 'id' is missing"), id="vendor-without-id"),
    pytest.param(Typo('\n[rate_card]\nvendor = "northwind"\n', r"'rate_card' must be an array of tables: write each one under "
                      r"its own \[\[rate_card\]\] header"), id="array-written-as-a-single-table"),
    pytest.param(Typo('\n[[source]]\nname = "zd"\nkind = "zendesk"\nsubdomain = "acme"\ntoken_env = "T"\nclient = "acmee"\n'
                      'vendor = "northwind"\nsite = "nw-manila"\n',
                      r"\[\[source\]\] 'zd': client 'acmee' is not a \[\[client\]\] id"), id="source-client"),
    pytest.param(Typo('\n[[source]]\nname = "zd"\nkind = "zendesk"\nsubdomain = "acme"\ntoken_env = "T"\nclient = "acme"\n'
                      '[[source.tenants]]\ngroup = "1"\nvendr = "northwind"\n',
                      r"tenants rule #1: 'vendr' is not a key of \[\[source.tenants\]\]; did you mean 'vendor'\?"),
                 id="source-tenant-rule-key"),
    pytest.param(Typo('\n[[source]]\nname = "zd"\nkind = "zendsk"\n', r"kind 'zendsk' is not one of .*; did you mean 'zendesk'\?"),
                 id="source-kind"),
    pytest.param(Typo('\n[[fx_rate]]\ncurrency = "PHP"\nrate = 0.018\nform = 2026-01-01\n',
                      r"\[\[fx_rate\]\] #1: 'form' is not a key of \[\[fx_rate\]\]; did you mean 'from'\?"), id="fx-rate-key"),
    pytest.param(Typo('\n[[rate_card]]\nvendor = "northwind"\nbilling_model = "per_hour"\nrate = 15.0\nsite = "nw-manilla"\n',
                      r"\[\[rate_card\]\] #1: site 'nw-manilla' is not a \[\[site\]\] id of bpo.toml; did you mean 'nw-manila'\?"),
                 id="rate-card-site"),
    pytest.param(Typo('\n[[pilot]]\nname = "p"\nstart = 2026-08-10\nscope = { site = "nw-bogota" }\n',
                      r"\[\[pilot\]\] 'p': scope dimension 'site' is not one of client_id, vendor_id, site_id, channel; did "
                      r"you mean 'site_id'\?"), id="pilot-dimension"),
    pytest.param(Typo('\n[[pilot]]\nname = "p"\nstart = "2026-08-10"\n', r"start = '2026-08-10' must be a bare TOML date"),
                 id="pilot-date-as-text"),
]


def with_typo(typo: Typo) -> str:
    return typo.toml + BASE if typo.at_start else BASE + typo.toml


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "bpo.toml").write_text(text, encoding="utf-8")
    return tmp_path / "ws"


def test_the_sample_workspace_is_valid_and_every_user_has_an_email(tmp_path: Path) -> None:
    config = parse_config(write(tmp_path, BASE) / "bpo.toml")
    assert {u.name: u.email for u in config.users} == {
        "admin": "admin@example.com", "acme-manager": "acme-manager@example.com",
        "globex-manager": "globex-manager@example.com", "northwind-am": "northwind-am@example.com"}


@pytest.mark.parametrize("typo", TYPOS)
def test_a_typo_is_refused_with_the_key_and_the_fix(tmp_path: Path, typo: Typo) -> None:
    with pytest.raises(ConfigError, match=typo.message):
        parse_config(write(tmp_path, with_typo(typo)) / "bpo.toml")


@pytest.mark.parametrize("typo", TYPOS)
def test_a_typo_exits_2_from_the_command_line_and_the_dashboard_shows_nothing(tmp_path: Path, typo: Typo, capsys) -> None:
    ws = write(tmp_path, with_typo(typo))
    assert main(["status", "--workspace", str(ws), "--user", "northwind-am"]) == 2
    err = capsys.readouterr().err
    assert "bpo.toml" in err and "Traceback" not in err
    assert isinstance(open_workspace(Launch(ws, "northwind-am")), Denied)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = user('role = "vendor"\nclient = ["acme"]\nvendor = ["northwind"]') + BASE + "sla = 1\n"  # the last table: [settings]
    with pytest.raises(ConfigError) as e:
        parse_config(write(tmp_path, text) / "bpo.toml")
    message = str(e.value)
    assert message.count("did you mean") == 2 and "must list its clients" in message and "must list its vendors" in message
    assert "'sla' is not a key of [settings]" in message


class Written(NamedTuple):
    body: str
    scope: Scope


@pytest.mark.parametrize("written", [
    pytest.param(Written('role = "vendor"\nclients = ["*"]\nvendors = ["northwind"]',
                         Scope(clients=None, vendors=frozenset({"northwind"}))), id="vendor-every-client-it-serves"),
    pytest.param(Written('role = "vendor"\nclients = ["acme"]\nvendors = ["southpeak"]',
                         Scope(clients=frozenset({"acme"}), vendors=frozenset({"southpeak"}))), id="vendor-one-client"),
    pytest.param(Written('role = "brand"\nclients = ["globex"]', Scope(clients=frozenset({"globex"}), vendors=None)),
                 id="brand-every-vendor-of-its-own"),
    pytest.param(Written('role = "brand"\nclients = ["acme"]\nvendors = ["northwind"]',
                         Scope(clients=frozenset({"acme"}), vendors=frozenset({"northwind"}))), id="brand-narrowed"),
    pytest.param(Written('role = "admin"', Scope.everything()), id="admin"),
])
def test_a_scope_is_exactly_what_is_written(tmp_path: Path, written: Written) -> None:
    config = parse_config(write(tmp_path, BASE + user(written.body)) / "bpo.toml")
    assert config.user("nw-2").scope == written.scope


def test_a_user_is_found_by_the_email_sign_in_asserts_in_any_case(tmp_path: Path) -> None:
    text = BASE + user('role = "vendor"\nclients = ["*"]\nvendors = ["southpeak"]\nemail = "AM@Southpeak.Example"\n'
                       'webhook_env = "SOUTHPEAK_CHAT_WEBHOOK"')
    config = parse_config(write(tmp_path, text) / "bpo.toml")
    found = config.user_for_email("am@southpeak.example ")
    assert (found.name, found.email, found.webhook_env) == ("nw-2", "am@southpeak.example", "SOUTHPEAK_CHAT_WEBHOOK")
    assert config.user_for_email("ADMIN@example.com").name == "admin"
    with pytest.raises(AccessDenied, match="no \\[\\[user\\]\\] of bpo.toml has email 'mallory@example.com'"):
        config.user_for_email("mallory@example.com")


def test_a_database_url_never_holds_its_password(tmp_path: Path) -> None:
    text = BASE.replace('[workspace]\n', '[workspace]\ndatabase_url = "postgresql+psycopg://bpo:s3cret@db/bpo"\n', 1)
    with pytest.raises(ConfigError, match="database_url holds a password; remove it and set password_env"):
        parse_config(write(tmp_path, text) / "bpo.toml")


def test_password_env_supplies_the_metadata_database_password(tmp_path: Path, monkeypatch) -> None:
    text = BASE.replace('[workspace]\n', '[workspace]\ndatabase_url = "postgresql+psycopg://bpo@db.internal/bpo"\n'
                        'password_env = "BPO_TEST_DB_PW"\n', 1)
    ws = Workspace(write(tmp_path, text))
    monkeypatch.delenv("BPO_TEST_DB_PW", raising=False)
    with pytest.raises(ConfigError, match=r"password_env names \$BPO_TEST_DB_PW, which is not set"):
        _ = ws.engine
    monkeypatch.setenv("BPO_TEST_DB_PW", "pw")
    assert (ws.metadata_url.username, ws.metadata_url.password, ws.metadata_url.host) == ("bpo", "pw", "db.internal")
