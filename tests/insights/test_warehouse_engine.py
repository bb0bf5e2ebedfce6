"""The SQL engine: the catalog's measures run inside a warehouse and every KPI equals the Polars engine's.

The sample operation is loaded into PostgreSQL, MariaDB and DuckDB (tables under a prefix unique to the
run, dropped afterwards); each query is computed by the Polars engine over Parquet and by the SQL
engine, and compared KPI by KPI, period by period, segment by segment.  Counts, `n` and the set of rows
are equal exactly; values, numerators and denominators to 1e-12 relative (sums of float seconds may be
added in another order; quantiles are interpolated from the same two ranked values).

Each query runs twice: with the sample's calendars as generated, and with its clients reporting in their
own calendars (acme in New York with Monday weeks, globex in Chicago with Sunday weeks), whose periods
reach the database as UTC ranges per client; the sample's first week holds the end of daylight saving
time (Sunday 1 November 2026).
"""
from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite

from connectors.errors import ConfigError, WarehouseUnreachable
from connectors.store import Scope, Workspace
from connectors.store.warehouse import DuckDBDialect, Warehouse, copy_workspace
from insights.catalog import load_catalog
from insights.metrics import compute_kpis, explain
from insights.metrics.utc_ranges import calendar_ranges
from insights.metrics.warehouse import compile_measures, compute_in_warehouse
from insights.view import Calendar, Calendars
from sample_data.generator import generate

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIA_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
TOLERANCE = 1e-12
GOLDEN = Path(__file__).parent / "warehouse_sql"
REGENERATE = "BPO_REGENERATE_SQL=1 pytest tests/insights/test_warehouse_engine.py -k compiled"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


