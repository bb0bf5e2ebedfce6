"""Detection on the planted stories: event precision, recall and delay, story-free false alarms, time per series.

    .venv/bin/python benchmarks/detection.py [--scale 0.5] [--review-weeks 41] [--ets-sample 2000]
        [--prophet-sample 500] [--readme]

Generates the sample (seed 7, 78 weeks) with its planted stories and the `stories=False` twin in a
temporary directory, then judges the same review weeks (the last `--review-weeks`, by default from
the earliest story's first week to the latest week) on both with:

- **ours**: `insights.detection.engine.detect(ws, Scope.everything(), week=W)` once per review week.  Its
  alarms are the week's insights of headline tier (every one, not only the review's top 7), and in
  a second row those of headline or watch tier; data-quality notices are never alarms.
- **pandas rolling z**: |z| > 3 against the trailing 8 valid weeks (pandas `rolling`).
- **ETS interval**: statsmodels `ETSModel(error="add", trend=None)` fitted on every valid week
  before W, W flagged when its value is outside the one-step 95 % prediction interval.
- **Prophet interval**: `Prophet(interval_width=0.95)` without weekly/daily/yearly seasonality
  (weekly points, under two years), fitted the same way; skipped with a note when not installed.

Every model is refitted for every review week on the expanding history before it (no cheaper
scheme), so "ms per series" is the honest cost of one series' judgement for one week: one fit plus
its interval for the interval peers; detect's seconds for the week divided by the week's panel
series for ours.  The peers also pay their share of building the panel.

**The peers' panel.**  Every client × segment × KPI weekly series at the engine's own levels
(client; client × vendor, site, channel, priority, contact reason; client × site × channel) for the
engine's weekly KPIs (`rules.toml` [[detect]] entries of kind proportion, mean or count without
`grain = "month"`), from `compute_kpis` on the whole sample.  A week counts when its `n` is at
least the KPI's `min_volume`; a series is judged in a review week that has a value, at least 8
earlier counted weeks and a complete outcome window (`mature_days`: the latest week's FCR and
repeat rate are not judged).  These judged series-weeks are the "segment-weeks" of the
false-alarm rate, for every detector including ours.

**Ground truth: one event per story** of `sample_data/stories.py`:

- KPIs: the story's KPI and the alternates accepted in `tests/insights/test_engine_stories.py`
  `CASES`, each with the sign of the change that shows the story;
- segment: the story's dimensions with their values (`group` = voice/digital read as the channels
  that group handles); its *locating* dimensions are those other than `client_id` (or `client_id`
  alone when it is the only one);
- detection window: the review weeks from the story's first week to three weeks later inclusive.

**Matching.**  An alarm is (segment, KPI, review week, sign of the change).  It is a true positive
for an event when all hold:

1. its KPI is one of the event's KPIs and its sign is that KPI's sign;
2. its segment contradicts none of the story's dimensions (every dimension both name has a value
   the story lists; dimensions the story does not name, e.g. priority, are free);
3. its segment names at least one of the story's locating dimensions (so a client-wide alarm does
   not count for a site's story, while the story's site, channel or site × channel all do); for a
   story on a whole client (only `client_id`) the alarm must be on that client as a whole;
4. its week is in the event's detection window.

For ours, an insight whose top driver names a dimension value is also tried as its segment plus
that value (the review says "concentrated in nw-bogota"); the insight's `related` segments are not.
Recall = events with at least one true positive / events whose first week is reviewed; delay =
weeks from the story's first week to its first true positive (mean over found events); precision =
true-positive alarms / all alarms on the story sample; false alarms per 100 segment-weeks = every
alarm on the story-free twin / its judged segment-weeks × 100.

**The interval peers are sampled** (`--ets-sample`, `--prophet-sample` M; 0 judges every cell),
because one fit per series-week is their honest cost (≈ 20 ms for ETS, ≈ 100 ms for Prophet, on
tens of thousands of series-weeks): on the story sample each judges every series-week that could
be a true positive (a series an event covers, in its window: recall and delay are exact) and a
uniform random M of the others, whose alarms count (others / M) times for precision; on the
story-free twin a uniform random M series-weeks give the false-alarm rate.  The notes under the
table say what was sampled.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterable, Mapping

# Single-threaded BLAS for every detector, set before numpy loads: the fits are tiny, and on a shared
# 2-core machine OpenBLAS's spinning threads made one ETS fit 5x slower (22 ms against 4 ms).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT_DIR))

from connectors.store import Scope, Workspace  # noqa: E402
from insights.detection import narrative  # noqa: E402
from insights.catalog import Catalog, load_catalog  # noqa: E402
from insights.detection import detect  # noqa: E402
from insights.detection.records import DIMENSIONS, PAIR, ROOT  # noqa: E402
from insights.metrics.kpis import compute_kpis  # noqa: E402
from sample_data.generator import generate  # noqa: E402
from sample_data.operation import CHANNELS, DEFAULT_END, group_of  # noqa: E402
from sample_data.stories import STORIES, Story  # noqa: E402

LATEST = DEFAULT_END - timedelta(days=6)  # Monday of the sample's latest week
DETECTION_WEEKS = 3  # an alarm up to 3 weeks after a story's first week still detects it
MIN_HISTORY = 8  # counted weeks a series needs before it is judged
Z_WINDOW, Z_LIMIT = 8, 3.0
ALPHA = 0.05  # the interval peers' 95 % prediction interval
SEED = 7
CASES_FILE = ROOT_DIR / "tests" / "insights" / "test_engine_stories.py"
README = ROOT_DIR / "benchmarks" / "README.md"
MARKERS = ("<!-- detection:start -->", "<!-- detection:end -->")
ENGINE_ROWS = {"ours (headlines)": ("headline",), "ours (headline + watch)": ("headline", "watch")}


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class Event:
    """A planted story as detectors should meet it: KPIs with signs, segment, detection window."""

    key: str
    kpis: dict[str, int]
    segment: dict[str, frozenset[str]]
    start: date

    @property
    def locating(self) -> tuple[str, ...]:
        dims = tuple(d for d in self.segment if d != "client_id")
        return dims or ("client_id",)

    def in_window(self, week: date) -> bool:
        return self.start <= week <= self.start + timedelta(weeks=DETECTION_WEEKS)

    def covers(self, segment: Mapping[str, str], kpi: str) -> bool:
        """Rules 1-3 of the module docstring, without the sign."""
        if kpi not in self.kpis:
            return False
        if any(d in segment and segment[d] not in values for d, values in self.segment.items()):
            return False
        if self.locating == ("client_id",):  # a client-wide story: the client's own series only
            return set(segment) == {"client_id"}
        return any(d in segment for d in self.locating)

    def matches(self, segment: Mapping[str, str], kpi: str, sign: int, week: date) -> bool:
        return self.covers(segment, kpi) and self.kpis[kpi] in (0, sign) and self.in_window(week)


def accepted_kpis() -> dict[str, dict[str, int]]:
    """Story key -> {KPI: sign}, read from the story test's CASES (the one list of accepted alternates)."""
    spec = importlib.util.spec_from_file_location("_story_cases", CASES_FILE)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{CASES_FILE} not found: the benchmark reads the accepted KPIs from its CASES")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return {key: dict(case.kpis) for key, case in module.CASES.items()}


