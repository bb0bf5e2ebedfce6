"""The sample operation as data: tenants, routing, site profiles, handle times, rate cards, targets.

Everything the generator draws from is declared here, so the README and the tests read the same
numbers the generator uses.  Shares are fractions that sum to 1 within their mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DEFAULT_END = date(2026, 11, 22)  # a Sunday: the last day of the sample's latest ISO week
SOURCE_SYSTEM = "sample"
CURRENCY = "USD"
CHANNELS: tuple[str, ...] = ("email", "chat", "voice", "messaging", "social")
LIVE_CHANNELS: tuple[str, ...] = ("voice", "chat")
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
PRIORITY_MIX: tuple[float, ...] = (0.15, 0.62, 0.18, 0.05)
GROUPS: tuple[str, ...] = ("voice", "digital")  # agent skill groups: voice agents, text agents


@dataclass(frozen=True)
class Client:
    """A brand: its customers' timezone, daily volume at scale 1, channel mix and contact reasons."""

    id: str
    name: str
    timezone: str
    daily_volume: float
    channel_mix: dict[str, float]
    reasons: dict[str, tuple[float, str]]  # reason -> (share, queue)
    csat_format: str  # "good_bad" (thumbs) or "five_point" (1..5)
    growth_per_year: float


@dataclass(frozen=True)
class Site:
    """A location of a vendor, with the quality profile the generator draws around."""

    id: str
    name: str
    vendor: str
    tier: str  # onshore | nearshore | offshore
    country: str
    timezone: str
    first_response_attainment: float  # share of text tickets answered within target
    service_level: float  # share of voice/chat answered within the service-level threshold
    csat_positive: float  # top-box share of CSAT responses
    handle_factor: float  # multiplies the channel's handle time
    languages: dict[str, float]


CLIENTS: dict[str, Client] = {
    "acme": Client(
        id="acme", name="Acme Home", timezone="America/New_York", daily_volume=540.0,
        channel_mix={"email": 0.35, "chat": 0.30, "voice": 0.20, "messaging": 0.10, "social": 0.05},
        reasons={
            "order_status": (0.30, "acme-orders"),
            "returns": (0.18, "acme-orders"),
            "billing": (0.14, "acme-billing"),
            "technical_issue": (0.26, "acme-tech"),
            "account": (0.12, "acme-accounts"),
        },
        csat_format="good_bad", growth_per_year=0.08,
    ),
    "globex": Client(
        id="globex", name="Globex Travel", timezone="America/Chicago", daily_volume=380.0,
        channel_mix={"email": 0.30, "chat": 0.17, "voice": 0.38, "messaging": 0.10, "social": 0.05},
        reasons={
            "booking_change": (0.34, "globex-bookings"),
            "cancellation": (0.16, "globex-bookings"),
            "refund": (0.22, "globex-refunds"),
            "billing": (0.10, "globex-refunds"),
            "account": (0.18, "globex-accounts"),
        },
        csat_format="five_point", growth_per_year=0.03,
    ),
}

VENDORS: dict[str, str] = {
    "northwind": "Northwind BPO",
    "southpeak": "Southpeak Contact",
    "eastbay": "Eastbay Support",
    "in_house": "In-house team",
}

