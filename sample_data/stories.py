"""The stories planted in the sample operation, declared once: the generator applies them, the README
and the tests read them.

A story is a segment, a window (whole ISO weeks counted back from the sample's latest week: 0 is the
latest week) and one or more effects.  Effect kinds and what the generator does with them:

| kind | size means | applied to |
|---|---|---|
| `volume` | relative change of contact volume (+0.6 = +60 %) | the segment's lanes (client, site, channel) |
| `mix` | share of `from_channel` volume moved to `to_channel` | one client's contacts |
| `reroute` | share of a site's volume moved to `to_site` | one client's contacts on the listed channels |
| `attainment` | first-response attainment the segment falls to | tickets of the segment |
| `frt_drift` | weekly relative growth of first-response time | tickets of the segment |
| `csat` | change of the top-box (positive) CSAT probability | tickets of the segment |
| `repeat` | relative change of the chance of a repeat contact within 7 days | tickets of the segment |
| `cohort_handle` | relative handle-time excess of the cohort hired on the window's first Monday | that cohort's tickets |
| `attrition` | share of the segment's agents employed at the window's start who leave during it (on top of the base hazard) | agents of the segment |
| `handoffs` | relative extra contact volume (+0.3 = +30 %) of an AI agent's hand-offs, drawn apart from the lanes' own counts (every other count stays as it was) | the segment's lanes, marked human_after_ai |
| `containment` | change of the share of AI-involved conversations the AI agent resolves alone (points); the chance its customers come back within 7 days doubles | the client's AI agent conversations |

A segment names canonical dimensions (`client_id`, `vendor_id`, `site_id`, `channel`, `contact_reason`, `language`,
several values space-separated) and may add `hours`: the customer-local hours of arrival it holds (`"20-8"`: from
20:00 to 07:59).  An effect's `where` narrows the story's segment for that effect alone (the escalations of an AI
story land on one site).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sample_data.calendar import iso_week
from sample_data.operation import DEFAULT_END


@dataclass(frozen=True)
class Effect:
    """One change the generator makes inside a story's segment and window."""

    kind: str
    size: float
    weeks: tuple[int, int]  # (first, last) weeks before the latest week, first >= last
    params: dict[str, str] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # narrows the story's segment for this effect

    def start(self, end: date = DEFAULT_END) -> date:
        """Monday of the effect's first week."""
        return end - timedelta(days=7 * self.weeks[0] + 6)

    def stop(self, end: date = DEFAULT_END) -> date:
        """Sunday of the effect's last week."""
        return end - timedelta(days=7 * self.weeks[1])


@dataclass(frozen=True)
class StoryEvent:
    """The events-table row a story brings (a release, a pilot, a vendor change ...)."""

    kind: str
    name: str
    weeks: tuple[int, int]
    description: str
    one_day: bool = False


@dataclass(frozen=True)
class Story:
    """A planted change: where it is, when, how big, and the KPI that shows it."""

    key: str
    title: str
    kpi: str
    segment: dict[str, str]
    effects: tuple[Effect, ...]
    shows: str  # what the KPI does, in one sentence (for the README)
    event: StoryEvent | None = None

    @property
    def weeks(self) -> tuple[int, int]:
        return max(e.weeks[0] for e in self.effects), min(e.weeks[1] for e in self.effects)

    def start(self, end: date = DEFAULT_END) -> date:
        return end - timedelta(days=7 * self.weeks[0] + 6)

    def stop(self, end: date = DEFAULT_END) -> date:
        return end - timedelta(days=7 * self.weeks[1])

    def effect(self, kind: str) -> Effect:
        return next(e for e in self.effects if e.kind == kind)

    def segment_of(self, effect: Effect) -> dict[str, str]:
        """Where `effect` applies: the story's segment narrowed by the effect's own `where`."""
        return {**self.segment, **effect.where}