def _segment_of(story: Story) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for dim, value in story.segment.items():
        if dim == "group":  # agents' skill group: the channels it handles
            out["channel"] = frozenset(c for c in CHANNELS if group_of(c) in value.split())
        else:
            out[dim] = frozenset(value.split())
    return out


def events() -> list[Event]:
    """One event per planted story; a story without a case in CASES accepts its own KPI in either direction."""
    kpis = accepted_kpis()
    return [Event(s.key, kpis.get(s.key, {s.kpi: 0}), _segment_of(s), s.start()) for s in STORIES]


# --------------------------------------------------------------------------- alarms and scores


@dataclass(frozen=True)
class Alarm:
    """A flagged (segment, KPI, review week) with the sign of the change; `also` is another segment to try."""

    segment: tuple[tuple[str, str], ...]
    kpi: str
    week: date
    sign: int
    also: tuple[tuple[str, str], ...] | None = None


def true_events(alarm: Alarm, evs: Iterable[Event]) -> list[Event]:
    segs = [dict(alarm.segment)] + ([dict(alarm.also)] if alarm.also else [])
    return [e for e in evs if any(e.matches(s, alarm.kpi, alarm.sign, alarm.week) for s in segs)]


@dataclass
class Result:
    """One detector's run: alarms on both samples, cells judged, seconds and what was sampled."""

    name: str
    story_alarms: list[Alarm] = field(default_factory=list)
    null_alarms: list[Alarm] = field(default_factory=list)
    null_cells: int = 0
    seconds: float = 0.0
    judgements: int = 0
    background_scale: float = 1.0  # story-sample alarms outside the story cells count this many times
    note: str = ""
    skipped: str = ""


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    found: int
    reviewed: int
    delay: float
    per_100: float
    ms_per_series: float
    delays: dict[str, int]


