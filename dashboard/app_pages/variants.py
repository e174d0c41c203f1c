"""Variants: the distinct paths cases take, most frequent first."""

from __future__ import annotations

import streamlit as st

from dashboard import charts_process, derive, ui

st.title("Variants")
ui.require("variants")

variants = derive.variant_frame(ui.figure("variants"))
ui.stop_if_empty(variants)
total = int(variants["cases"].sum())
top = st.columns(3)
top[0].metric("Variants", f"{variants.height:,}")
top[1].metric("Cases", f"{total:,}")
top[2].metric(
    "Top variant covers",
    f"{variants['cases'][0] / max(total, 1):.1%}",
    help="Share of cases that took the most frequent path.",
)
st.plotly_chart(charts_process.variant_bars(variants, "variant", "cases"), width="stretch")
ui.table(variants, "variants")
