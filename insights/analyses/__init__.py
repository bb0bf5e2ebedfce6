"""One module per page topic, each returning result objects for pages, exports and the CLI.

`sla` (contract targets, attainment, drill-down), `scorecard` (vendors and sites, mix-adjusted,
funnels), `quality` (QA and coaching), `forecast` (volume, SLA at risk), `staffing` (Erlang C/A),
`talent` (attrition, occupancy, speed to competency), `pricing` (invoices, rate cards, credits),
`pilots` (difference-in-differences read-outs).
"""