def score(r: Result, evs: list[Event], reviewed: set[date]) -> Score:
    in_scope = [e for e in evs if e.start in reviewed]
    first: dict[str, date] = {}
    tp = fp = 0.0
    for a in r.story_alarms:
        hits = true_events(a, evs)  # a story whose first week is not reviewed still makes its alarms true
        if hits:
            tp += 1
            for e in hits:
                first[e.key] = min(first.get(e.key, a.week), a.week)
        else:
            fp += 1.0 if _story_cell(a, evs) else r.background_scale
    delays = {e.key: (first[e.key] - e.start).days // 7 for e in in_scope if e.key in first}
    return Score(
        precision=tp / (tp + fp) if tp + fp else float("nan"),
        recall=len(delays) / len(in_scope) if in_scope else float("nan"),
        found=len(delays), reviewed=len(in_scope),
        delay=float(np.mean(list(delays.values()))) if delays else float("nan"),
        per_100=100.0 * len(r.null_alarms) / r.null_cells if r.null_cells else float("nan"),
        ms_per_series=1000.0 * r.seconds / r.judgements if r.judgements else float("nan"),
        delays=delays,
    )


def window_cells(panel: Panel, evs: list[Event], reviewed: set[date]) -> dict[str, int]:
    """Series-weeks of the story panel each reviewed event covers within its detection window."""
    out = {e.key: 0 for e in evs if e.start in reviewed}
    for i, j in panel.cells:
        s = panel.series[i]
        for e in evs:
            if e.key in out and e.in_window(s.weeks[j]) and e.covers(dict(s.segment), s.kpi):
                out[e.key] += 1
    return out


def chance_recall(per_100: float, cells: Mapping[str, int]) -> float:
    """Recall reached by false alarms alone: the story-free rate, half of them with the story's sign."""
    p = per_100 / 200.0
    return float(np.mean([1 - (1 - p) ** n for n in cells.values()])) if cells and p == p else float("nan")


def _story_cell(a: Alarm, evs: Iterable[Event]) -> bool:
    """Whether the alarm's series-week is one the sampled peers judge in full (see `story_cells`)."""
    return any(e.covers(dict(a.segment), a.kpi) and e.in_window(a.week) for e in evs)


# --------------------------------------------------------------------------- ours


def engine_alarms(ws: Workspace, weeks: list[date], catalog: Catalog) -> tuple[dict[str, list[Alarm]], float]:
    """Alarms per engine row (headline / headline + watch) over the review weeks, and detect's seconds."""
    out: dict[str, list[Alarm]] = {name: [] for name in ENGINE_ROWS}
    seconds = 0.0
    for week in weeks:
        t = time.perf_counter()
        found = detect(ws, Scope.everything(), week=week, catalog=catalog)
        seconds += time.perf_counter() - t
        for ins in found.insights:
            if ins.type == "data_quality":
                continue
            seg = tuple(sorted(ins.segment.items()))
            top = ins.drivers[0] if ins.drivers else {}
            dim, value = top.get("dimension"), top.get("value")
            located = dim and value is not None and dim not in ins.segment
            also = tuple(sorted({**ins.segment, dim: str(value)}.items())) if located else None
            alarm = Alarm(seg, ins.kpi, week, int(np.sign(ins.delta or 0)), also)
            for name, tiers in ENGINE_ROWS.items():
                if ins.tier in tiers:
                    out[name].append(alarm)
    return out, seconds


# --------------------------------------------------------------------------- the peers' panel


@dataclass(frozen=True)
class Series:
    segment: tuple[tuple[str, str], ...]
    kpi: str
    weeks: tuple[date, ...]  # counted weeks (n >= min_volume), ascending
    values: np.ndarray
    last_judged: date  # the latest week whose outcome window is complete


@dataclass(frozen=True)
class Panel:
    series: list[Series]
    cells: list[tuple[int, int]]  # (series index, position in its weeks) judged in a review week
    seconds: float


def peer_kpis(catalog: Catalog) -> list[str]:
    rules = narrative.load_rules()
    return [d["kpi"] for d in rules.detect if d["kpi"] in catalog.kpis and d.get("grain", "week") == "week"
            and d.get("kind") in ("proportion", "mean", "count")]


def build_panel(ws: Workspace, weeks: list[date], catalog: Catalog) -> Panel:
    """Every segment × weekly KPI series at the engine's levels, and the series-weeks to judge."""
    t = time.perf_counter()
    rules = narrative.load_rules()
    kpis = peer_kpis(catalog)
    mature = {d["kpi"]: int(d.get("mature_days", 0)) for d in rules.detect}
    levels = [ROOT] + [ROOT + (d,) for d in DIMENSIONS] + [ROOT + PAIR]
    series: list[Series] = []
    for by in levels:
        f = compute_kpis(ws, Scope.everything(), kpis, grain="week", by=by, catalog=catalog)
        f = f.filter(pl.col("value").is_not_null() & pl.col("value").is_finite()).sort("period")
        for key, g in f.partition_by([*by, "kpi"], as_dict=True, maintain_order=True).items():
            *values, kpi = key
            if None in values:
                continue
            g = g.filter(pl.col("n") >= catalog.kpis[kpi].min_volume)
            last = LATEST - timedelta(days=7 * -(-mature.get(kpi, 0) // 7))
            series.append(Series(tuple(sorted(zip(by, map(str, values)))), kpi, tuple(g.get_column("period").to_list()),
                                 g.get_column("value").to_numpy().astype(float), last))
    review = set(weeks)
    cells = [(i, j) for i, s in enumerate(series) for j, w in enumerate(s.weeks)
             if j >= MIN_HISTORY and w in review and w <= s.last_judged]
    return Panel(series, cells, time.perf_counter() - t)


# --------------------------------------------------------------------------- peers


def rolling_z(panel: Panel) -> tuple[list[Alarm], float]:
    """pandas: |z| > 3 of each week against the trailing 8 counted weeks, over every series at once."""
    t = time.perf_counter()
    wanted: dict[int, set[int]] = {}
    for i, j in panel.cells:
        wanted.setdefault(i, set()).add(j)
    alarms = []
    for i, positions in wanted.items():
        s = panel.series[i]
        v = pd.Series(s.values)
        base = v.shift(1).rolling(Z_WINDOW, min_periods=Z_WINDOW)
        z = ((v - base.mean()) / base.std()).to_numpy()
        alarms += [Alarm(s.segment, s.kpi, s.weeks[j], int(np.sign(z[j])))
                   for j in sorted(positions) if np.isfinite(z[j]) and abs(z[j]) > Z_LIMIT]
    return alarms, time.perf_counter() - t


Interval = Callable[[Series, int], tuple[float, float]]


def ets_interval(s: Series, j: int) -> tuple[float, float]:
    """ETS(A,N,N) on the counted weeks before position j: the one-step 95 % prediction interval."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ETSModel(pd.Series(s.values[:j]), error="add", trend=None).fit(disp=False)
        frame = fit.get_prediction(start=j, end=j).summary_frame(alpha=ALPHA)
    return float(frame["pi_lower"].iloc[0]), float(frame["pi_upper"].iloc[0])


def prophet_interval(s: Series, j: int) -> tuple[float, float]:
    """Prophet with a trend only (weekly points, under two years), fitted on the weeks before j."""
    from prophet import Prophet

    m = Prophet(interval_width=1 - ALPHA, yearly_seasonality=False, weekly_seasonality=False, daily_seasonality=False)
    m.fit(pd.DataFrame({"ds": pd.to_datetime(list(s.weeks[:j])), "y": s.values[:j]}))
    np.random.seed(SEED)  # Prophet draws its interval's samples from numpy's global state
    p = m.predict(pd.DataFrame({"ds": pd.to_datetime([s.weeks[j]])}))
    return float(p["yhat_lower"].iloc[0]), float(p["yhat_upper"].iloc[0])


def judge(panel: Panel, cells: Iterable[tuple[int, int]], interval: Interval) -> tuple[list[Alarm], float, int, int]:
    """(alarms, seconds, judgements, failed fits) of an interval detector over the given series-weeks."""
    alarms, seconds, n, failed = [], 0.0, 0, 0
    for i, j in cells:
        s = panel.series[i]
        t = time.perf_counter()
        try:
            lo, hi = interval(s, j)
        except Exception:  # a degenerate history (e.g. constant): no interval, no alarm, still timed
            lo = hi = float("nan")
            failed += 1
        seconds += time.perf_counter() - t
        n += 1
        y = s.values[j]
        if y > hi or y < lo:
            alarms.append(Alarm(s.segment, s.kpi, s.weeks[j], 1 if y > hi else -1))
    return alarms, seconds, n, failed


def story_cells(panel: Panel, evs: list[Event]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(cells that could hold a true positive, the others) of the story sample's panel."""
    inside, others = [], []
    for i, j in panel.cells:
        s = panel.series[i]
        seg, week = dict(s.segment), s.weeks[j]
        (inside if any(e.covers(seg, s.kpi) and e.in_window(week) for e in evs) else others).append((i, j))
    return inside, others


def run_interval_peer(name: str, interval: Interval, story: Panel, null: Panel, evs: list[Event],
                      sample: int) -> Result:
    r = Result(name)
    rng = random.Random(SEED)
    inside, others = story_cells(story, evs)
    null_cells = null.cells
    notes = []
    if sample and sample < len(others):
        r.background_scale = len(others) / sample
        notes.append(f"judged every one of the {len(inside):,} story series-weeks and a random {sample:,} of the "
                     f"{len(others):,} others on the story sample (their alarms count × {r.background_scale:.1f})")
        others = rng.sample(others, sample)
    if sample and sample < len(null_cells):
        notes.append(f"a random {sample:,} of {len(null_cells):,} series-weeks on the story-free twin")
        null_cells = rng.sample(null_cells, sample)
    failed = 0
    for panel, cells, target in ((story, inside + others, r.story_alarms), (null, null_cells, r.null_alarms)):
        alarms, seconds, n, bad = judge(panel, cells, interval)
        target.extend(alarms)
        r.seconds += seconds + panel.seconds * n / max(len(panel.cells), 1)
        r.judgements += n
        failed += bad
    r.null_cells = len(null_cells)
    if failed:
        notes.append(f"{failed} fits failed (no interval, no alarm)")
    r.note = "; ".join(notes)
    return r


def prophet_available() -> str:
    """'' when Prophet imports, else what to do."""
    try:
        import prophet  # noqa: F401
    except ImportError:
        return "Prophet not installed: pip install '.[bench]'"
    for name in ("cmdstanpy", "prophet", "prophet.plot"):  # a line per fit otherwise
        logging.getLogger(name).disabled = True
    return ""


# --------------------------------------------------------------------------- the run


def engine_version() -> str:
    """The commit measured, and whether insights/ had uncommitted changes (the engine is tuned often)."""
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT_DIR, capture_output=True, text=True, timeout=10)
            return done.stdout.strip()
        except OSError:
            return ""
    commit = git("log", "-1", "--format=%h %cs")
    changed = git("status", "--porcelain", "--", "insights")
    dirty = " + uncommitted changes in insights/" if changed else ""
    return (f"commit {commit}" if commit else "not a git checkout") + dirty


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _f(x: float, fmt: str) -> str:
    return "–" if x != x else format(x, fmt)


def table(results: list[Result], evs: list[Event], reviewed: set[date]) -> tuple[str, dict[str, Score]]:
    scores = {r.name: score(r, evs, reviewed) for r in results if not r.skipped}
    ours = scores[next(iter(ENGINE_ROWS))].ms_per_series
    lines = ["| detector | precision | recall | mean delay (weeks) | false alarms /100 segment-weeks | ms per series "
             "| ratio vs ours |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.name} | {r.skipped} | | | | | |")
            continue
        s = scores[r.name]
        lines.append(f"| {r.name} | {_f(s.precision, '.2f')} | {_f(s.recall, '.2f')} ({s.found}/{s.reviewed}) | "
                     f"{_f(s.delay, '.1f')} | {_f(s.per_100, '.2f')} | "
                     f"{_f(s.ms_per_series, '.2f' if s.ms_per_series < 1 else '.1f')} | "
                     f"{_f(s.ms_per_series / ours, '.2f' if s.ms_per_series < ours else '.1f')}× |")
    return "\n".join(lines), scores


def details(results: list[Result], scores: dict[str, Score], evs: list[Event], reviewed: set[date]) -> str:
    rows = ["| story | first week | " + " | ".join(r.name for r in results if not r.skipped) + " |",
            "|---|---|" + "---:|" * sum(1 for r in results if not r.skipped)]
    for e in evs:
        cells = [str(scores[r.name].delays[e.key]) if e.key in scores[r.name].delays else "–"
                 for r in results if not r.skipped]
        when = f"{e.start}{'' if e.start in reviewed else ' (not reviewed)'}"
        rows.append(f"| {e.key} | {when} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict(scores: dict[str, Score]) -> str:
    """The issue's targets, judged on this run."""
    ours = scores[next(iter(ENGINE_ROWS))]
    ets = next((s for n, s in scores.items() if n.startswith("ETS")), None)
    prophet = next((s for n, s in scores.items() if n.startswith("Prophet")), None)
    lines = [f"- fewer than 1 false alarm per 100 segment-weeks: {ours.per_100:.2f} — "
             f"{'met' if ours.per_100 < 1 else 'NOT met'}"]
    if ets:
        lines.append(f"- recall no worse than the ETS interval's: {ours.recall:.2f} vs {ets.recall:.2f} — "
                     f"{'met' if ours.recall >= ets.recall else 'NOT met'}")
    if prophet:
        x = prophet.ms_per_series / ours.ms_per_series
        lines.append(f"- at least 20× faster per series than Prophet: {x:.0f}× — {'met' if x >= 20 else 'NOT met'}")
    return "Against the issue's targets (ours = headlines):\n\n" + "\n".join(lines)


def write_readme(block: str) -> None:
    text = README.read_text()
    start, end = MARKERS
    if start not in text or end not in text:
        raise SystemExit(f"{README}: markers {start} … {end} not found; add them around the Detection table")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{block}\n{end}{tail}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    first = max(s.weeks[0] for s in STORIES)
    ap.add_argument("--scale", type=float, default=1.0, help="sample size (1 ≈ 490k tickets over 78 weeks, the default sample and the story tests' scale)")
    ap.add_argument("--review-weeks", type=int, default=first + 1,
                    help=f"latest weeks judged (default {first + 1}: every story's first week)")
    ap.add_argument("--ets-sample", type=int, default=2000,
                    help="series-weeks besides the story cells ETS judges per sample (0: every one)")
    ap.add_argument("--prophet-sample", type=int, default=500,
                    help="series-weeks besides the story cells Prophet judges per sample (0: every one)")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    a = ap.parse_args()
    t_all, load0 = time.perf_counter(), os.getloadavg()[0]
    weeks = [LATEST - timedelta(weeks=k) for k in range(a.review_weeks)][::-1]
    reviewed, evs = set(weeks), events()
    missing = prophet_available()
    catalog = load_catalog()  # once: the whole run sees one catalog even if it is edited meanwhile
    engine = engine_version()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bpo-detect-") as tmp:
        ws = {}
        for name, stories in (("story", True), ("null", False)):
            generate(Path(tmp) / name, scale=a.scale, seed=SEED, stories=stories)
            ws[name] = Workspace.open(Path(tmp) / name)
        detect(ws["null"], Scope.everything(), week=LATEST, catalog=catalog)  # warm: imports, caches
        panels = {name: build_panel(w, weeks, catalog) for name, w in ws.items()}
        story_alarms, s_story = engine_alarms(ws["story"], weeks, catalog)
        null_alarms, s_null = engine_alarms(ws["null"], weeks, catalog)
        cells = len(panels["story"].cells) + len(panels["null"].cells)
        for name in ENGINE_ROWS:
            results.append(Result(name, story_alarms[name], null_alarms[name], len(panels["null"].cells),
                                  s_story + s_null, cells))
        z = Result("pandas rolling z-score (3σ, 8 weeks)", null_cells=len(panels["null"].cells), judgements=cells)
        for name, target in (("story", z.story_alarms), ("null", z.null_alarms)):
            alarms, seconds = rolling_z(panels[name])
            target.extend(alarms)
            z.seconds += seconds + panels[name].seconds
        results.append(z)
        results.append(run_interval_peer("ETS(A,N,N) 95 % interval", ets_interval, panels["story"],
                                         panels["null"], evs, a.ets_sample))
        if missing:
            results.append(Result("Prophet 95 % interval", skipped=missing))
        else:
            results.append(run_interval_peer("Prophet 95 % interval", prophet_interval, panels["story"],
                                             panels["null"], evs, a.prophet_sample))
    text, scores = table(results, evs, reviewed)
    p = panels["null"]
    notes = [f"- engine: {engine}",
             f"- scale {a.scale} (seed {SEED}, 78 weeks), review weeks {weeks[0]} – {weeks[-1]} ({len(weeks)}), "
             f"{len(p.series):,} peer series on the story-free twin, {len(p.cells):,} judged segment-weeks there "
             f"({len(panels['story'].cells):,} on the story sample)",
             f"- ms per series: one series judged for one week (a fit and its interval; ours: detect's "
             f"{(s_story + s_null) / (2 * len(weeks)):.2f} s per review week ÷ the week's panel series); ratio = the "
             f"row's ms per series ÷ ours (above 1: slower than ours)"]
    cells_per_event = window_cells(panels["story"], evs, reviewed)
    notes.append("- recall expected by chance (each detector's story-free alarm rate alone, half of the alarms with "
                 "the story's sign, over the series-weeks each story's window covers): "
                 + ", ".join(f"{n} {chance_recall(sc.per_100, cells_per_event):.2f}" for n, sc in scores.items()))
    notes += [f"- {r.name}: {r.note}" for r in results if r.note]
    notes.append(f"- peak RSS of the benchmark process {peak_rss_mib():,.0f} MiB; whole run "
                 f"{time.perf_counter() - t_all:.0f} s; load average {load0:.1f} at the start, "
                 f"{os.getloadavg()[0]:.1f} at the end (other work on the machine slows every row); "
                 f"{os.cpu_count()} cores, Python {platform.python_version()}, {date.today().isoformat()}")
    per_story = details(results, scores, evs, reviewed)
    cmd = "    .venv/bin/python benchmarks/detection.py " + " ".join(x for x in sys.argv[1:] if x != "--readme")
    caption = "Weeks from each story's first week to its first true positive (– not found within 3 weeks):"
    block = "\n\n".join([text, "\n".join(notes), verdict(scores), caption, per_story, cmd.rstrip()])
    print(block)
    if missing:
        print(missing)
    if a.readme:
        write_readme(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