DATABASES = [
    pytest.param("postgresql", marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("mariadb", marks=pytest.mark.mariadb, id="mariadb"),
    pytest.param("duckdb", id="duckdb"),
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The sample operation, four weeks at a small scale (read-only for every test of the module)."""
    path = tmp_path_factory.mktemp("sample") / "ws"
    generate(path, weeks=4, scale=0.03, seed=7)
    return Workspace.open(path)


# the clients' own reporting calendars: [[client]] keys of bpo.toml (those the sample may already carry are replaced)
LOCAL_CALENDARS = {"acme": ('timezone = "America/New_York"', 'week_start = "monday"'),
                   "globex": ('timezone = "America/Chicago"', 'week_start = "sunday"')}


def with_calendars(toml: str, calendars: dict[str, tuple[str, ...]]) -> str:
    """bpo.toml with each named client's timezone and week_start set to `calendars`."""
    out, table, client = [], "", None
    for line in toml.splitlines():
        if line.startswith("["):
            table, client = line.strip(), None
        elif table == "[[client]]" and line.split("=")[0].strip() in ("timezone", "week_start"):
            continue
        out.append(line)
        if table == "[[client]]" and line.split("=")[0].strip() == "id":
            client = line.split("=", 1)[1].strip().strip('"')
            out.extend(calendars.get(client, ()))
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def local(sample: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The same rows, each client reporting in its own calendar (LOCAL_CALENDARS)."""
    path = tmp_path_factory.mktemp("local") / "ws"
    shutil.copytree(sample.path, path)
    (path / "bpo.toml").write_text(with_calendars((path / "bpo.toml").read_text(), LOCAL_CALENDARS))
    ws = Workspace.open(path)
    assert not Calendars.of(ws.config).utc_iso
    return ws


@pytest.fixture(scope="module", params=DATABASES)
def loaded(request: pytest.FixtureRequest, sample: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The sample's tables in one database, under a prefix of this run; dropped at the end."""
    kind = request.param
    if kind == "postgresql" and not _answers(5432):
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432: the warehouse equality test needs it (postgres, trust, db test)")
    if kind == "mariadb" and not _answers(3306):
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306: the warehouse equality test needs it (root, no password, db test)")
    url = {"postgresql": PG_URL, "mariadb": MARIA_URL,
           "duckdb": f"duckdb:///{tmp_path_factory.mktemp('duck') / 'w.duckdb'}"}[kind]
    wh = Warehouse(url, table_prefix=f"t{uuid.uuid4().hex[:10]}_")
    try:
        copy_workspace(sample, wh)
        yield wh
    finally:
        wh.drop_tables()
        wh.close()


def both_engines(ws: Workspace, wh: Warehouse, scope: Scope, **query) -> tuple[pl.DataFrame, pl.DataFrame]:
    polars = compute_kpis(ws, scope, **query)
    tiers = {s["id"]: s.get("tier") for s in ws.config.sites if s.get("id")}
    sql = compute_in_warehouse(wh, scope, settings=ws.config.settings, site_tiers=tiers, fx_rates=ws.config.fx_rates,
                               currency=ws.config.currency, calendars=Calendars.of(ws.config, scope.clients), **query)
    return polars, sql


def assert_same_kpis(polars: pl.DataFrame, sql: pl.DataFrame) -> None:
    keys = [c for c in polars.columns if c not in ("value", "numerator", "denominator", "n")]
    assert polars.height > 0
    assert sql.select(keys).sort(keys, nulls_last=True).equals(polars.select(keys).sort(keys, nulls_last=True)), \
        "the engines return different periods, segments or KPIs"
    joined = polars.join(sql, on=keys, how="inner", nulls_equal=True, suffix="_sql")
    assert joined.height == polars.height
    wrong = []
    for row in joined.iter_rows(named=True):
        if row["n"] != row["n_sql"]:
            wrong.append((row, "n"))
        for col in ("value", "numerator", "denominator"):
            a, b = row[col], row[f"{col}_sql"]
            if (a is None) != (b is None) or (a is not None and abs(a - b) > TOLERANCE * max(1.0, abs(a))):
                wrong.append((row, col))
    assert not wrong, f"{len(wrong)} differences, first: {wrong[:3]}"


QUERIES = [
    pytest.param(dict(grain="week", by=("client_id", "vendor_id")), id="weekly-by-client-vendor"),
    pytest.param(dict(grain="week", by=("client_id", "vendor_id"), start=date(2026, 10, 28), end=date(2026, 11, 18)),
                 id="weekly-cut-mid-week"),
    pytest.param(dict(grain="day", by=("channel",), start=date(2026, 11, 2), end=date(2026, 11, 15)), id="daily-by-channel"),
    pytest.param(dict(grain="window", by=("site_tier",), start=date(2026, 10, 27), end=date(2026, 11, 20)),
                 id="window-by-site-tier"),
]


@pytest.mark.parametrize("query", QUERIES)
def test_every_catalog_kpi_is_the_same_from_the_warehouse(loaded: Warehouse, sample: Workspace, query: dict) -> None:
    polars, sql = both_engines(sample, loaded, Scope.everything(), **query)
    if query["by"] == ("client_id", "vendor_id"):  # every KPI of the catalog is compared
        assert set(polars["kpi"]) == set(explain(by=query["by"]).computed) == set(load_catalog().kpis)
    assert_same_kpis(polars, sql)


LOCAL_QUERIES = [
    *QUERIES,
    pytest.param(dict(grain="month", by=("client_id",)), id="monthly-by-client"),
    pytest.param(dict(grain="week", by=("client_id", "hour")), id="weekly-by-hour"),
    pytest.param(dict(grain="window", by=("weekday",), start=date(2026, 10, 26), end=date(2026, 11, 8)),
                 id="window-by-weekday"),
]


@pytest.mark.parametrize("query", LOCAL_QUERIES)
def test_every_catalog_kpi_is_the_same_in_each_clients_own_calendar(loaded: Warehouse, local: Workspace,
                                                                    query: dict) -> None:
    polars, sql = both_engines(local, loaded, Scope.everything(), **query)
    assert_same_kpis(polars, sql)


def test_the_week_of_the_daylight_saving_change_is_each_clients_own(loaded: Warehouse, sample: Workspace,
                                                                   local: Workspace) -> None:
    """The local cut moves contacts across periods (so the comparison above is not the UTC one again)."""
    query = dict(kpis=["tickets_created"], grain="week", by=("client_id",), start=date(2026, 10, 25), end=date(2026, 11, 7))
    utc, _ = both_engines(sample, loaded, Scope.everything(), **query)
    polars, sql = both_engines(local, loaded, Scope.everything(), **query)
    assert_same_kpis(polars, sql)
    weeks = {(r["client_id"], r["period"]) for r in sql.iter_rows(named=True)}
    # globex's Sunday weeks (25-31 Oct; 1-7 Nov, from the day clocks went back) are filed under the Monday after
    assert weeks == {(c, d) for c in ("acme", "globex") for d in (date(2026, 10, 26), date(2026, 11, 2))}
    assert sql.sort("client_id", "period")["value"].to_list() != utc.sort("client_id", "period")["value"].to_list()


def test_a_clients_weeks_reach_the_database_as_its_own_utc_ranges() -> None:
    """Local midnights in UTC: the week holding the end of daylight saving time is 169 hours long."""
    cals = Calendars(clients=(("acme", Calendar(timezone="America/New_York")),
                              ("globex", Calendar(timezone="America/Chicago", week_start=6))))
    acme, globex, rest = calendar_ranges("week", date(2026, 10, 26), date(2026, 11, 7), cals)
    assert (acme.clients, globex.clients, rest.clients) == (("acme",), ("globex",), None)
    assert [(r.key, r.start_utc, r.stop_utc) for r in acme.ranges] == [
        (20752, datetime(2026, 10, 26, 4), datetime(2026, 11, 2, 5)),  # Mon 26 Oct - Sun 1 Nov, 7 days and an hour
        (20759, datetime(2026, 11, 2, 5), datetime(2026, 11, 8, 5)),  # cut at --to, Saturday 7 Nov
    ]
    assert [(r.key, r.start_utc, r.stop_utc) for r in globex.ranges] == [
        (20752, datetime(2026, 10, 26, 5), datetime(2026, 11, 1, 5)),  # from --from, Monday, to Saturday 31 Oct
        (20759, datetime(2026, 11, 1, 5), datetime(2026, 11, 8, 6)),  # Sun 1 - Sat 7 Nov, filed under Mon 2 Nov
    ]
    assert [(r.start_utc, r.stop_utc) for r in rest.ranges] == [(datetime(2026, 10, 26), datetime(2026, 11, 2)),
                                                                (datetime(2026, 11, 2), datetime(2026, 11, 8))]


@pytest.mark.parametrize("calendars", ["sample", "local"])
def test_a_vendor_sees_the_same_numbers_from_both_engines(loaded: Warehouse, calendars: str,
                                                          request: pytest.FixtureRequest) -> None:
    # repeat contacts and FCR look at the customer's next contact at any vendor: the window runs over the
    # client's tickets, then only the vendor's own rows are counted, in SQL as in Polars
    ws: Workspace = request.getfixturevalue(calendars)
    vendor = next(u for u in ws.config.users if u.role == "vendor")
    polars, sql = both_engines(ws, loaded, vendor.scope, grain="week", by=("client_id", "vendor_id"))
    assert set(polars["vendor_id"]) <= set(vendor.scope.vendors or ())
    assert_same_kpis(polars, sql)


def test_nothing_comes_back_for_a_viewer_without_clients(loaded: Warehouse, sample: Workspace) -> None:
    _, sql = both_engines(sample, loaded, Scope(), grain="week")
    assert sql.height == 0


# --------------------------------------------------------------------------- the store


def _frame(n: int, updated: datetime, csat: bool = True) -> pl.DataFrame:
    return pl.DataFrame({
        "source_system": ["test"] * n, "source_instance": ["t"] * n, "ticket_id": [f"T{i}" for i in range(n)],
        "client_id": ["acme"] * n, "vendor_id": ["northwind"] * n, "site_id": ["nw-manila"] * n,
        "channel": ["email"] * n, "created_at": [datetime(2026, 3, 4, 10, tzinfo=timezone.utc)] * n,
        "csat_positive": [csat] * n, "updated_at": [updated] * n,
        "ingested_at": [datetime(2026, 3, 5, tzinfo=timezone.utc)] * n,
    })


@pytest.mark.parametrize("kind", DATABASES)
def test_upserts_are_idempotent_and_the_newest_version_wins(kind: str, tmp_path: Path) -> None:
    if kind == "postgresql" and not _answers(5432):
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    if kind == "mariadb" and not _answers(3306):
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306")
    url = {"postgresql": PG_URL, "mariadb": MARIA_URL, "duckdb": f"duckdb:///{tmp_path / 'w.duckdb'}"}[kind]
    wh = Warehouse(url, table_prefix=f"t{uuid.uuid4().hex[:10]}_")
    try:
        wh.create_tables(["tickets"])
        t1, t2 = datetime(2026, 3, 5, tzinfo=timezone.utc), datetime(2026, 3, 6, tzinfo=timezone.utc)
        assert wh.upsert("tickets", _frame(3, t1)) == (3, 0, 0)
        assert wh.upsert("tickets", _frame(3, t1)) == (0, 0, 3)  # the same batch again writes nothing
        assert wh.upsert("tickets", _frame(2, t2, csat=False)) == (0, 2, 0)  # newer versions of two tickets
        assert wh.upsert("tickets", _frame(3, t1)) == (0, 0, 3)  # an older version never replaces a newer one
        t = wh.table("tickets")
        rows = wh.fetch(sa.select(t.c.ticket_id, t.c.csat_positive).order_by(t.c.ticket_id))
        assert [(r[0], bool(r[1])) for r in rows] == [("T0", False), ("T1", False), ("T2", True)]
    finally:
        wh.drop_tables()
        wh.close()


def _with_store(sample: Workspace, tmp_path: Path, store: str) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(sample.path, path)
    (path / "bpo.toml").write_text((path / "bpo.toml").read_text() + "\n[store]\n" + store)
    return path


def test_a_workspace_with_a_store_url_computes_kpis_in_the_warehouse(sample: Workspace, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from insights.cli import main

    path = _with_store(sample, tmp_path, f'url = "duckdb:///{tmp_path / "w.duckdb"}"\ntable_prefix = "bpo_"\n')
    assert main(["store", "load", "--workspace", str(path)]) == 0
    assert "tickets: +" in capsys.readouterr().out
    assert main(["store", "load", "--workspace", str(path)]) == 0  # again: every row unchanged
    assert all("+0 ~0" in line for line in capsys.readouterr().out.splitlines())
    ws = Workspace.open(path)
    assert ws.warehouse is not None and ws.warehouse.row_count("tickets") == sample.row_counts()["tickets"]
    query = dict(grain="week", by=("vendor_id",), kpis=["csat", "fcr", "first_response_time_p90", "backlog"])
    assert_same_kpis(compute_kpis(sample, Scope.everything(), **query), compute_kpis(ws, Scope.everything(), **query))

    # an import writes through: the same checked batch is upserted in the warehouse
    ws.upsert("tickets", _frame(2, datetime(2026, 11, 20, tzinfo=timezone.utc)))
    t = ws.warehouse.table("tickets")
    assert ws.warehouse.fetch(sa.select(sa.func.count()).where(t.c.source_system == "test"))[0][0] == 2


def test_a_store_whose_clients_keep_their_own_calendars_gives_their_own_weeks(local: Workspace, tmp_path: Path) -> None:
    """No refusal and no UTC cut: `compute_kpis` on a [store] url equals the Parquet store in each client's calendar."""
    path = _with_store(local, tmp_path, f'url = "duckdb:///{tmp_path / "w.duckdb"}"\n')
    ws = Workspace.open(path)
    assert ws.warehouse is not None
    copy_workspace(ws, ws.warehouse)
    query = dict(grain="week", by=("client_id", "weekday"), kpis=["tickets_created", "csat", "backlog"])
    assert_same_kpis(compute_kpis(local, Scope.everything(), **query), compute_kpis(ws, Scope.everything(), **query))


def test_a_store_url_never_holds_its_password(tmp_path: Path, sample: Workspace) -> None:
    path = _with_store(sample, tmp_path, 'url = "postgresql+psycopg://bpo:s3cret@db/bpo"\n')
    with pytest.raises(ConfigError, match=r"\[store\]: url holds a password; remove it and set password_env"):
        Workspace.open(path)


def test_the_store_password_comes_from_the_named_variable(tmp_path: Path, sample: Workspace,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = _with_store(sample, tmp_path, 'url = "postgresql+psycopg://bpo@db/bpo"\npassword_env = "BPO_TEST_WH_PW"\n')
    monkeypatch.delenv("BPO_TEST_WH_PW", raising=False)
    with pytest.raises(ConfigError, match=r"password_env names \$BPO_TEST_WH_PW, which is not set; export it"):
        Workspace.open(path).warehouse  # noqa: B018
    monkeypatch.setenv("BPO_TEST_WH_PW", "s3cret")
    wh = Workspace.open(path).warehouse
    assert wh is not None and wh.url.password == "s3cret" and "s3cret" not in repr(wh)


def test_a_warehouse_that_does_not_answer_is_named_with_the_fix() -> None:
    wh = Warehouse("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2")
    with pytest.raises(WarehouseUnreachable, match=r"the \[store\] warehouse .*127\.0\.0\.1:9.* failed: .*check that it is up"):
        wh.row_count("tickets")


# --------------------------------------------------------------------------- compiled SQL of other dialects

DIALECTS = {"postgresql": postgresql.dialect(), "mariadb": mysql.dialect(is_mariadb=True), "duckdb": DuckDBDialect(),
            "mssql": mssql.dialect(), "sqlite": sqlite.dialect()}


@pytest.mark.parametrize("name", list(DIALECTS))
def test_compiled_measure_sql_is_stable_per_dialect(name: str) -> None:
    wh = Warehouse("duckdb:///:memory:", table_prefix="bpo_")  # tables only: nothing is executed
    stmt = compile_measures(wh, Scope.of(["acme"], ["northwind"]), "tickets", grain="week", by=("client_id", "channel"),
                            start=date(2026, 3, 2), end=date(2026, 3, 15))
    text = str(stmt.compile(dialect=DIALECTS[name], compile_kwargs={"literal_binds": True})) + "\n"
    golden = GOLDEN / f"{name}.sql"
    if os.environ.get("BPO_REGENERATE_SQL"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} is missing; run `{REGENERATE}` and review the file"
    assert text == golden.read_text(), f"the compiled SQL for {name} changed; if on purpose, run `{REGENERATE}`"
    assert "20514" in text and "20521" in text  # the two weeks as period keys, cut by UTC bounds
    assert "AT TIME ZONE" not in text.upper() and "CONVERT_TZ" not in text.upper()  # no time-zone functions


@pytest.mark.parametrize("name", list(DIALECTS))
def test_each_clients_calendar_compiles_to_utc_bounds_without_time_zone_functions(name: str) -> None:
    wh = Warehouse("duckdb:///:memory:", table_prefix="bpo_")
    cals = Calendars(clients=(("acme", Calendar(timezone="America/New_York")),))
    stmt = compile_measures(wh, Scope.everything(), "tickets", grain="week", by=("client_id", "hour"),
                            start=date(2026, 3, 2), end=date(2026, 3, 15), calendars=cals)
    text = str(stmt.compile(dialect=DIALECTS[name], compile_kwargs={"literal_binds": True}))
    assert "'acme'" in text  # acme's rows take acme's ranges; every other client's are UTC
    assert "2026-03-02 05:00:00" in text and "2026-03-09 04:00:00" in text  # midnight EST, then EDT from 8 March
    assert "2026-03-08 07:00:00" in text  # the hour clocks went forward: offsets -5 h before it, -4 h after
    assert "AT TIME ZONE" not in text.upper() and "CONVERT_TZ" not in text.upper()


def test_store_load_without_a_store_url_says_what_to_add(sample: Workspace, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from insights.cli import main

    path = tmp_path / "ws"
    shutil.copytree(sample.path, path)
    assert main(["store", "load", "--workspace", str(path)]) == 2
    assert "has no [store] url; add [store] url = " in capsys.readouterr().err


def test_quantiles_are_exact_in_both_forms_percentile_cont_or_ranked_values() -> None:
    from insights.metrics.kpis import _Source
    from insights.metrics.utc_ranges import calendar_ranges
    from insights.metrics.warehouse import SourceQuery

    catalog = load_catalog()
    p90, measure = catalog.kpis["first_response_time_p90"], catalog.measures["first_responses"]
    ranges = calendar_ranges("week", date(2026, 3, 2), date(2026, 3, 15))
    q = SourceQuery(Warehouse("duckdb:///:memory:"), Scope.everything(), _Source("tickets", "created_at"), catalog,
                    ("channel",), {})
    in_pass = str(q.aggregate_select([measure], ranges, [p90]).compile(dialect=postgresql.dialect()))
    # the measure's filter (inbound tickets only) picks the values the percentile orders
    assert "percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE WHEN ((coalesce(direction" in in_pass
    ranked = str(q.quantile_select(measure, [0.5, 0.9], ranges).compile(dialect=mysql.dialect(is_mariadb=True)))
    assert "percentile_cont" not in ranked.lower()  # MariaDB has no aggregate PERCENTILE_CONT
    assert "row_number() OVER (PARTITION BY" in ranked and "count(*) OVER (PARTITION BY" in ranked
