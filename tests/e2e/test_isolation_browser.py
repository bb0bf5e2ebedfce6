"""The isolation suite in a real browser: one server, people signing in one after another, no other tenant's marker.

The canary workspace of tests/test_isolation.py (every tenant's ids, names, events, pilots, targets, invoices and
insight notes carry unique markers) is served by ONE dashboard process with [auth]; a real OpenID Connect provider
(the one of test_sign_in_browser.py) signs in admin, a brand and competing vendors in turn, so every Streamlit
cache is shared between them. For each person every page of the sidebar is opened, and what reaches their browser
is read: the page's text (shown and hidden, e.g. closed expanders), its title, aria-label, alt, src and href
attributes, the options of every drop-down (the client, vendor and site filters included), and on the Weekly review
every file its download buttons give (PowerPoint unzipped, PDF text extracted, HTML and Markdown as text). A marker
of a tenant outside the person's scope anywhere is a leak; each person must also see some of their own markers
(a page that shows nothing cannot pass), and admin, the positive control, must see markers every other person may
not (so the reading would catch them).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from serving import auth_section, button, free_port, register_client, register_person, settled, sign_in, sign_out, signed_in_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_isolation import _file_text, _pattern, build, canaries, leaks, sees  # noqa: E402

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
WAIT = 120  # see serving.WAIT
DOWNLOAD_WAIT = 180  # the PDF is rendered by a headless Chromium on the server
SHOTS = ROOT / "artifacts" / "screenshots"

# who signs in, in this order (admin first: the positive control fills every cache with every tenant's rows)
PEOPLE = ["admin", "acme-manager", "northwind-am", "southpeak-am", "eastbay-am"]
EXPORTS = ["Download PowerPoint", "Download PDF", "Download HTML page", "Download Markdown"]


def _email(user: str) -> str:
    return f"{user}@iso.example"


def _bpo_toml(text: str, issuer: str, port: int, client_id: str) -> str:
    """The canary bpo.toml with one sign-in email per [[user]] (replacing the generator's) and [auth]."""
    lines = [line for line in text.splitlines() if not line.startswith("email = ")]
    out = []
    for line in lines:
        out.append(line)
        if line.startswith('name = "') and out[-2:-1] == ["[[user]]"]:
            out.append(f'email = "{_email(line.split(chr(34))[1])}"')
    return "\n".join(out) + "\n" + auth_section(issuer, port, client_id)


@pytest.fixture(scope="module")
def served(browser_available, provider, tmp_path_factory) -> Iterator[dict]:
    """One dashboard server in sign-in mode on the canary workspace."""
    port = free_port()
    client = register_client(provider, port)
    for user in PEOPLE:
        register_person(provider, "sub-" + user, _email(user), user)
    base = tmp_path_factory.mktemp("iso-browser")
    ws = build(base / "ws")
    toml = ws.path / "bpo.toml"
    toml.write_text(_bpo_toml(toml.read_text(), provider, port, client["client_id"]))
    with signed_in_server(ws.path, port, base, client["client_secret"]) as served:
        yield served


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def chrome(driver, downloads):
    """The e2e suite's headless Chromium, saving downloads to `downloads` without asking."""
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    # whatever happened, the next test's browser is signed in nowhere (the sign-in test uses the same cookie secret)
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})


# everything of the page that reaches the person: text (hidden too), the tab title, and the attributes that show or fetch
PAGE_TEXT = """
const parts = [document.title, document.body.innerText, document.body.textContent];
for (const el of document.querySelectorAll('[title],[aria-label],[alt],[src],[href],[placeholder],[aria-valuetext]')) {
  for (const a of ['title', 'aria-label', 'alt', 'src', 'href', 'placeholder', 'aria-valuetext']) {
    const v = el.getAttribute(a);
    if (v && !v.startsWith('data:')) parts.push(a + '=' + v);
  }
}
return parts.join('\\n');
"""


def _wait(driver, seconds: float = WAIT) -> WebDriverWait:
    return WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))


def _main_ready(driver, title: str) -> None:
    """The page `title` has replaced the previous one, and the server has finished running it."""
    _wait(driver).until(lambda d: [h.text.strip() for h in d.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] h1")][:1]
                        == [title])
    settled(driver)


def _dropdowns(driver, where: str) -> list[tuple[str, str]]:
    """(label, the options it offers) of every drop-down in `where` (main or sidebar): opened, read, closed."""
    out = []
    boxes = driver.find_elements(By.CSS_SELECTOR, f"[data-testid='{where}'] [data-testid='stSelectbox'], "
                                                  f"[data-testid='{where}'] [data-testid='stMultiSelect']")
    for box in boxes:
        label = box.text.split("\n")[0]
        field = box.find_element(By.CSS_SELECTOR, "input")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        field.click()
        items = _wait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role='option']"))
        out.append((label, "\n".join(i.text for i in items)))
        field.send_keys("\ue00c")  # Escape closes the list
        _wait(driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role='option']"))
    return out