SITES: dict[str, Site] = {
    s.id: s
    for s in (
        Site("nw-manila", "Northwind Manila", "northwind", "offshore", "PH", "Asia/Manila",
             0.895, 0.84, 0.80, 1.05, {"en": 1.0}),
        Site("nw-bogota", "Northwind Bogotá", "northwind", "nearshore", "CO", "America/Bogota",
             0.905, 0.86, 0.82, 1.00, {"en": 0.8, "es": 0.2}),
        Site("sp-austin", "Southpeak Austin", "southpeak", "onshore", "US", "America/Chicago",
             0.935, 0.88, 0.87, 0.95, {"en": 0.9, "es": 0.1}),
        Site("sp-krakow", "Southpeak Kraków", "southpeak", "offshore", "PL", "Europe/Warsaw",
             0.915, 0.85, 0.84, 1.00, {"en": 0.85, "de": 0.15}),
        Site("eb-cebu", "Eastbay Cebu", "eastbay", "offshore", "PH", "Asia/Manila",
             0.895, 0.83, 0.79, 1.08, {"en": 1.0}),
        Site("hq-denver", "Acme HQ Denver", "in_house", "onshore", "US", "America/Denver",
             0.945, 0.90, 0.89, 0.92, {"en": 0.95, "es": 0.05}),
        # Acme's AI agent on chat and messaging, run by the in-house team: no routing lane, no agents, no SLA
        Site("acme-ai", "Acme AI agent", "in_house", "onshore", "US", "America/New_York",
             0.0, 0.0, 0.0, 1.0, {"en": 0.92, "es": 0.08}),
    )
}

# Which sites handle each client's channel, and in what share.
ROUTING: dict[tuple[str, str], dict[str, float]] = {
    ("acme", "email"): {"nw-manila": 0.60, "nw-bogota": 0.20, "hq-denver": 0.20},
    ("acme", "chat"): {"nw-manila": 0.50, "nw-bogota": 0.50},
    ("acme", "voice"): {"sp-austin": 0.70, "nw-bogota": 0.15, "hq-denver": 0.15},
    ("acme", "messaging"): {"nw-manila": 0.60, "nw-bogota": 0.40},
    ("acme", "social"): {"hq-denver": 1.00},
    ("globex", "email"): {"eb-cebu": 0.60, "sp-krakow": 0.40},
    ("globex", "chat"): {"eb-cebu": 0.50, "sp-krakow": 0.50},
    ("globex", "voice"): {"sp-austin": 0.55, "sp-krakow": 0.25, "eb-cebu": 0.20},
    ("globex", "messaging"): {"eb-cebu": 1.00},
    ("globex", "social"): {"sp-krakow": 1.00},
}

# Blended operations: Acme's AI agent takes part in a growing share of its chat and messaging conversations.
# It resolves some alone (handled_by ai_agent, site acme-ai) and hands the rest to the BPO's people
# (handled_by human_after_ai on the routed lanes). Its answers are not first responses by a person and no
# contract target binds them; it sends no CSAT survey.
AI_SITE = "acme-ai"
AI_CLIENT = "acme"
AI_CHANNELS: tuple[str, ...] = ("chat", "messaging")
AI_INVOLVEMENT: tuple[float, float] = (0.08, 0.30)  # AI-involved share of those conversations 78 weeks before the latest week, and in it (linear)
AI_SELF_SERVED = 0.62  # share of AI-involved conversations the AI agent resolves alone (the rest it escalates to a person)
AI_RETURN_RATE = 0.10  # chance the customer of an AI-resolved conversation gets in touch again within 7 days
AI_RESOLUTION: tuple[float, float] = (240.0, 0.6)  # median seconds and log-sigma of an AI agent's resolution

# NPS: one client surveys a share of its solved tickets that got no CSAT survey (0-10, promoters 9-10, detractors 0-6).
NPS_CLIENT = "globex"
NPS_RESPONSE_RATE = 0.10
NPS_SATISFIED: dict[int, float] = {7: 0.05, 8: 0.20, 9: 0.40, 10: 0.35}  # answers of a customer who would rate CSAT top box
NPS_DISSATISFIED: dict[int, float] = {0: 0.10, 1: 0.05, 2: 0.08, 3: 0.10, 4: 0.15, 5: 0.17, 6: 0.20, 7: 0.10, 8: 0.05}

# Channel offsets to a site's first-response attainment (chat is answered fastest).
ATTAINMENT_OFFSET: dict[str, float] = {"email": -0.01, "chat": 0.065, "messaging": 0.0, "social": -0.01}
RESOLUTION_ATTAINMENT = 0.91
RESPONSE_SPREAD = 0.85  # sigma of log response time around the target-relative median

