"""Sign-in in a real browser: an OpenID Connect provider on 127.0.0.1, one dashboard server, four people in turn.

The provider is `oidc-provider-mock` (a real OIDC server: discovery, authorize form, token endpoint, signed ID
tokens); the app is registered with it like with any identity provider, and its secret reaches the server only
through the environment variable bpo.toml names. Admin, a brand manager and a vendor account manager each sign in,
see their own Weekly review and sign out; an identity no [[user]] claims sees nothing; the audit log has it all.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from connectors.store import Workspace, audit

import tiny  # tests/dashboard (the e2e conftest puts it on the path)
from serving import (COOKIE_SECRET, auth_section, body, button, free_port, register_client, register_person, settled,
                     sign_in, sign_out, signed_in_server)

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60

# who signs in (the provider's subject and claims) -> the [[user]] they map to; emails differ in case on purpose
PEOPLE = {
    "admin": {"sub": "u-admin", "email": "Ada.Admin@Brand.Example", "name": "Ada Admin"},
    "acme-manager": {"sub": "u-ana", "email": "ana@acme.example", "name": "Ana Acme"},
    "northwind-am": {"sub": "u-nico", "email": "nico@northwind.example", "name": "Nico Northwind"},
}
STRANGER = {"sub": "u-mallory", "email": "mallory@elsewhere.example", "name": "Mallory"}


def _bpo_toml(provider: str, port: int) -> str:
    """tiny's bpo.toml with each person's email on their [[user]] and [auth] pointing at the provider."""
    text = tiny.TOML
    for user, person in PEOPLE.items():
        head = f'[[user]]\nname = "{user}"\n'
        assert head in text
        text = text.replace(head, head + f'email = "{person["email"].lower()}"\n')
    return text + auth_section(provider, port, "{client_id}")


@pytest.fixture(scope="module")
def signed(browser_available, provider, tmp_path_factory) -> Iterator[dict]:
    """One dashboard server in sign-in mode on the tiny workspace; yields its url, workspace, temp dir and log."""
    port = free_port()
    client = register_client(provider, port)
    for person in [*PEOPLE.values(), STRANGER]:
        register_person(provider, person["sub"], person["email"], person["name"])
    base = tmp_path_factory.mktemp("signin")
    ws = tiny.build(base / "ws")
    (ws.path / "bpo.toml").write_text(_bpo_toml(provider, port).replace("{client_id}", client["client_id"]))
    with signed_in_server(ws.path, port, base, client["client_secret"]) as served:
        yield served
    # a stopped server leaves no secrets behind, and never printed them
    assert list(served["tmp"].iterdir()) == []
    assert client["client_secret"] not in served["log"].read_text() and COOKIE_SECRET not in served["log"].read_text()


def test_before_sign_in_only_the_way_in_is_shown(signed, driver, screenshots):
    driver.get(signed["url"])
    button(driver, "Sign in")
    settled(driver)
    text = body(driver)
    assert "Sign in" in text
    assert not [m for m in ("Acme", "Globex", "Northwind", "Southpeak", "Weekly review") if m in text]
    assert not driver.find_elements(By.CSS_SELECTOR, "div.bpo-tile-value, .js-plotly-plot")
    driver.save_screenshot(str(screenshots / "sign_in.png"))
    # a page's own address shows the same sign-in page, not the page
    driver.get(signed["url"] + "data_health")
    button(driver, "Sign in")
    settled(driver)
    assert "Data health" not in body(driver)


def test_the_server_keeps_its_secrets_in_a_private_file(signed):
    folders = list(signed["tmp"].iterdir())
    assert len(folders) == 1
    secrets_file = folders[0] / "secrets.toml"
    assert stat.S_IMODE(folders[0].stat().st_mode) == 0o700
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert signed["secret"] in secrets_file.read_text()
    assert signed["secret"] not in (signed["ws"] / "bpo.toml").read_text()


# what each role's Weekly review must show, and must never show (tenant names on screen)
SEES = {
    "admin": (["Acme Home", "Globex Travel", "Northwind BPO", "Southpeak Contact"], [], "admin"),
    "acme-manager": (["Acme Home"], ["Globex", "zz-globex-only-site", "GLOBEX-MARKER-QUEUE", "77.7%"], "brand"),
    "northwind-am": (["Northwind BPO"], ["Southpeak", "Globex", "sp-austin"], "vendor"),
}


def test_three_people_sign_in_in_turn_and_each_sees_their_own_review(signed, provider, driver, screenshots):
    for user, person in PEOPLE.items():
        sign_in(driver, signed, provider, person)
        WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "div.bpo-tile-value"))
        settled(driver)
        text = body(driver)
        assert "Weekly review" in text
        assert f"Signed in as {person['email'].lower()} ({user}, {SEES[user][2]})" in text
        driver.save_screenshot(str(screenshots / f"weekly_review_signed_in_{user}.png"))
        shown, hidden, _ = SEES[user]
        for option in ("client", "vendor"):  # the filters offer exactly the tenants in view
            text += "\n" + _options(driver, option)
        assert [m for m in shown if m not in text] == [], user
        assert [m for m in hidden if m in text] == [], user
        if user == "acme-manager":  # a download is an export in the audit log, with the view it holds
            button(driver, "Download Markdown").click()
            WebDriverWait(driver, WAIT).until(
                lambda d: audit.read(Workspace.open(signed["ws"]), event="export", user=user).height == 1)
        sign_out(driver, signed, provider)
    log = audit.read(Workspace.open(signed["ws"]))
    assert log.filter(event="sign_in").sort("id").select("user_name", "identity", "method").rows() == [
        (user, person["email"].lower(), "oidc") for user, person in PEOPLE.items()]
    views = log.filter(event="page_view")
    assert sorted(set(views.get_column("user_name").to_list())) == sorted(PEOPLE)
    assert set(views.get_column("page").to_list()) == {"Weekly review"}
    assert log.filter(event="sign_out").get_column("user_name").to_list()[::-1] == list(PEOPLE)
    assert log.filter(event="export").select("user_name", "page").rows() == [("acme-manager", "Weekly review, 2025-W10")]
    assert log.filter(event="export").item(0, "detail").endswith(".md")


def _options(driver, dimension: str) -> str:
    """The labels a sidebar filter offers (opened, read, closed)."""
    box = driver.find_element(By.XPATH, f"//section[@data-testid='stSidebar']//label[normalize-space()='{dimension.capitalize()}']"
                                        "/ancestor::div[@data-testid='stSelectbox']")
    box.find_element(By.CSS_SELECTOR, "input").click()
    items = WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role='option']"))
    text = "\n".join(i.text for i in items)
    box.find_element(By.CSS_SELECTOR, "input").send_keys("\ue00c")  # Escape closes the list
    return text


def test_an_identity_no_user_claims_sees_nothing_but_how_to_get_access(signed, provider, driver, screenshots):
    sign_in(driver, signed, provider, STRANGER)
    button(driver, "Sign out")
    settled(driver)
    text = body(driver)
    assert "You are signed in as mallory@elsewhere.example, who has no access in this workspace." in text
    assert 'Ask an admin to add a [[user]] with email = "mallory@elsewhere.example"' in text
    assert not [m for m in ("Acme", "Globex", "Northwind", "Southpeak", "Weekly review") if m in text]
    assert not driver.find_elements(By.CSS_SELECTOR, "div.bpo-tile-value, .js-plotly-plot, [data-testid='stSidebar']")
    assert not driver.find_elements(By.CSS_SELECTOR, "a[href^='mailto:']")  # an identity is shown as text, never a link
    driver.save_screenshot(str(screenshots / "signed_in_without_access.png"))
    sign_out(driver, signed, provider)
    log = audit.read(Workspace.open(signed["ws"]), event="sign_in_refused")
    assert log.select("user_name", "identity").rows() == [(None, "mallory@elsewhere.example")]
