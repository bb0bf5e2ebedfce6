"""The isolation suite (non-browser): no viewer ever sees another tenant's marker, on any surface.

A canary workspace (the sample operation, small) where every tenant's data carries unique
markers: client, vendor and site ids and names, queues and agents (ids carry their site), events
of every tenant shape (no client, a client only, a client at another vendor's site), pilots in
events and in bpo.toml, contract targets, invoice lines, and insight notes written by every
viewer. For each role (each brand, each competing vendor; admin may see every marker) every CLI
command that prints data runs with `--user` (kpis in every format, insights, report in every format,
forecast, pilot for every pilot's name, status) and every dashboard page runs in AppTest; the text of
every output (files unzipped, PDF text extracted, every element of the page) is searched for the
markers of tenants outside the role's scope. The html, pptx and pdf files are a test of their own
(rendering them costs ~40 s a role).

Who may see what is written here independently of the product (`sees`): a brand sees its own
client's rows, and the vendors and sites that serve it; a vendor sees its own rows, and a client's
rows that name no vendor when it serves that client; rows naming no client are admin's; a note is
its author's tenant's (and admin's).
"""

from __future__ import annotations

import io
import importlib.util
import logging
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Workspace
from insights import cli
from insights.detection import insight_log
from insights.detection.engine import detect
from insights.export import FORMATS

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
PAGES = sorted(p.relative_to(APP.parent).as_posix() for p in (APP.parent / "views").glob("*.py")
               if p.name != "__init__.py")
STAMP = datetime(2026, 11, 1, tzinfo=timezone.utc)
LINEAGE = dict(source_system="canary", source_instance="isolation", ingested_at=STAMP, updated_at=STAMP)

# who serves whom in the sample operation (sample_data/operation.py ROUTING)
SERVES = {"northwind": {"acme"}, "southpeak": {"acme", "globex"}, "eastbay": {"globex"}, "in_house": {"acme"}}
ROLES = {"admin": None, "acme-manager": ("brand", "acme"), "globex-manager": ("brand", "globex"),
         "northwind-am": ("vendor", "northwind"), "southpeak-am": ("vendor", "southpeak"),
         "eastbay-am": ("vendor", "eastbay")}
ADMIN = "admin-only"
Lane = tuple[str | None, str | None]  # (client, vendor); None: every client / every vendor

