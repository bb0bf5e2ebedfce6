"""`bpo-insights`: a thin command line over the library (DESIGN §7).

Exit codes: 0 ok, 1 unexpected failure, 2 bad input or configuration, 3 a source unreachable.
No logic lives here: each command parses its options, calls one library function and prints.

A command imports only what it needs, inside its own function: `kpis` never loads the dashboard, the
detection engine, the exporters or SQLAlchemy, and `--help` loads no library at all (start-up is most of a
short command's time; tests/test_cli_lean_start.py keeps it so).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

from connectors.errors import BpoError

DEFAULT_PORT = 8501
FIRST_WEEK = date(2000, 1, 3)  # 2000-W01: no review covers earlier weeks (imports refuse earlier dates, too)
MAX_FORECAST_WEEKS = 104  # insights.analyses.forecast.MAX_WEEKS_AHEAD
MAX_SAMPLE_WEEKS = 520
MAX_SCALE = 100.0  # about 50M tickets


def _workspace(args):
    from connectors.store import Workspace

    return Workspace.open(args.workspace)


def _scope(args, ws):
    """The CLI runs with the files' owner's rights; --user narrows to that viewer, filters narrow further."""
    from connectors.store import Scope

    from insights.errors import ViewError

    scope = ws.config.user(args.user).scope if getattr(args, "user", None) else Scope.everything()
    for kind, entries in (("client", ws.config.clients), ("vendor", ws.config.vendors)):
        wanted, declared = getattr(args, kind, None), [str(e["id"]) for e in entries]
        if wanted is not None and wanted not in declared:  # a typo would otherwise print an empty table, exit 0
            raise ViewError(f"{kind} '{wanted}' is not declared in bpo.toml; declared: {', '.join(declared)}. "
                            f"Use one of these ids with --{kind}.")
    return scope.narrow(clients=getattr(args, "client", None), vendors=getattr(args, "vendor", None))


def _tenant(args, ws) -> str:
    """The insight-log tenant of whoever runs the command (--user, else admin): filters narrow the data, never whose
    notes weigh novelty."""
    from insights.detection import insight_log

    return insight_log.tenant_of(ws.config.user(args.user)) if getattr(args, "user", None) else insight_log.ADMIN


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD") from None


WEEK_HELP = ("YYYY-Www or a date: the client's reporting week (bpo.toml timezone, week_start) holding that ISO "
             "week's Monday (default: the last complete week)")


def _week(text: str) -> date:
    """YYYY-Www or a date inside the week -> a day of that week (ISO Www: its Monday), between 2000 and a year from today.

    The review cuts the day into the client's reporting week (`View.of`): the week holding the Monday of
    ISO week ww, so 2026-W45 is Mon 2 - Sun 8 Nov 2026 with Monday weeks, Sun 1 - Sat 7 Nov with Sunday weeks."""
    try:
        if "W" in text.upper():
            y, w = text.upper().split("-W")
            monday = date.fromisocalendar(int(y), int(w), 1)
        else:
            monday = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a week; use YYYY-Www (e.g. 2026-W46) or a date") from None
    last = date.today() + timedelta(days=366)
    if not FIRST_WEEK <= monday <= last:
        raise argparse.ArgumentTypeError(f"'{text}' is outside the weeks a review can cover ({FIRST_WEEK.year}-W01 to "
                                         f"{last.isocalendar().year}-W{last.isocalendar().week:02d}); pick a week "
                                         f"with data (bpo-insights status shows each table's span)")
    return monday


def _count(lo: int, hi: int):
    """An argparse type: a whole number from `lo` to `hi` (a bound on the work a command does)."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n} is out of range; use {lo} to {hi}")
        return n
    return parse