STORIES: tuple[Story, ...] = (
    Story(
        key="sla_collapse",
        title="SLA collapse at nw-manila after an email volume spike",
        kpi="sla_first_response",
        segment={"client_id": "acme", "site_id": "nw-manila", "channel": "email"},
        effects=(Effect("volume", 0.60, (4, 3)), Effect("attainment", 0.60, (4, 2))),
        shows="email first-response attainment at nw-manila falls from about 88 % to about 60 % for three "
              "weeks, starting with two weeks of +60 % email volume",
        event=StoryEvent("promotion", "Acme order-delay email campaign", (4, 3),
                         "Order-delay notices sent to customers; replies land in the nw-manila email queue"),
    ),
    Story(
        key="csat_release",
        title="CSAT drop on technical issues after the Acme app release",
        kpi="csat",
        segment={"client_id": "acme", "contact_reason": "technical_issue"},
        effects=(Effect("csat", -0.22, (3, 0)),),
        shows="positive CSAT on acme technical_issue tickets falls about 22 points from the release week "
              "on (still low in the latest week); every other contact reason stays flat",
        event=StoryEvent("release", "Acme app 5.2 release", (3, 3),
                         "Mobile app 5.2 (new device pairing flow)", one_day=True),
    ),
    Story(
        key="aht_new_cohort",
        title="New-hire cohort at sp-austin handles calls 35 % slower, persistently",
        kpi="ticket_handle_time",
        segment={"site_id": "sp-austin", "group": "voice"},
        effects=(Effect("cohort_handle", 0.35, (16, 0)),),
        shows="average handle time of the voice cohort hired at sp-austin on the story's first Monday (the "
              "back-fill after the attrition spike) stays about 35 % above tenured agents' (no learning curve "
              "back to normal)",
    ),
    Story(
        key="attrition_spike",
        title="Attrition spike at sp-austin",
        kpi="attrition_monthly",
        segment={"site_id": "sp-austin"},
        effects=(Effect("attrition", 0.65, (24, 19)),),
        shows="about two thirds of sp-austin's agents leave within six weeks, several times the site's usual monthly "
              "terminations (mostly voluntary, 'better offer')",
    ),
    Story(
        key="channel_mix_shift",
        title="Acme chat volume moves to email: overall SLA falls, no channel's rate changes",
        kpi="sla_first_response",
        segment={"client_id": "acme"},
        effects=(Effect("mix", 0.70, (11, 6), {"from_channel": "chat", "to_channel": "email"}),),
        shows="acme overall first-response attainment drops about 1.5-2 points while chat and email "
              "attainment are each unchanged (70 % of chat volume arrives as email instead)",
    ),
    Story(
        key="minimum_shortfall",
        title="Eastbay per-contact volume under its committed minimum",
        kpi="cost_per_contact",
        segment={"client_id": "globex", "vendor_id": "eastbay", "site_id": "eb-cebu"},
        effects=(Effect("reroute", 0.45, (40, 28), {"to_site": "sp-krakow", "channels": "email chat"}),),
        shows="about three months where eb-cebu's globex email and chat volume is 45 % lower; the "
              "committed minimum is billed as minimum_shortfall lines and cost per contact rises",
        event=StoryEvent("vendor_change", "Globex routes digital overflow to Southpeak Kraków", (40, 28),
                         "Trial re-routing of 45 % of Eastbay's globex digital volume to sp-krakow"),
    ),
    Story(
        key="frt_drift",
        title="Southpeak first-response time creeping up",
        kpi="first_response_time_median",
        segment={"vendor_id": "southpeak", "channel": "email messaging social"},
        effects=(Effect("frt_drift", 0.015, (19, 0)),),
        shows="southpeak's median first-response time on email/messaging/social grows 1.5 % a week for "
              "20 weeks (about +35 % by the latest week), still ongoing",
    ),
    Story(
        key="coaching_pilot",
        title="Coaching pilot at nw-bogota lifts CSAT and first-contact resolution",
        kpi="csat",
        segment={"site_id": "nw-bogota"},
        effects=(Effect("csat", 0.09, (12, 0)), Effect("repeat", -0.45, (12, 0))),
        shows="positive CSAT at nw-bogota rises about 9 points and repeat contacts within 7 days fall by "
              "almost half from the pilot's third week on, sustained to the latest week",
        event=StoryEvent("pilot", "nw-bogota coaching pilot", (14, 9),
                         "Weekly 1:1 coaching from QA findings for every nw-bogota agent"),
    ),
    Story(
        key="vendor_voice_csat",
        title="Southpeak voice CSAT falls across both clients it serves",
        kpi="csat",
        segment={"vendor_id": "southpeak", "channel": "voice"},
        effects=(Effect("csat", -0.09, (8, 5)),),
        shows="positive CSAT on southpeak's voice tickets falls about 9 points for four weeks, for acme and globex "
              "alike: too small to stand out inside either client, plain across the vendor's work for both",
    ),
    Story(
        key="ai_containment_drop",
        title="Acme's AI agent resolves less after the knowledge-base migration; the escalations land on nw-manila",
        kpi="ai_containment_rate",
        segment={"client_id": "acme"},
        effects=(Effect("containment", -0.22, (24, 22)),
                 Effect("handoffs", 0.30, (24, 22), where={"site_id": "nw-manila", "channel": "chat messaging"}),
                 Effect("attainment", 0.70, (24, 22), where={"site_id": "nw-manila", "channel": "chat messaging"})),
        shows="acme's AI containment falls from about 57 % to about 22-30 % for three weeks (the AI agent resolves "
              "22 points fewer of the conversations it takes part in, and twice as many of its customers come back); "
              "the hand-offs add 30 % to nw-manila's acme chat and messaging volume and its first-response "
              "attainment there falls to about 70 %",
        event=StoryEvent("release", "Acme help-centre knowledge-base migration", (24, 24),
                         "Help-centre articles moved to the new knowledge base the AI agent answers from", one_day=True),
    ),
    Story(
        key="overnight_language_gap",
        title="Spanish contacts at night wait for the morning: acme's Spanish first-response attainment falls",
        kpi="sla_first_response",
        segment={"client_id": "acme", "language": "es", "channel": "email chat messaging social", "hours": "20-8"},
        effects=(Effect("attainment", 0.25, (31, 29)),),
        shows="for three weeks acme's Spanish-language text contacts that arrive between 20:00 and 08:00 New York "
              "time are answered within target only about a quarter of the time (nobody on the night shift "
              "speaks Spanish); Spanish first-response attainment falls about 12 points, English is unchanged",
    ),
)

