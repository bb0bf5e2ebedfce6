"""Cost: cost per (resolved) contact, invoice reconciliation, SLA credits, unused minimums, hourly rates, the move what-if."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, components, data, state
from insights import format

SPLITS = {"vendor": "vendor_id", "site": "site_id", "channel": "channel"}
IMPORT_INVOICES = "import cost_invoices with `bpo-insights import FILE --preset canonical_cost_invoices`"
MONEY = st.column_config.NumberColumn(format="%.2f")
WHOLE = st.column_config.NumberColumn(format="%.0f")
MONTH = st.column_config.DateColumn(format="MMM YYYY")


def no_invoices(missing: data.Missing | None) -> None:
    """The page's empty state: which invoices are missing and the command that imports them."""
    whose = " and ".join(f"{k} '{v}'" for k, v in f.dimensions().items() if k in ("client", "vendor")) or "your view"
    st.info(f"No invoices for {format.markdown(whose)} yet: {IMPORT_INVOICES}."
            + (f"\n\n({format.markdown(missing.reason)})" if missing is not None else ""), icon="ℹ️")


ctx = state.context()
f = ctx.filters
dims = tuple(sorted(f.dimensions().items()))
ws, scope, version = ctx.ws, ctx.viewer.scope, ctx.version
names = format.Names.of(ws.config)
currency = ws.config.currency

st.title("Cost")
st.caption("Monthly, from the vendors' invoices against measured volume and hours · "
           + format.markdown(" · ".join(f"{k}: {v}" for k, v in f.dimensions().items()) or "all work in your view"))

components.not_split(f.dimensions(), "Cost figures and the contacts they are divided by",
                     ("cost_invoices", "staffing_roster", "contact_intervals"))
rec = data.reconciliation(ws, scope, dims, version)
if isinstance(rec, data.Missing) or rec.lines.is_empty():
    no_invoices(rec if isinstance(rec, data.Missing) else None)
    st.stop()

# ----------------------------------------------------------------------------------- cost per contact
st.subheader("Cost per contact and per resolved contact")
split = st.radio("Split by", list(SPLITS), horizontal=True, key="cost_split")
cpc = data.cost_per_contact(ws, scope, dims, (SPLITS[split],), version)
if isinstance(cpc, data.Missing):
    no_invoices(cpc)
elif cpc.is_empty():
    st.info(f"No cost per {split}: invoice lines billed without a {split} (agent hours for a whole site) cannot be "
            f"split by {split}; split by vendor or site instead.", icon="ℹ️")
else:
    left, right = st.columns(2)
    left.plotly_chart(charts.lines_by(cpc, x="month", y="cost_per_contact", split=SPLITS[split],
                                      title=f"Cost per contact ({currency})", labels=names.of_kind(split)),
                      key="cost_cpc_chart", config={"displayModeBar": False})
    right.plotly_chart(charts.lines_by(cpc, x="month", y="cost_per_resolved", split=SPLITS[split],
                                       title=f"Cost per resolved contact ({currency})", labels=names.of_kind(split)),
                       key="cost_cpr_chart", config={"displayModeBar": False})
    unbilled = sorted(set(cpc.filter(pl.col("reason").is_not_null()).get_column("reason").to_list()))
    st.caption("The catalog's cost per contact (invoiced cost, credits netted, ÷ contacts handled) and cost per "
               "resolved contact (÷ tickets solved), month by month; a month counts only when every day of it is "
               "invoiced" + (f" (months left blank: {'; '.join(unbilled)})" if unbilled else "") + ".")

# ----------------------------------------------------------------------------------- reconciliation
st.subheader("Invoice reconciliation")
flagged = rec.flagged
m = st.columns(3)
m[0].metric("Invoice lines checked", f"{rec.lines.height:,}")
m[1].metric("Lines flagged", f"{flagged.height:,}")
m[2].metric("Credit differences", f"{rec.credits.filter(pl.col('flag').is_not_null()).height:,}")
if flagged.height:
    st.warning(f"{flagged.height} invoice line(s) do not match what was measured; each flag names the rule.", icon="⚠️")
    components.dataframe(flagged.with_columns(pl.col("flags").list.join(", ")).drop("currency"), hide_index=True,
                 width="stretch", key="cost_flagged",
                 column_config={"period_start": MONTH, "period_end": MONTH, "quantity": MONEY, "measured": MONEY, "difference": MONEY, "unit_rate": MONEY,
                                "card_rate": MONEY, "amount": MONEY})
else:
    st.success("Every invoice line matches the measured hours and contacts, its rate card and quantity × rate.")
with st.expander("The reconciliation rules"):
    components.dataframe(pl.DataFrame({"rule": [r.name for r in rec.rules], "fires when": [r.meaning for r in rec.rules]}),
                 hide_index=True, width="stretch")