# marker -> the lanes whose data carries it (visible when any of them is)
ID_MARKERS: dict[str, list[Lane]] = {  # ids already in the data, matched as whole words, any case
    "acme": [("acme", None)], "globex": [("globex", None)],
    "northwind": [(None, "northwind")], "southpeak": [(None, "southpeak")], "eastbay": [(None, "eastbay")],
    "in_house": [(None, "in_house")],
    "nw-manila": [("acme", "northwind")], "nw-bogota": [("acme", "northwind")],
    "sp-austin": [("acme", "southpeak"), ("globex", "southpeak")], "sp-krakow": [("globex", "southpeak")],
    "eb-cebu": [("globex", "eastbay")], "hq-denver": [("acme", "in_house")],
}
NAMES = {  # bpo.toml display names (the labels), each with a marker
    '"Acme Home"': ("MKNAME-ACME", ("acme", None)), '"Globex Travel"': ("MKNAME-GLOBEX", ("globex", None)),
    '"Northwind BPO"': ("MKNAME-NW", (None, "northwind")), '"Southpeak Contact"': ("MKNAME-SP", (None, "southpeak")),
    '"Eastbay Support"': ("MKNAME-EB", (None, "eastbay")), '"In-house team"': ("MKNAME-IH", (None, "in_house")),
    '"Northwind Manila"': ("MKNAME-NWMNL", ("acme", "northwind")), '"Southpeak Kraków"': ("MKNAME-SPKRK", ("globex", "southpeak")),
    '"Eastbay Cebu"': ("MKNAME-EBCEB", ("globex", "eastbay")), '"Acme HQ Denver"': ("MKNAME-HQDEN", ("acme", "in_house")),
}
EVENTS = [  # name (the marker), kind, client, vendor, site, owner
    ("MKEV-NW-NOCLIENT", "promotion", None, "northwind", "nw-bogota", ADMIN),
    ("MKEV-SITE-NOCLIENT", "outage", None, None, "sp-krakow", ADMIN),
    ("MKEV-ACME-AT-SPAUSTIN", "outage", "acme", None, "sp-austin", ("acme", "southpeak")),
    ("MKEV-ACME-ALL", "launch", "acme", None, None, ("acme", None)),
    ("MKEV-GLOBEX-ALL", "promotion", "globex", None, None, ("globex", None)),
    ("MKEV-GLOBEX-EB", "vendor_change", "globex", "eastbay", "eb-cebu", ("globex", "eastbay")),
    ("MKPILOT-EB", "pilot", "globex", "eastbay", "eb-cebu", ("globex", "eastbay")),
    ("MKPILOT-NW", "pilot", "acme", "northwind", "nw-manila", ("acme", "northwind")),
    ("MKPILOT-NOCLIENT", "pilot", None, "southpeak", "sp-krakow", ADMIN),
]
TOML_PILOTS = {  # bpo.toml [[pilot]] name -> (scope, owner)
    "MKTOML-SP": ('{ client_id = "globex", site_id = "sp-krakow" }', ("globex", "southpeak")),
    "MKTOML-NOCLIENT": ('{ site_id = "nw-manila" }', ADMIN),
}
TARGETS = {  # queue (the marker) -> (client, vendor)
    "MKTGT-GLOBEX-ALL": ("globex", None), "MKTGT-ACME-NW": ("acme", "northwind"), "MKTGT-GLOBEX-EB": ("globex", "eastbay"),
}
INVOICES = {  # description (the marker) -> (client, vendor, site)
    "MKINV-ACME-NW": ("acme", "northwind", "nw-manila"), "MKINV-GLOBEX-EB": ("globex", "eastbay", "eb-cebu"),
    "MKINV-GLOBEX-SP": ("globex", "southpeak", "sp-krakow"), "MKINV-ACME-SP": ("acme", "southpeak", "sp-austin"),
}
NOTE = "MKNOTE-{}"  # each role's note on every insight it sees


def sees(role: str, owner) -> bool:
    """The specification: may `role` see data owned by `owner` (a lane, ADMIN, or ("note", role))?"""
    if ROLES[role] is None:
        return True
    if owner == ADMIN:
        return False
    if owner[0] == "note":
        return owner[1] == role
    kind, me = ROLES[role]
    client, vendor = owner
    if kind == "brand":
        return client == me if client is not None else me in SERVES[vendor]
    return vendor == me if vendor is not None else client in SERVES[me]


def canaries() -> dict[str, list]:
    """marker -> its owners."""
    out: dict[str, list] = {m: list(lanes) for m, lanes in ID_MARKERS.items()}
    out |= {m: [lane] for m, lane in NAMES.values()}
    out |= {name: [owner] for name, *_, owner in EVENTS}
    out |= {name: [owner] for name, (_, owner) in TOML_PILOTS.items()}
    out |= {q: [lane] for q, lane in TARGETS.items()}
    out |= {d: [(c, v)] for d, (c, v, _) in INVOICES.items()}
    out |= {NOTE.format(r): [("note", r)] for r in ROLES if r != "admin"}
    return out


def _pattern(marker: str) -> re.Pattern:
    if marker in ID_MARKERS:
        return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(marker)}(?![A-Za-z0-9_])", re.IGNORECASE)
    return re.compile(re.escape(marker))


def leaks(role: str, text: str) -> list[str]:
    """Markers in `text` that `role` may not see."""
    return sorted(m for m, owners in canaries().items()
                  if not any(sees(role, o) for o in owners) and _pattern(m).search(text))


# --------------------------------------------------------------------------- the canary workspace