# Median handle seconds and log-sigma per channel; voice is talk + hold + after-call work.
HANDLE: dict[str, tuple[float, float]] = {
    "email": (480.0, 0.55), "chat": (540.0, 0.45), "messaging": (360.0, 0.5), "social": (300.0, 0.5),
}
VOICE_PARTS: dict[str, tuple[float, float]] = {"talk": (390.0, 0.5), "hold": (25.0, 1.1), "acw": (70.0, 0.45)}
REPLIES_MEAN: dict[str, float] = {"email": 1.6, "chat": 5.0, "voice": 0.0, "messaging": 3.0, "social": 1.4}
TRANSFER_RATE: dict[str, float] = {"email": 0.05, "chat": 0.08, "voice": 0.12, "messaging": 0.06, "social": 0.05}
REOPEN_RATE = 0.045
CSAT_RESPONSE_RATE = 0.20
REPEAT_BASE = 0.075  # chance a ticket brings its requester back within 7 days (before outcome effects)
REPEAT_SAME_CHANNEL = 0.55
AUTO_CLOSE_DAYS = 4

# Intraday arrival weights (customer local time, hour 0..23).
INTRADAY: dict[str, tuple[float, ...]] = {
    "live": (0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 1.6, 3.6, 5.6, 6.4, 6.2, 5.4, 5.6, 6.0, 5.8,
             5.2, 4.6, 4.0, 3.6, 3.0, 2.2, 1.3, 0.7),
    "async": (1.0, 0.7, 0.5, 0.4, 0.4, 0.6, 1.2, 2.4, 4.0, 5.0, 5.4, 5.4, 5.0, 5.2, 5.2, 5.0,
              4.6, 4.2, 4.0, 3.8, 3.4, 2.8, 2.0, 1.4),
}
DAY_OF_WEEK: dict[str, tuple[float, ...]] = {  # Monday..Sunday
    "acme": (1.28, 1.12, 1.05, 1.00, 0.94, 0.66, 0.58),
    "globex": (1.20, 1.08, 1.03, 1.00, 1.02, 0.80, 0.72),
}
HOLIDAY_FACTOR = 0.55

# Business hours (customer local time) for *_business_seconds: (open hour, close hour) per weekday.
BUSINESS_HOURS: tuple[tuple[int, int], ...] = ((8, 20),) * 5 + ((9, 17), (9, 17))

# Workforce: headcount is sized from the workload (WFM planning), not set.
TARGET_OCCUPANCY = 0.85  # handle / on-queue time the planner sizes for
PLANNED_SHRINKAGE = 0.30  # 1 - on-queue / scheduled time the planner expects
FTE_HOURS = 40.0  # scheduled hours of one agent a week (five 8-hour shifts)
STAFFING_SLACK = 0.04  # headcount kept above the requirement (cover for attrition before the next cohort)
MIN_POOL_AGENTS = 2  # every skill pool (site x client x voice/digital) keeps at least this many agents
MONTHLY_ATTRITION = 0.035
NESTING_DAYS = 28
HIRE_EVERY_WEEKS = 4
SHIFT_SECONDS = 8 * 3600
BREAK_SECONDS = 3600  # paid breaks and lunch: logged, off queue
AUX_SECONDS = 0.55 * 3600  # mean daily meetings, huddles and offline work: logged, off queue
ABSENCE_RATE = 0.08  # scheduled days lost to leave and sickness
OCCUPANCY_BAND = (0.65, 0.93)  # real-time management: voluntary time off below, overtime above
MAX_OVERTIME = 0.5  # at most this share of a pool-day's on-queue time is added as overtime
MAX_VTO = 0.5  # at most this share is sent home as voluntary time off
AGENT_OCCUPANCY_CAP = 0.97  # an agent-day busier than this was overtime
TERMINATION_REASONS: dict[str, dict[str, float]] = {
    "voluntary": {"better offer": 0.35, "career change": 0.2, "relocation": 0.15, "schedule": 0.15,
                  "personal": 0.15},
    "involuntary": {"attendance": 0.45, "performance": 0.4, "conduct": 0.15},
}
VOLUNTARY_SHARE = 0.7

