"""Insights: every insight of the week, filterable; acknowledge, mark not useful, assign an owner, record the action."""

from __future__ import annotations

import streamlit as st

from dashboard import components, data, state
from insights import format
from insights.review import insight_log

ctx = state.context()
f = ctx.filters
review = data.review(ctx.ws, ctx.viewer.scope, tuple(sorted(f.dimensions().items())), f.week, ctx.version,
                     ctx.tenant)
st.title("Insights")
components.view_caption(review.week, review.filters, names=review.names)
components.notices(review.notices)
if not review.has_data:
    st.stop()
items = list(review.insights)
if not items:
    st.success("No insights this week: no target missed and nothing changed enough to report.")
    st.stop()

tenant = ctx.tenant  # notes are the viewer's organisation's, never a competitor's
states = insight_log.states(ctx.ws, [i.id for i in items], tenant=tenant)
c1, c2, c3 = st.columns(3)
types = c1.multiselect("Type", sorted({i.type for i in items}), key="ins_types", placeholder="All types",
                       format_func=lambda t: components.TEST_NAMES.get(t, t.replace("_", " ")))
kpis = c2.multiselect("KPI", sorted({i.kpi for i in items}), format_func=lambda k: format.label("kpi", k, review.names),
                      key="ins_kpis", placeholder="All KPIs")
statuses = c3.multiselect("Status", list(insight_log.STATUSES), format_func=insight_log.STATUS_LABELS.get,
                          key="ins_status", placeholder="Any status")
shown = [i for i in items if (not types or i.type in types) and (not kpis or i.kpi in kpis)
         and (not statuses or states[i.id].status in statuses)]
st.caption(f"{len(shown)} of {len(items)} insights, ranked by impact and confidence (data notices first).")

for rank, ins in enumerate(shown, 1):
    s = states[ins.id]
    with st.container(border=True, key=f"insight_{ins.id}"):
        st.markdown(f"**{rank}. {format.markdown(ins.headline)}**")
        st.markdown(f"*What it means:* {format.markdown(ins.meaning)}")
        st.markdown(f"*What to do:* {format.markdown(components.insight_action(ins))}")
        st.caption(f"Status: **{insight_log.STATUS_LABELS.get(s.status, s.status)}** · "
                   + format.markdown(f"confidence {ins.confidence_label}"
                                     + (f" · owner: {s.owner}" if s.owner else "")
                                     + (f" · action: {s.action_taken}" if s.action_taken else "")
                                     + (f" · by {s.updated_by} {s.updated_at:%d %b %H:%M}" if s.updated_at else "")
                                     + f" · id {ins.id}"))
        with st.expander("Evidence"):
            st.json(components.insight_evidence(ins, review.names), expanded=True)
            st.json({k: v for k, v in ins.to_dict().items() if k not in ("headline", "meaning", "action")},
                    expanded=False)
        with st.form(f"act_{ins.id}", border=False):
            a, b = st.columns([1, 2])
            status = a.selectbox("Status", list(insight_log.STATUSES), index=list(insight_log.STATUSES).index(s.status),
                                 format_func=insight_log.STATUS_LABELS.get, key=f"status_{ins.id}")
            owner = b.text_input("Owner", value=s.owner or "", key=f"owner_{ins.id}", placeholder=ins.action.owner)
            action = st.text_area("Action taken", value=s.action_taken or "", key=f"action_{ins.id}", height=68)
            if st.form_submit_button("Save"):
                insight_log.record(ctx.ws, ins.id, user=ctx.viewer.name, tenant=tenant, status=status if status != s.status else None,
                                   owner=owner.strip() if owner.strip() != (s.owner or "") else None,
                                   action_taken=action.strip() if action.strip() != (s.action_taken or "") else None,
                                   headline=ins.headline)
                st.toast("Saved")
                st.rerun()
        trail = insight_log.history(ctx.ws, ins.id, tenant=tenant)
        if trail.height:
            with st.expander(f"History ({trail.height})"):
                components.dataframe(trail, hide_index=True, width="stretch")