STORIES_BY_KEY: dict[str, Story] = {s.key: s for s in STORIES}

SIZE_FORMAT: dict[str, str] = {
    "volume": "volume {:+.0%}",
    "mix": "{:.0%} of chat moved to email",
    "reroute": "{:.0%} of volume re-routed",
    "attainment": "first-response attainment down to {:.0%}",
    "frt_drift": "first-response time {:+.1%} a week",
    "csat": "positive CSAT {:+.0%} (points)",
    "repeat": "7-day repeat contacts {:+.0%}",
    "cohort_handle": "handle time {:+.0%}",
    "attrition": "{:.0%} of the agents leave",
    "handoffs": "hand-off volume {:+.0%}",
    "containment": "AI-resolved share of AI-involved conversations {:+.0%} (points)",
}


def stories_markdown(end: date = DEFAULT_END) -> str:
    """The README's story table, rendered from the definitions."""
    rows = ["| # | story | ISO weeks | dates | segment | size | KPI that shows it |",
            "|---|---|---|---|---|---|---|"]
    for i, s in enumerate(STORIES, 1):
        seg = ", ".join(f"{k}={v}" for k, v in s.segment.items())
        size = "; ".join(SIZE_FORMAT[e.kind].format(e.size) + "".join(f" at {k}={v}" for k, v in e.where.items())
                         for e in s.effects)
        weeks = f"{iso_week(s.start(end))} – {iso_week(s.stop(end))}"
        rows.append(f"| {i} | {s.title} | {weeks} | {s.start(end)} – {s.stop(end)} | {seg} | {size} | "
                    f"`{s.kpi}`: {s.shows} |")
    return "\n".join(rows)