# QA.
QA_SAMPLE_RATE = 0.03
QA_PASS_MARK = 0.8
QA_SECTION_WEIGHTS: dict[str, float] = {"accuracy": 0.35, "empathy": 0.2, "brand_voice": 0.2, "compliance": 0.25}
QA_AUTO_FAIL_RATE = 0.012
QA_AUTO_FAIL_REASONS: dict[str, float] = {"disclosure missed": 0.5, "data protection": 0.35, "rude language": 0.15}
EVALUATORS_PER_SITE = 3
EVALUATOR_BIAS: tuple[float, ...] = (-0.04, 0.0, 0.03)

# Billing: how each vendor bills each client; hourly rate cards by site tier; per-contact rates.
BILLING: dict[tuple[str, str], str] = {
    ("northwind", "acme"): "per_hour",
    ("southpeak", "acme"): "per_hour",
    ("southpeak", "globex"): "per_contact",
    ("eastbay", "globex"): "per_contact",
}
HOURLY_RATE: dict[str, float] = {"offshore": 14.5, "nearshore": 19.0, "onshore": 34.0}
CONTACT_RATE: dict[str, float] = {"voice": 6.1, "email": 3.7, "chat": 3.2, "messaging": 2.8, "social": 3.4}
CONTACT_TIER_FACTOR: dict[str, float] = {"offshore": 0.75, "nearshore": 0.9, "onshore": 1.5}
COMMITTED_SHARE = 0.85  # committed minimum = this share of the quietest expected month


def site_channels() -> list[tuple[str, str, str, float]]:
    """Every (client, site, channel, share of the client's channel volume) lane, in a fixed order."""
    return [(c, s, ch, share) for (c, ch), sites in ROUTING.items() for s, share in sites.items()]


def group_of(channel: str) -> str:
    """The agent skill group that handles a channel."""
    return "voice" if channel == "voice" else "digital"


def bpo_toml(workspace_name: str = "Sample operation (Acme Home, Globex Travel)") -> str:
    """The bpo.toml of the sample workspace: tenants and users of the shared tenant list."""
    lines = ["[workspace]", f'name = "{workspace_name}"', f'currency = "{CURRENCY}"', ""]
    for c in CLIENTS.values():
        lines += ["[[client]]", f'id = "{c.id}"', f'name = "{c.name}"', ""]
    for vid, name in VENDORS.items():
        lines += ["[[vendor]]", f'id = "{vid}"', f'name = "{name}"', ""]
    for s in SITES.values():
        lines += ["[[site]]", f'id = "{s.id}"', f'name = "{s.name}"', f'vendor = "{s.vendor}"', f'tier = "{s.tier}"',
                  f'country = "{s.country}"', f'timezone = "{s.timezone}"', ""]
    users = (("admin", "admin", None, None), ("acme-manager", "brand", ["acme"], None),
             ("globex-manager", "brand", ["globex"], None), ("northwind-am", "vendor", ["*"], ["northwind"]))
    for name, role, clients, vendors in users:
        lines += ["[[user]]", f'name = "{name}"', f'role = "{role}"', f'email = "{name}@example.com"']
        if clients is not None:
            lines.append("clients = [" + ", ".join(f'"{c}"' for c in clients) + "]")
        if vendors is not None:
            lines.append("vendors = [" + ", ".join(f'"{v}"' for v in vendors) + "]")
        lines.append("")
    lines += ["[settings]", 'week_start = "monday"', f'sample_end = "{DEFAULT_END.isoformat()}"', ""]
    return "\n".join(lines)