def _toml(text: str) -> str:
    for old, (marker, _) in NAMES.items():
        text = text.replace(f"name = {old}", f"name = {old[:-1]} {marker}\"")
    users = "".join(f'[[user]]\nname = "{v}-am"\nrole = "vendor"\nclients = ["*"]\nvendors = ["{v}"]\n\n'
                    for v in ("southpeak", "eastbay"))
    pilots = "".join(f'[[pilot]]\nname = "{n}"\nscope = {s}\nstart = 2026-09-07\n\n' for n, (s, _) in TOML_PILOTS.items())
    head, _, settings = text.partition("[settings]")
    return f"{head}{users}{pilots}[settings]{settings}"


def build(path: Path) -> Workspace:
    from sample_data.generator import generate

    generate(path, weeks=13, scale=0.01, seed=7)
    (path / "bpo.toml").write_text(_toml((path / "bpo.toml").read_text()))
    ws = Workspace.open(path)
    ws.upsert("events", pl.DataFrame([dict(event_id=name.lower(), kind=kind, name=name, client_id=c, vendor_id=v,
                                           site_id=s, start_date=date(2026, 10, 5), end_date=date(2026, 11, 15),
                                           description=f"{name} details", **LINEAGE)
                                      for name, kind, c, v, s, _ in EVENTS]))
    ws.upsert("sla_targets", pl.DataFrame([dict(target_id=q.lower(), client_id=c, vendor_id=v, queue=q,
                                                effective_from=date(2026, 1, 1), metric="sla_first_response",
                                                threshold_seconds=3600.0, comparator=">=", attainment_target=0.8,
                                                **LINEAGE) for q, (c, v) in TARGETS.items()]))
    ws.upsert("cost_invoices", pl.DataFrame([dict(invoice_id=d, line_no=1, client_id=c, vendor_id=v, site_id=s,
                                                  period_start=date(2026, 10, 1), period_end=date(2026, 10, 31),
                                                  billing_model="fixed", description=d, amount=100.0, currency="USD",
                                                  **LINEAGE) for d, (c, v, s) in INVOICES.items()]))
    for role in ROLES:
        if role == "admin":
            continue
        user = ws.config.user(role)
        tenant = insight_log.tenant_of(user)
        for ins in detect(ws, user.scope).insights:
            insight_log.record(ws, ins.id, user=role, tenant=tenant, owner=NOTE.format(role),
                               action_taken=f"{NOTE.format(role)} action")
    return ws


@pytest.fixture(scope="module")
def canary(tmp_path_factory) -> Workspace:
    return build(tmp_path_factory.mktemp("canary") / "ws")


# --------------------------------------------------------------------------- the surfaces


def _file_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix in (".pptx", ".xlsx", ".docx"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith((".xml", ".rels")))
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    if path.suffix == ".parquet":
        return pl.read_parquet(path).write_csv()
    return data.decode("utf-8", "replace")


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def _choices(command: str, option: str) -> list[str]:
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices[command]  # noqa: SLF001
    return list(next(a for a in sub._actions if a.dest == option).choices)  # noqa: SLF001


def cli_outputs(ws: Workspace, role: str, capsys, tmp: Path, *, files: bool = False) -> Iterator[tuple[str, str]]:
    """(surface, text) of every CLI command that prints data, run as `role`; `files`: the report's rendered files
    (html, pptx, pdf: slow) instead."""
    base = ["--workspace", str(ws.path), "--user", role]
    formats = [f for f in FORMATS if (f != "md") == files]
    for fmt in formats:
        out = tmp / f"report-{role}.{fmt}"
        code, text = _run(capsys, ["report", *base, "--format", fmt, "--out", str(out)])
        if fmt == "pdf" and code != 0 and not shutil.which("chromium"):
            continue
        assert code == 0, text
        yield f"report --format {fmt}", text + _file_text(out)
    if files:
        return
    yield "status", _run(capsys, ["status", *base])[1]
    for fmt in _choices("kpis", "format"):
        out = tmp / f"kpis-{role}.{fmt}"
        code, text = _run(capsys, ["kpis", *base, "--by", "vendor_id,site_id,channel", "--format", fmt, "--out", str(out)])
        yield f"kpis --format {fmt}", text + (_file_text(out) if out.exists() else "")
    for fmt in _choices("insights", "format"):
        yield f"insights --format {fmt}", _run(capsys, ["insights", *base, "--format", fmt])[1]
    # md names every queue by its labels and ids; json and csv hold the same queues (and cost 5 s more a role)
    yield "forecast --format md", _run(capsys, ["forecast", *base, "--weeks", "2", "--by", "client_id,vendor_id,site_id",
                                                "--format", "md"])[1]
    for name in _pilot_names(ws):  # every pilot of the workspace, asked for by name
        code, text = _run(capsys, ["pilot", *base, name, "--format", "json"])
        yield f"pilot {name!r}", text.replace(f"'{name}'", "'<asked>'")  # the name the user typed is not a leak