def _download_all(driver, folder: Path, user: str) -> list[tuple[str, str]]:
    """Click each export button of the Weekly review; (file name, its text) of every file the browser saved."""
    out = []
    for label in EXPORTS:
        before = set(folder.iterdir())
        new: list[Path] = []
        # a click during a rerun asks for a file the rerun replaced ("Deferred file ... not found" in the server's
        # log) and nothing downloads: click again once, after the server has settled
        for attempt in range(2):
            settled(driver)
            found = button(driver, label)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found)
            found.click()
            deadline = time.monotonic() + DOWNLOAD_WAIT / 2
            while time.monotonic() < deadline:
                new = [p for p in set(folder.iterdir()) - before if not p.name.endswith(".crdownload")]
                if new and not [p for p in folder.iterdir() if p.name.endswith(".crdownload")]:
                    break
                time.sleep(0.3)
            if new or [p for p in folder.iterdir() if p.name.endswith(".crdownload")]:
                break
        assert len(new) == 1, f"{user}: {label} saved {[p.name for p in new]} within {DOWNLOAD_WAIT}s"
        path = new[0].rename(folder / f"{user}-{new[0].name}")
        out.append((f"download {path.suffix}", _file_text(path)))
    return out


def _visit(driver, folder: Path, user: str) -> list[tuple[str, str]]:
    """(surface, text) of everything `user` is shown: each page's text and drop-downs, the Weekly review's files."""
    surfaces: list[tuple[str, str]] = []
    links = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebarNav'] a")
    titles = [a.text.strip().split("\n")[-1] for a in links]  # the icon's name comes first
    pages = re.findall(r'\("views/\w+\.py", "([^"]+)"', (ROOT / "dashboard" / "app.py").read_text())  # app.PAGES
    assert len(pages) >= 10 and titles == pages, titles  # every page of the sidebar, each visited below
    for title in titles:
        link = next(a for a in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebarNav'] a") if a.text.strip().endswith(title))
        started = time.monotonic()
        link.click()
        _main_ready(driver, title)
        print(f"  {user} {title}: {time.monotonic() - started:.1f}s to run", end="")
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']"), (user, title)
        surfaces.append((f"{title}: page", driver.execute_script(PAGE_TEXT)))
        surfaces += [(f"{title}: drop-down {label}", options) for label, options in _dropdowns(driver, "stMain")]
        if title == "Weekly review":  # the sidebar's filters are the same on every page (app.py draws them)
            surfaces += [(f"sidebar: drop-down {label}", options) for label, options in _dropdowns(driver, "stSidebar")]
            driver.save_screenshot(str(SHOTS / f"iso_{user}.png"))
            started = time.monotonic()
            surfaces += [(f"{title}: {name}", text) for name, text in _download_all(driver, folder, user)]
            print(f", {time.monotonic() - started:.1f}s for the downloads", end="")
    return surfaces


def test_people_signing_in_one_after_another_see_no_other_tenants_marker_anywhere(served, provider, chrome, downloads):
    SHOTS.mkdir(parents=True, exist_ok=True)
    every = canaries()
    seen: dict[str, set[str]] = {}
    leaked: list[tuple[str, str, str]] = []
    for user in PEOPLE:
        sign_in(chrome, served, provider, {"sub": "sub-" + user})
        _main_ready(chrome, "Weekly review")
        assert f"({user}, " in chrome.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar']").text
        surfaces = _visit(chrome, downloads, user)
        mine = {m for m, owners in every.items() if any(sees(user, o) for o in owners)}
        seen[user] = {m for m in every if any(_pattern(m).search(text) for _, text in surfaces)}
        leaked += [(user, surface, m) for surface, text in surfaces for m in leaks(user, text)]
        print(f"\n{user}: {len(surfaces)} surfaces, {len(every) - len(mine)} foreign canaries, "
              f"{len(surfaces) * (len(every) - len(mine))} (canary, surface) checks, "
              f"{len([x for x in leaked if x[0] == user])} leaked; {len(seen[user] & mine)} of its own {len(mine)} shown")
        assert seen[user] & mine, f"{user} was shown none of its own markers: the reading reads nothing"
        sign_out(chrome, served, provider)
    assert leaked == []
    for user in PEOPLE[1:]:  # the positive control: what each person may not see does reach a browser (admin's)
        foreign = {m for m, owners in every.items() if not any(sees(user, o) for o in owners)}
        assert seen["admin"] & foreign, user
