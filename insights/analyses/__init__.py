"""One module per page topic, each returning result objects for pages, exports and the CLI.

`sla` (contract targets, attainment, drill-down), `scorecard` (vendors and sites, mix-adjusted,
funnels), `quality` (QA and coaching), `forecast` (volume, SLA at risk), `staffing` (Erlang C/A),
`talent` (attrition, occupancy, speed to competency), `pricing` (invoices, rate cards, credits),
`pilots` (difference-in-differences read-outs). The names pages use are exported here.
"""
from insights.analyses.forecast import QUEUE
from insights.analyses.quality import SECTION_LABELS
from insights.analyses.scorecard import FRAMEWORK, funnel, funnel_curve
from insights.analyses.sla import DRILL, target_line
from insights.analyses.staffing import StaffingError, StaffingTarget, plan_staffing

__all__ = ["DRILL", "FRAMEWORK", "QUEUE", "SECTION_LABELS", "StaffingError", "StaffingTarget", "funnel", "funnel_curve",
           "plan_staffing", "target_line"]