def _pilot_names(ws: Workspace) -> list[str]:
    from connectors.store import Scope
    from insights.analyses.pilots import load_pilots

    return sorted(load_pilots(ws, Scope.everything()))


def page_outputs(ws: Workspace, role: str, monkeypatch) -> Iterator[tuple[str, str]]:
    """(page, everything it put on screen) of every dashboard page, run as `role` in AppTest."""
    from streamlit.testing.v1 import AppTest

    sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
    # by its path: in a whole-suite run the name 'conftest' is already another folder's module
    spec = importlib.util.spec_from_file_location("dashboard_conftest", ROOT / "tests" / "dashboard" / "conftest.py")
    assert spec is not None and spec.loader is not None
    dashboard_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dashboard_conftest)
    _rendered_text = dashboard_conftest._rendered_text

    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", role)
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("streamlit")]:
        monkeypatch.setattr(logging.getLogger(name), "disabled", True)  # bare-mode warnings, to a closed capsys stream
    for page in PAGES:
        at = AppTest.from_file(str(APP), default_timeout=120)
        if page != "views/weekly_review.py":
            at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        yield page, _rendered_text(at)


# --------------------------------------------------------------------------- the suite


def test_the_specification_of_who_sees_what():
    assert sees("acme-manager", (None, "southpeak")) and not sees("acme-manager", (None, "eastbay"))
    assert sees("northwind-am", ("acme", None)) and not sees("northwind-am", ("globex", None))
    assert not sees("northwind-am", ("acme", "southpeak")) and not sees("globex-manager", ADMIN)
    assert sees("southpeak-am", ("globex", None)) and not sees("southpeak-am", ("note", "acme-manager"))
    assert leaks("globex-manager", "the acme-orders queue; placement") == ["acme"]
    assert leaks("admin", "MKEV-NW-NOCLIENT globex") == []


def _check(role: str, outputs) -> list[tuple[str, str]]:
    tried, found, seen_own = 0, [], set()
    mine = {m for m, owners in canaries().items() if any(sees(role, o) for o in owners)}
    foreign = len(canaries()) - len(mine)
    for surface, text in outputs:
        tried += foreign
        found += [(surface, m) for m in leaks(role, text)]
        seen_own |= {m for m in mine if _pattern(m).search(text)}
    print(f"\n{role}: {foreign} foreign canaries, {tried} (canary, surface) checks, {len(found)} leaked; "
          f"{len(seen_own)} of its own {len(mine)} markers shown")
    assert seen_own, "the search reads the outputs: a role sees at least its own markers"
    return found


TENANT_ROLES = [r for r in ROLES if ROLES[r] is not None]  # admin sees every marker by definition


@pytest.mark.slow
@pytest.mark.parametrize("role", TENANT_ROLES)
def test_no_role_sees_another_tenants_marker_in_the_cli_or_on_a_page(canary, role, capsys, monkeypatch, tmp_path):
    assert _check(role, [*cli_outputs(canary, role, capsys, tmp_path), *page_outputs(canary, role, monkeypatch)]) == []


@pytest.mark.slow
@pytest.mark.parametrize("role", TENANT_ROLES)
def test_no_exported_file_holds_another_tenants_marker(canary, role, capsys, tmp_path):
    assert _check(role, list(cli_outputs(canary, role, capsys, tmp_path, files=True))) == []
