"""Pruning under a slider: which neurons are gone, and the accuracies, per order."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..plots.style import COLORS, LABELS
from .page import (Explorer, altair, bin_counts, caption_line, curve_colors, hex_color, records,
                   renamed)

PRUNE_METRICS = ("test_acc", "corrupt_acc", "corrupt_true_acc", "clean_acc")
ORDER_NAMES = {"low": "lowest IPR first", "high": "highest IPR first", "random": "random order"}


def order_rows(curves: pd.DataFrame, order: str, seed: int) -> pd.DataFrame:
    """The rows of ``curves`` for ``order``: for the random order, those of its ``seed`` where
    ``curves`` holds several random orders (a ``seed`` column)."""
    rows = curves[curves.order == order]
    return rows[rows.seed == seed] if order == "random" and "seed" in rows else rows


def pruning_states(ipr, curves: pd.DataFrame, seed: int = 0, bins: int = 20) -> pd.DataFrame:
    """The pruning explorer's table: one row per order and fraction of ``curves`` (from
    ``gb.prune_curves``; the random order's rows of ``seed`` where it has a ``seed`` column) with
    its accuracies, ``pct`` (the fraction in whole percents), ``pruned`` (how many neurons are
    gone: ``round(fraction N)``) and the IPR histograms of the kept and the pruned neurons
    (``kept``, ``gone``: counts in ``bins`` bins of [0, 1])."""
    import torch

    from ...analysis.prune import prune_masks
    ipr = torch.as_tensor(np.asarray(ipr, dtype=float))
    rows = []
    for order in [o for o in ORDER_NAMES if o in set(curves.order)]:
        c = order_rows(curves, order, seed).sort_values("fraction")
        masks = prune_masks(ipr, c.fraction.tolist(), order, seed).bool().numpy()
        for (_, r), keep in zip(c.iterrows(), masks):
            rows.append({"order": ORDER_NAMES[order], "fraction": float(r.fraction),
                         "pct": int(round(100 * r.fraction)), "pruned": int((~keep).sum()),
                         **{m: round(float(r[m]), 4) for m in PRUNE_METRICS},
                         "kept": bin_counts(ipr.numpy()[keep], bins),
                         "gone": bin_counts(ipr.numpy()[~keep], bins)})
    return pd.DataFrame(rows)


def pruning_explorer(ipr, curves: pd.DataFrame, order: str = "low", fraction: float = 0.3,
                     seed: int = 0, bins: int = 20) -> Explorer:
    """Pick an order (lowest IPR first, highest first, random) and move a slider over the
    fraction of neurons pruned: which neurons are gone (the IPR histogram, pruned ones grey) and
    the network's accuracies (``pruning_states`` of one run's ``ipr`` and ``curves``)."""
    from ..plots.pruning import pruning_view
    alt = altair()
    states = pruning_states(ipr, curves, seed, bins)
    if order not in ORDER_NAMES:
        raise ValueError(f"order must be one of {list(ORDER_NAMES)}, got {order!r}")
    pcts = sorted(states.pct.unique())
    if int(round(100 * fraction)) not in pcts:
        raise ValueError(f"fraction must be one of the curves' fractions "
                         f"{[p / 100 for p in pcts]}, got {fraction}")
    stride = int(np.gcd.reduce(np.diff(pcts))) if len(pcts) > 1 else 1
    chosen = alt.param(name="order", value=ORDER_NAMES[order], bind=alt.binding_radio(
        options=list(dict.fromkeys(states.order)), name="order "))
    at = alt.param(name="pct", value=int(round(100 * fraction)), bind=alt.binding_range(
        min=int(pcts[0]), max=int(pcts[-1]), step=stride, name="% of neurons pruned "))
    data = alt.Data(values=records(states))
    mine = alt.Chart(data).transform_filter("datum.order == order")

    width = 1 / bins
    histogram = mine.transform_filter("datum.pct == pct").transform_fold(
        ["kept", "gone"], as_=["group", "counts"]).transform_flatten(["counts"]).transform_window(
        i="row_number()", groupby=["group"]).transform_calculate(
        lo=f"(datum.i - 1) * {width}", hi=f"datum.i * {width}",
        group="datum.group == 'kept' ? 'kept' : 'pruned'").mark_bar(stroke="white").encode(
        x=alt.X("lo:Q", title="IPR", scale=alt.Scale(domain=[0, 1])), x2="hi:Q",
        y=alt.Y("sum(counts):Q", title="neurons", stack="zero"),
        color=alt.Color("group:N", title=None, scale=alt.Scale(
            domain=["kept", "pruned"], range=[hex_color(COLORS["mean_ipr"]), "#cccccc"]),
            legend=alt.Legend(orient="bottom")),
        order=alt.Order("group:N", sort="descending")).properties(
        width=260, height=190, title="which neurons are gone")
    names = {m: LABELS.get(m, m) for m in PRUNE_METRICS}
    names["test_acc"] = "test"
    lines = mine.transform_fold(list(PRUNE_METRICS), as_=["curve", "accuracy"]).transform_calculate(
        curve=renamed(names)).mark_line(point=alt.OverlayMarkDef(size=15)).encode(
        x=alt.X("fraction:Q", title="fraction of neurons pruned", axis=alt.Axis(format="%")),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=curve_colors(names))
    rule = mine.transform_filter("datum.pct == pct").mark_rule(
        strokeDash=[2, 2], color="black").encode(x="fraction:Q")
    accuracy = alt.layer(lines, rule).properties(width=300, height=190,
                                                 title="the network's accuracies")
    text = caption_line(mine.transform_filter("datum.pct == pct"), (
        "datum.pruned + ' neurons pruned (' + datum.pct + '%), ' + datum.order + ': test ' + "
        "format(datum.test_acc, '.1%') + ', changed labels fitted ' + "
        "format(datum.corrupt_acc, '.1%') + ', clean train ' + format(datum.clean_acc, '.1%')"),
        600)
    chart = alt.vconcat(text, alt.hconcat(histogram, accuracy).resolve_scale(
        color="independent")).add_params(chosen, at).resolve_scale(color="independent").configure_view(stroke=None)

    def picture():
        axes = pruning_view(ipr, order_rows(curves, order, seed), order, fraction, seed=seed)
        return axes[0].figure

    return Explorer("pruning", chart, picture, {"states": states},
                    alt_text=f"The network with {fraction:.0%} of its neurons pruned, "
                             f"{ORDER_NAMES[order]}: which neurons are gone and its accuracies.")