st.markdown("**SLA credits owed under the contract vs credits invoiced**")
if rec.credits.is_empty():
    st.caption("No service credits owed or invoiced in this view (targets with a penalty per point earn credits).")
else:
    short = rec.credits.filter(pl.col("flag").is_not_null())
    if short.height:
        st.warning("Credits that differ from what the contract owes: "
                   + "; ".join(f"{r['invoice_id']} {format.label('site', r['site_id'], names)} {r['channel']}: owed "
                               f"{format.money(r['owed'])}, invoiced {format.money(r['invoiced'])} "
                               f"({r['flag'].replace('_', ' ')})" for r in short.iter_rows(named=True)),
                   icon="⚠️")
    components.dataframe(rec.credits.with_columns(pl.col("metrics").list.join(", ")), hide_index=True, width="stretch",
                 key="cost_credits", column_config={"owed": MONEY, "invoiced": MONEY, "difference": MONEY})

# ----------------------------------------------------------------------------------- unused minimums
st.subheader("Unused committed minimums")
um = data.unused_minimums(ws, scope, dims, version)
unused = um.filter(pl.col("unused") > 0) if not isinstance(um, data.Missing) else pl.DataFrame()
if unused.is_empty():
    st.caption("No committed minimum went unused in this view.")
else:
    fig = charts.stacked_bars(unused, x="period_start", y="unused_cost", split="site_id", unit=currency,
                              title=f"What unused committed volume costs per month ({currency})")
    st.plotly_chart(fig, key="cost_unused_chart", config={"displayModeBar": False})
    components.dataframe(unused, hide_index=True, width="stretch", key="cost_unused",
                 column_config={"period_start": MONTH, "committed_volume": WHOLE, "quantity": WHOLE, "unused": WHOLE, "unit_rate": MONEY,
                                "unused_cost": MONEY, "shortfall_billed": MONEY})

# ----------------------------------------------------------------------------------- hourly rate
st.subheader("Effective hourly rate vs rate card")
ehr = data.effective_hourly_rate(ws, scope, dims, version)
if isinstance(ehr, data.Missing) or ehr.is_empty():
    st.caption("No invoiced charges with logged roster hours in this view.")
else:
    st.plotly_chart(charts.lines_by(ehr.filter(pl.col("hours").is_not_null()), x="month", y="effective_hourly_rate",
                                    split="site_id", reference="card_hourly_rate", reference_name="hourly card rate",
                                    title=f"Invoiced charges per logged hour ({currency}), dashed: the hourly rate card",
                                    labels=names.site),
                    key="cost_ehr_chart", config={"displayModeBar": False})
    st.caption("Sites billed per contact have no hourly card rate; their line shows what each logged hour costs.")

# ----------------------------------------------------------------------------------- what-if
st.subheader("What-if: move volume between sites")
lanes = data.lanes(ws, scope, dims, version)
if isinstance(lanes, data.Missing) or lanes.is_empty():
    st.caption("No invoiced lanes to move volume between.")
else:
    c = st.columns(5)
    client = c[0].selectbox("Client", sorted(lanes.get_column("client_id").unique().to_list()), key="move_client")
    lane = lanes.filter(pl.col("client_id") == client)
    channel = c[1].selectbox("Channel", sorted(lane.get_column("channel").unique().to_list()), key="move_channel")
    sites = sorted(lane.filter(pl.col("channel") == channel).get_column("site_id").unique().to_list())
    from_site = c[2].selectbox("From site", sites, key="move_from")
    to_site = c[3].selectbox("To site", [s for s in sites if s != from_site] or sites, key="move_to")
    share = c[4].slider("Share moved", 5, 100, 25, step=5, format="%d%%", key="move_share")
    if from_site == to_site:
        st.caption(f"Only {format.markdown(from_site)} serves {format.markdown(client)} {format.markdown(channel)}: pick a lane served by two sites.")
    else:
        move = data.move_volume(ws, scope, dims, client, channel, from_site, to_site, share / 100, version)
        if isinstance(move, data.Missing):
            st.warning(format.markdown(move.reason))
        else:
            r = st.columns(4)
            r[0].metric(f"Contacts moved in {move.month:%b %Y}", f"{move.contacts_moved:,.0f}")
            r[1].metric(format.markdown(f"Cost per contact, {from_site} → {to_site}"),
                        f"{format.money(move.cost_per_contact_from)} → {format.money(move.cost_per_contact_to)}")
            r[2].metric(f"Monthly cost change ({currency})", format.delta("currency", move.cost_change),
                        "saving" if move.cost_change < 0 else "extra cost", delta_color="off")
            r[3].metric("First-response attainment after",
                        format.value("percent", move.attainment_after),
                        None if move.attainment_before is None else f"before {format.value('percent', move.attainment_before)}",
                        delta_color="off")
            st.caption("Each site keeps its own cost per contact and first-response attainment (the month's actuals); "
                       "a site billed by the agent hour has one cost per contact for every channel it serves.")