def _scale(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < x <= MAX_SCALE:
        raise argparse.ArgumentTypeError(f"{text} is out of range; use a number above 0 and at most {MAX_SCALE:g}")
    return x


def _is_tty() -> bool:
    return sys.stderr.isatty()


# --------------------------------------------------------------------------- commands


def cmd_sample(args) -> int:
    from sample_data.generator import generate

    summary = generate(Path(args.out), seed=args.seed, weeks=args.weeks, scale=args.scale,
                       stories=not args.no_stories, progress=_is_tty())
    _keep_windows(Path(args.out))
    print(summary)
    return 0


def _keep_windows(path: Path) -> int:
    """From now on the workspace's ticket rows keep the catalog's window columns (the repeat-contact flag),
    computed at every import and sync instead of at every read; returns the partitions rewritten."""
    from connectors.store import Workspace
    from insights.catalog import load_catalog
    from insights.metrics.kpis import window_spec

    return Workspace.open(path).install_windows("tickets", window_spec(load_catalog()))


def cmd_init(args) -> int:
    from connectors.store.starter import init_workspace

    print(init_workspace(Path(args.dir), name=args.name, currency=args.currency, clients=tuple(args.client or ()),
                         vendors=tuple(args.vendor or ()), timezone=args.timezone, week_start=args.week_start))
    _keep_windows(Path(args.dir))
    return 0


def cmd_demo(args) -> int:
    from dashboard.launch import run
    from sample_data.generator import generate

    ws_dir = Path(args.workspace or os.environ.get("BPO_WORKSPACE") or "workspace")
    if not (ws_dir / "bpo.toml").exists():
        print(f"Building the sample workspace in {ws_dir} (once; about a minute) ...", file=sys.stderr)
        print(generate(ws_dir, progress=_is_tty()))
        _keep_windows(ws_dir)
    return run(ws_dir, port=args.port, user=args.user or "admin", headless=True)  # local admin mode, 127.0.0.1


def cmd_dashboard(args) -> int:
    """Sign-in mode when bpo.toml has [auth] and no --user is given; else local mode for one --user on loopback."""
    from dashboard.launch import check_local, run

    ws = _workspace(args)
    user = args.user or os.environ.get("BPO_USER")
    check_local(user, args.address)  # before anything else: --user never listens beyond this machine
    if user:
        ws.config.user(user)  # fails early, with the fix, for an unknown user
    elif ws.config.auth is None:
        raise BpoError("the dashboard needs a way in: declare [auth] in bpo.toml so people sign in (see the deployment "
                       "guide), or pass --user NAME (a [[user]] of bpo.toml) to serve one viewer on this machine")
    return run(ws.path, port=args.port, user=user, address=args.address, headless=True, auth=ws.config.auth)


def cmd_audit(args) -> int:
    """The audit log, newest first: admin only (the CLI without --user acts as admin)."""
    from connectors.store import audit

    ws = _workspace(args)
    if args.user and ws.config.user(args.user).role != "admin":
        raise BpoError(f"the audit log is for admins; '{args.user}' is a {ws.config.user(args.user).role} user")
    log = audit.read(ws, since=args.since, until=args.until, user=args.of, event=args.event, limit=args.limit)
    if args.format == "csv":  # identities come from outside: neutralised before a spreadsheet opens them
        from insights.export.spreadsheet import safe_frame

        return _emit(safe_frame(log.with_columns(log["at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))), "csv", args.out)
    if args.format == "json":
        return _emit(log, "json", args.out)
    for r in log.iter_rows(named=True):
        who = r["user_name"] or "(no access)"
        what = " · ".join(x for x in (r["page"], r["detail"]) if x)
        tenant = r["tenant"] or "-"
        print(f"{r['at']:%Y-%m-%d %H:%M:%S} UTC  {r['event']:<15} {who:<20} {tenant:<20} {r['identity'] or '':<28} "
              f"{r['method']:<5} {what}")
    if log.is_empty():
        print("no audit entries" + (" match" if any((args.since, args.until, args.of, args.event)) else " yet"),
              file=sys.stderr)
    return 0


def cmd_import(args) -> int:
    from connectors.files import expand_archives
    from connectors.importer import import_paths

    ws = _workspace(args)
    if bool(args.preset) == bool(args.mapping):
        raise BpoError("give exactly one of --preset NAME or --mapping FILE")
    reports = import_paths(ws, expand_archives([Path(p) for p in args.paths]), preset=args.preset,
                           mapping=Path(args.mapping) if args.mapping else None,
                           client=args.client, vendor=args.vendor, site=args.site,
                           quarantine=args.quarantine, progress=_is_tty())
    for r in reports:
        print(r)
    for r in reports:  # warnings, not errors: the import stands (connectors/sanity.py)
        for w in r.warnings:
            print(w)
    return 0


def cmd_sync(args) -> int:
    from connectors.sync import sync_sources

    ws = _workspace(args)
    reports = sync_sources(ws, args.source, progress=_is_tty())
    for r in reports:
        print(r)
    for r in reports:  # warnings, not errors (connectors/sanity.py)
        for w in r.warnings:
            print(w)
    return max((getattr(r, "exit_code", 0) for r in reports), default=0)


def cmd_store(args) -> int:
    ws = _workspace(args)
    if args.action == "load":
        from connectors.store.warehouse import copy_workspace

        if ws.warehouse is None:
            raise BpoError(f"{ws.path / 'bpo.toml'} has no [store] url; add [store] url = \"postgresql+psycopg://user@host/db\" "
                           "(password_env = \"VARIABLE\" for its password) to keep the tables in a warehouse")
        for table, (inserted, updated, unchanged) in copy_workspace(ws, ws.warehouse).items():
            print(f"{table}: +{inserted:,} ~{updated:,} ={unchanged:,} rows in {ws.warehouse}")
        return 0
    if args.action == "rebuild-aggregates":
        from insights.metrics.aggregates import TABLE, aggregate_spec

        parts, rows = ws.rebuild_aggregates(TABLE, aggregate_spec())
        print(f"{TABLE}: daily aggregates rebuilt from {parts:,} partition(s): {rows:,} aggregate rows "
              f"(kept current by every import and sync from now on)")
        parts = _keep_windows(ws.path)
        print(f"{TABLE}: repeat-contact flags kept in the rows of {parts:,} partition(s) (kept current by every "
              f"import and sync from now on)")
        return 0
    for r in ws.repair_tables():
        print(f"{r.table}: {r.status}" + (f" from {r.files_read} file(s), {r.rows:,} rows ({r.message})" if r.files_read else ""))
    return 0


def cmd_status(args) -> int:
    from insights import format

    ws = _workspace(args)
    scope = _scope(args, ws)
    summary = ws.table_summary(scope)
    admin = not getattr(args, "user", None) or ws.config.user(args.user).role == "admin"
    # the workspace's name is its holder's label (the sample's names both clients): only admins read it
    print(f"workspace: {ws.path.resolve()}" + (f"  ({ws.config.name})" if admin else ""))
    for row in summary.iter_rows(named=True):
        span = f"{(row['first'] or '')[:10]} .. {(row['last'] or '')[:10]}" if row["first"] else format.EMPTY
        fresh = row["last_ingested"].strftime("%Y-%m-%d %H:%M UTC") if row["last_ingested"] else "never"
        print(f"  {row['table']:<18} {row['rows']:>10,} rows   {span:<24} last ingested {fresh}")
    if not admin:
        return 0  # sources and the import log name every client's files: only the workspace's admins read them
    for s in ws.source_status().iter_rows(named=True):
        last = s["last_run"].strftime("%Y-%m-%d %H:%M UTC") if s["last_run"] else "never"
        print(f"  source {s['source']} ({s['kind']}): last run {last} {s['status'] or ''} read {s['rows_read'] or 0} "
              f"+{s['inserted'] or 0} ~{s['updated'] or 0}; cursors: {s['cursors']}" + (f"; {s['message']}" if s["message"] else ""))
    hist = ws.import_history(limit=5)
    if hist.height:
        print("recent imports:")
        for r in hist.iter_rows(named=True):
            print(f"  #{r['id']} {r['status']:<8} {r['source']} -> {r['table_name']}: +{r['inserted']} ~{r['updated']} ={r['unchanged']} rows rejected {r['rejected']}")
    return 0


def cmd_kpis(args) -> int:
    from insights.metrics.kpis import compute_kpis

    ws = _workspace(args)
    by = tuple(d.strip() for d in args.by.split(",") if d.strip()) if args.by else ()
    kpis = [k.strip() for k in args.kpi.split(",")] if args.kpi else None
    scope = _scope(args, ws)
    if not args.language:
        frame = compute_kpis(ws, scope, kpis, grain=args.grain, by=by, start=args.start, end=args.end)
        _name_the_calendar(ws, scope)
        return _emit(frame, args.format, args.out)
    frame = _kpis_filtered(ws, scope, kpis, {"language": args.language}, by=by, grain=args.grain, start=args.start,
                           end=args.end)
    _name_the_calendar(ws, scope)
    return _emit(frame, args.format, args.out)


def _kpis_filtered(ws, scope, kpis: list[str] | None, filters: dict[str, str], *, by: tuple[str, ...], grain: str,
                   start, end):
    """The KPIs of the rows the filters keep; a KPI whose tables cannot honour a filter (intervals, the roster,
    invoices and QA record no language) is for every value of it, and stderr says which (insights.view: the rule)."""
    from insights.catalog import load_catalog
    from insights.metrics.kpis import compute_in_view
    from insights.view import View

    catalog = load_catalog()
    names = list(dict.fromkeys(kpis)) if kpis is not None else list(catalog.kpis)
    view = View.of(scope, filters)
    for sentence in view.not_split_kpis(names, catalog.tables):
        print(sentence, file=sys.stderr)
    return compute_in_view(ws, view, names, grain=grain, by=by, start=start, end=end, catalog=catalog)


def _name_the_calendar(ws, scope) -> None:
    """Name the calendar the periods are cut in beside the numbers, on stderr (stdout stays the data alone), unless
    every row is cut in UTC with Monday weeks."""
    from insights.view import Calendars

    cals = Calendars.of(ws.config, scope.clients)
    if not cals.utc_iso:
        print(cals.reference.cut, file=sys.stderr)


def cmd_insights(args) -> int:
    """JSON: every insight the engine kept (notices first, then by score), DESIGN §6 records; md: the review's top list."""
    from insights.detection import detect
    from insights.review import available_weeks

    ws = _workspace(args)
    scope = _scope(args, ws)
    weeks = available_weeks(ws, scope)
    findings = detect(ws, scope, week=args.week or (weeks[0] if weeks else None), tenant=_tenant(args, ws))
    if args.format == "json":
        print(json.dumps([i.to_dict() for i in findings.insights], indent=2, default=str))
    else:
        print(findings.markdown())
    return 0


def cmd_report(args) -> int:
    from insights.export import write
    from insights.review import build_review

    ws = _workspace(args)
    filters = {"language": args.language} if args.language else None
    review = build_review(ws, _scope(args, ws), week=args.week, filters=filters, tenant=_tenant(args, ws))
    path = write(review, args.format, args.out)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {args.format})", file=sys.stderr)
    return 0


def cmd_deliver(args) -> int:
    from connectors.delivery import Outbox
    from insights.export.delivery import deliver

    ws = _workspace(args)
    report = deliver(ws, outbox=Outbox(ws.config.delivery), week=args.week, dry_run=args.dry_run, only=args.user)
    print(report)
    return report.exit_code


def cmd_forecast(args) -> int:
    from insights import format
    from insights.analyses.forecast import forecast_report

    ws = _workspace(args)
    by = tuple(d.strip() for d in args.by.split(",") if d.strip()) if args.by else ("client_id", "channel", "vendor_id", "site_id")
    scope = _scope(args, ws)
    report = forecast_report(ws, scope, weeks=args.weeks, by=by)
    if args.format == "md":  # the report names its calendar itself
        print(report.to_markdown(format.Names.of_view(ws, scope)))
        return 0
    _name_the_calendar(ws, scope)
    if args.format == "csv":
        return _emit(report.table(), "csv", None)
    print(json.dumps(report.to_dict(), indent=1, default=str))
    return 0


def cmd_staffing(args) -> int:
    from insights import format
    from insights.analyses.staffing import StaffingTarget, plan_staffing

    plan = plan_staffing(calls=args.calls, aht=args.aht, interval_minutes=args.interval,
                         target=StaffingTarget.parse(args.target), patience=args.patience, shrinkage=args.shrinkage)
    for key, value in plan.to_dict().items():
        print(f"{key:<18} {format.text(value)}")
    return 0


def cmd_pilot(args) -> int:
    from insights.analyses.pilots import evaluate_pilot

    ws = _workspace(args)
    report = evaluate_pilot(ws, _scope(args, ws), args.name)
    print(json.dumps(report.to_dict(), indent=1, default=str) if args.format == "json" else report.to_markdown())
    return 0


def _emit(frame, fmt: str, out: str | None) -> int:
    if fmt == "parquet":
        if not out:
            raise BpoError("--format parquet needs --out FILE")
        frame.write_parquet(out)
        return 0
    buf = io.StringIO()
    if fmt == "csv":
        from insights.export.spreadsheet import safe_frame

        safe_frame(frame).write_csv(buf)  # a label planted as '=HYPERLINK(...)' must not run when the CSV is opened
    else:
        buf.write(json.dumps(frame.to_dicts(), default=str, indent=1))
        buf.write("\n")
    if out:
        Path(out).write_text(buf.getvalue(), encoding="utf-8")
    else:
        sys.stdout.write(buf.getvalue())
    return 0


# --------------------------------------------------------------------------- parser


def _presets_help() -> str:
    """The import presets, one line each (from the presets' own files)."""
    from connectors.mapping import preset_summaries

    lines = [("canonical", "any canonical table in its own column names; the table is found from the header"),
             ("zendesk, freshdesk", "short for zendesk_tickets, freshdesk_tickets"),
             *preset_summaries().items()]
    width = max(len(name) for name, _ in lines) + 2
    return "presets (--preset NAME):\n" + "\n".join(f"  {name:<{width}}{what}" for name, what in lines) + (
        "\n\nany other layout: write a mapping file (columns, values, time zone) and pass --mapping FILE")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose epilog may be written only when its help is shown (`epilog_from`): the import
    presets' list reads every preset's file, which no other command should pay for."""

    def __init__(self, *args: Any, epilog_from: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epilog_from = epilog_from

    def format_help(self) -> str:
        if self.epilog_from is not None:
            self.epilog, self.epilog_from = self.epilog_from(), None
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bpo-insights", description="Performance insights for brands and their BPO partners.")
    common = _Parser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", help="workspace folder (default: $BPO_WORKSPACE or ./workspace)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("init", help="start an empty workspace for your own data (a commented bpo.toml to edit)",
                       description="Writes DIR/bpo.toml (workspace, settings, clients, vendors, sites with time zones, an "
                                   "admin user, commented source examples), tables/, hash.key and state.db. Never "
                                   "overwrites an existing bpo.toml. Next: bpo-insights import FILE --preset NAME "
                                   "--client ID --vendor ID --workspace DIR.")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--name", help="the workspace's name (default: the folder's name)")
    s.add_argument("--currency", default="USD", help="reporting currency, ISO 4217 (default USD)")
    s.add_argument("--client", action="append", metavar="ID", help="a client (brand) id; repeatable (default: my-client)")
    s.add_argument("--vendor", action="append", metavar="ID",
                   help="a vendor id (a BPO partner or your in-house team); repeatable; each gets a site ID-main "
                        "(default: in-house)")
    s.add_argument("--timezone", default="UTC", help="reporting time zone of clients and sites, IANA (default UTC)")
    s.add_argument("--week-start", default="monday", help="first day of a reporting week (default monday)")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("demo", parents=[common], help="build the sample workspace (once) and open the dashboard")
    s.add_argument("--port", type=_count(1, 65535), default=DEFAULT_PORT)
    s.add_argument("--user", help="viewer (default: admin)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("sample", help="write the sample operation (with planted stories) as a workspace")
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--weeks", type=_count(1, MAX_SAMPLE_WEEKS), default=78)
    s.add_argument("--scale", type=_scale, default=1.0, help="1 ≈ 500k tickets; 20 ≈ 10M")
    s.add_argument("--no-stories", action="store_true", help="the same operation without planted stories (null case)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("import", parents=[common], help="import CSV/TSV/Excel/Parquet/JSON Lines files (or .zip exports of them)",
                       epilog_from=_presets_help, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--preset", metavar="NAME", help="a built-in layout (listed below)")
    s.add_argument("--mapping", metavar="FILE", help="mapping TOML for any other layout")
    s.add_argument("--client", metavar="ID", help="the client the rows belong to (a [[client]] id of bpo.toml)")
    s.add_argument("--vendor", metavar="ID", help="the vendor that handled them (a [[vendor]] id)")
    s.add_argument("--site", metavar="ID", help="the vendor's site (a [[site]] id)")
    s.add_argument("--quarantine", action="store_true", help="import good rows, record bad rows as rejected")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("sync", parents=[common], help="pull API/SQL sources declared in bpo.toml, incrementally")
    s.add_argument("source", nargs="?", help="one source's name (default: all)")
    s.set_defaults(func=cmd_sync)

    s = sub.add_parser("store", parents=[common], help="repair: rebuild missing or corrupt table manifests from their files; "
                       "load: copy the tables into the [store] warehouse (idempotent); rebuild-aggregates: cut the daily "
                       "aggregates afresh (after bpo.toml's calendar or the catalog changed)")
    s.add_argument("action", choices=["repair", "load", "rebuild-aggregates"])
    s.set_defaults(func=cmd_store)

    s = sub.add_parser("status", parents=[common], help="tables, row counts, freshness, sources, recent imports")
    s.add_argument("--user")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("kpis", parents=[common], help="KPIs by period and dimensions")
    s.add_argument("--grain", choices=["day", "week", "month", "quarter", "year", "window"], default="week",
                   help="window: one period from --from to --to (a median over the whole window)")
    s.add_argument("--by", help="comma-separated dimensions, e.g. vendor_id,channel; hour (00-23) and weekday are "
                                "local times of each client's reporting calendar")
    s.add_argument("--kpi", help="comma-separated KPI names (default: all)")
    s.add_argument("--from", dest="start", type=_date, help="first day, a local day of each client's reporting calendar")
    s.add_argument("--to", dest="end", type=_date, help="last day (inclusive), local like --from")
    s.add_argument("--client")
    s.add_argument("--vendor")
    s.add_argument("--language", help="the tickets' language, e.g. es; KPIs read from tables that record no language "
                                      "(intervals, roster, invoices, QA) stay for every language, and stderr says which")
    s.add_argument("--user")
    s.add_argument("--format", choices=["csv", "json", "parquet"], default="csv")
    s.add_argument("--out", metavar="FILE")
    s.set_defaults(func=cmd_kpis)

    s = sub.add_parser("insights", parents=[common], help="the ranked insights of a week",
                       description="md: the review's top 5-7 insights (data notices first); json: every insight "
                                   "the engine kept, ranked, as DESIGN §6 records.")
    s.add_argument("--week", type=_week, help=WEEK_HELP)
    s.add_argument("--client")
    s.add_argument("--vendor")
    s.add_argument("--user")
    s.add_argument("--format", choices=["json", "md"], default="md")
    s.set_defaults(func=cmd_insights)

    s = sub.add_parser("report", parents=[common], help="the weekly review as a file: html, pdf, pptx or md")
    s.add_argument("--week", type=_week, help=WEEK_HELP)
    s.add_argument("--client")
    s.add_argument("--vendor")
    s.add_argument("--user")
    s.add_argument("--language", help="the tickets' language, e.g. es; tiles read from tables that record no language "
                                      "stay for every language, and the report says so")
    s.add_argument("--format", choices=["html", "pdf", "pptx", "md"], required=True)
    s.add_argument("--out", required=True, metavar="FILE")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("deliver", parents=[common], help="send each recipient its own review (email, Slack, Teams); for cron",
                       description="Recipients are the [[user]] entries with email or webhook_env. The first run for a week "
                                   "sends the review; later runs send only new headline insights and contract credits at "
                                   "risk; nothing is sent twice. Exit 0 ok, 1 some sends failed, 2 all failed or bad config.")
    s.add_argument("--week", type=_week, help=WEEK_HELP.replace("the last", "each recipient's last"))
    s.add_argument("--user", action="append", metavar="NAME", help="only this recipient (repeatable)")
    s.add_argument("--dry-run", action="store_true", help="say what would be sent; send and record nothing")
    s.set_defaults(func=cmd_deliver)

    s = sub.add_parser("forecast", parents=[common], help="volume forecast per queue, SLA breach probability, FTE needed")
    s.add_argument("--weeks", type=_count(1, MAX_FORECAST_WEEKS), default=4, help=f"1 to {MAX_FORECAST_WEEKS}")
    s.add_argument("--by", help="comma-separated queue dimensions (default: client_id,channel,vendor_id,site_id)")
    s.add_argument("--client")
    s.add_argument("--vendor")
    s.add_argument("--user")
    s.add_argument("--format", choices=["json", "csv", "md"], default="md")
    s.set_defaults(func=cmd_forecast)

    s = sub.add_parser("staffing", help="Erlang C/A what-if: agents needed, service level, ASA, occupancy, abandonment")
    s.add_argument("--calls", type=float, required=True, help="contacts offered in the interval")
    s.add_argument("--aht", type=float, required=True, metavar="SECONDS")
    s.add_argument("--interval", type=float, default=30, metavar="MINUTES")
    s.add_argument("--target", default="0.8/20", help="SHARE/SECONDS, e.g. 0.8/20")
    s.add_argument("--patience", type=float, metavar="SECONDS", help="mean patience: switches to Erlang A")
    s.add_argument("--shrinkage", type=float, default=0.3)
    s.set_defaults(func=cmd_staffing)

    s = sub.add_parser("pilot", parents=[common], help="a pilot's KPIs before/after or vs control, with a verdict")
    s.add_argument("name")
    s.add_argument("--client")
    s.add_argument("--vendor")
    s.add_argument("--user")
    s.add_argument("--format", choices=["md", "json"], default="md")
    s.set_defaults(func=cmd_pilot)

    s = sub.add_parser("dashboard", parents=[common], help="serve the dashboard",
                       description="With [auth] in bpo.toml people sign in through your identity provider; "
                                   "--user NAME instead serves one viewer on this machine only (loopback).")
    s.add_argument("--port", type=_count(1, 65535), default=DEFAULT_PORT)
    s.add_argument("--address", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; sign-in mode only may listen beyond loopback)")
    s.add_argument("--user", help="local single-user mode: a [[user]] of bpo.toml (or $BPO_USER); loopback only")
    s.set_defaults(func=cmd_dashboard)

    s = sub.add_parser("audit", parents=[common], help="the audit log: sign-ins, pages viewed, exports (admin)")
    s.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    s.add_argument("--until", type=_date, metavar="YYYY-MM-DD")
    s.add_argument("--of", metavar="USER", help="entries of one [[user]]")
    s.add_argument("--event", choices=["sign_in", "sign_in_refused", "page_view", "export", "sign_out"])
    s.add_argument("--limit", type=int, default=1000)
    s.add_argument("--user", help="who is asking (must be an admin); default: the folder's owner, as admin")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.add_argument("--out", metavar="FILE")
    s.set_defaults(func=cmd_audit)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; output piped into a reader that stops early (`| head`) ends quietly, as in other tools."""
    try:
        try:
            code = _run(argv)
        except SystemExit:  # --help and usage errors print, then exit: flush inside, where a closed pipe is caught
            sys.stdout.flush()
            raise
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


def _silence_stdout() -> None:
    """The reader is gone: point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):  # a replaced stdout (tests, embedding): nothing to do
        pass


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        raise
    except BpoError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        if e.filename is None:
            return _internal_error(e)
        # a path the user gave that cannot be read or written: bad input, not a bug
        print(f"error: {e.filename}: {e.strerror or e}; check the path (does the folder exist? is it a file, not a "
              f"folder?) and its permissions", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the last line of defence: say what happened, exit 1
        return _internal_error(e)


def _internal_error(e: BaseException) -> int:
    """A bug, not bad input: the traceback (so it can be fixed) and exit 1."""
    import traceback

    traceback.print_exc()
    print(f"error: internal error ({type(e).__name__}: {e}); please report it with the traceback above",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
