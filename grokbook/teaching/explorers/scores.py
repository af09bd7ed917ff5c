"""Memorization scores per phase of the ensemble: distributions on changed and clean pairs, ROC."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..plots.style import TRUTH_COLORS
from .page import Explorer, altair, bin_counts, caption_line, hex_color, records

def roc_points(scores, positives) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve of ``scores`` for the bool ``positives`` (NaN scores left out): false and
    true positive rates at every distinct threshold, from (0, 0) to (1, 1); ties move diagonally,
    so the trapezoids' area is the AUC with ties counted 1/2."""
    s = np.asarray(scores, float)
    y = np.asarray(positives, bool)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the end of each run of ties
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0, fp] / max(fp[-1], 1), np.r_[0, tp] / max(tp[-1], 1)


def score_views(scores: dict, changed, clean, bins: int = 30, most: int = 200):
    """The scores explorer's tables from ``{phase label: {score name: per-pair score}}`` and the
    bool masks of the changed and the clean training pairs.  ``hists``: per phase and score, the
    histogram of each group (``counts`` in ``bins`` bins from ``lo`` to ``hi``, the score's range
    over both) and ``n``, its pairs with a score; ``rocs``: per phase and score, the ROC curve
    (``fpr``, ``tpr``, thinned to about ``most`` points) and its ``auc``
    (``grokbook.memorization.roc_auc``)."""
    from ...analysis.memorization import roc_auc
    changed, clean = np.asarray(changed, bool), np.asarray(clean, bool)
    if (changed & clean).any():
        raise ValueError("changed and clean must not share a pair")
    hists, rocs = [], []
    for phase, by_name in scores.items():
        for name, values in by_name.items():
            v = np.asarray(values, float)
            if v.shape != changed.shape:
                raise ValueError(f"score {name!r} at {phase!r} has shape {v.shape}, the masks "
                                 f"{changed.shape}")
            both = v[(changed | clean) & ~np.isnan(v)]
            lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
            hi = hi if hi > lo else lo + 1.0
            for group, mask in (("changed", changed), ("clean", clean)):
                x = v[mask & ~np.isnan(v)]
                hists.append({"phase": phase, "score": name, "group": group, "lo": lo, "hi": hi,
                              "n": int(x.size), "counts": bin_counts(x, bins, lo, hi)})
            fpr, tpr = roc_points(v[changed | clean], changed[changed | clean])
            step = max(1, len(fpr) // most)
            pick = np.unique(np.r_[np.arange(0, len(fpr), step), len(fpr) - 1])
            rocs.append({"phase": phase, "score": name,
                         "auc": round(float(roc_auc(v[changed | clean],
                                                    changed[changed | clean])), 4),
                         "fpr": [round(float(f), 4) for f in fpr[pick]],
                         "tpr": [round(float(t), 4) for t in tpr[pick]]})
    return pd.DataFrame(hists), pd.DataFrame(rocs)


def scores_explorer(scores: dict, changed, clean, phase: str | None = None,
                    score: str | None = None, bins: int = 30) -> Explorer:
    """Pick the phase of the ensemble and a memorization score: its distribution on the changed
    and on the clean training pairs (each as a share of its group) and its ROC curve against
    the changed labels, with the AUC (``score_views``)."""
    alt = altair()
    hists, rocs = score_views(scores, changed, clean, bins)
    phases, names = list(scores), list(dict.fromkeys(hists.score))
    phase = phase if phase is not None else phases[0]
    score = score if score is not None else names[0]
    if phase not in phases:
        raise ValueError(f"phase must be one of {phases}, got {phase!r}")
    if score not in names:
        raise ValueError(f"score must be one of {names}, got {score!r}")
    p_param = alt.param(name="phase", value=phase, bind=alt.binding_select(
        options=phases, name="ensemble "))
    s_param = alt.param(name="score", value=score, bind=alt.binding_select(
        options=names, name="score "))
    pick = "datum.phase == phase && datum.score == score"
    groups = alt.Scale(domain=["changed", "clean"],
                       range=[hex_color(TRUTH_COLORS["changed"]), hex_color(TRUTH_COLORS["clean"])])
    histogram = alt.Chart(alt.Data(values=records(hists))).transform_filter(pick
    ).transform_flatten(["counts"]).transform_window(i="row_number()", groupby=["group"]
    ).transform_calculate(
        left=f"datum.lo + (datum.i - 1) * (datum.hi - datum.lo) / {bins}",
        right=f"datum.lo + datum.i * (datum.hi - datum.lo) / {bins}",
        share="datum.n > 0 ? datum.counts / datum.n : 0").mark_bar(opacity=0.6).encode(
        x=alt.X("left:Q", title="score", scale=alt.Scale(zero=False, nice=False)), x2="right:Q",
        y=alt.Y("sum(share):Q", title="share of the group's pairs", stack=None,
                axis=alt.Axis(format="%")),
        color=alt.Color("group:N", title="training pairs", scale=groups,
                        legend=alt.Legend(orient="bottom"))).properties(
        width=280, height=200, title="the score on changed and clean pairs")
    roc_data = alt.Chart(alt.Data(values=records(rocs))).transform_filter(pick)
    curve = roc_data.transform_flatten(["fpr", "tpr"]).transform_window(
        i="row_number()").mark_line(color="black", interpolate="linear").encode(
        x=alt.X("fpr:Q", title="false positive rate (clean pairs)"),
        y=alt.Y("tpr:Q", title="true positive rate (changed pairs)"), order="i:Q")
    chance = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
        strokeDash=[3, 3], color="#999999").encode(x="x:Q", y="y:Q")
    roc = alt.layer(chance, curve).properties(width=220, height=200, title="ROC curve")
    text = caption_line(roc_data, "datum.score + ', ' + datum.phase + ': ROC AUC ' + "
                                  "format(datum.auc, '.3f')", 560)
    chart = alt.vconcat(text, alt.hconcat(histogram, roc).resolve_scale(
        color="independent")).add_params(p_param, s_param).resolve_scale(color="independent").configure_view(stroke=None)

    def picture():
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
        h = hists[(hists.phase == phase) & (hists.score == score)]
        for _, r in h.iterrows():
            edges = np.linspace(r.lo, r.hi, bins + 1)
            axes[0].bar(edges[:-1], np.asarray(r.counts) / max(r.n, 1), width=np.diff(edges),
                        align="edge", alpha=0.6, color=TRUTH_COLORS[r.group], label=r.group)
        axes[0].set(xlabel="score", ylabel="share of the group's pairs",
                    title=f"{score}, {phase}")
        axes[0].legend(fontsize="x-small")
        r = rocs[(rocs.phase == phase) & (rocs.score == score)].iloc[0]
        axes[1].plot([0, 1], [0, 1], ":", color="0.6")
        axes[1].plot(r.fpr, r.tpr, color="k")
        axes[1].set(xlabel="false positive rate", ylabel="true positive rate",
                    title=f"ROC AUC {r.auc:.3f}")
        return fig

    return Explorer("scores", chart, picture, {"hists": hists, "rocs": rocs},
                    alt_text=f"{score} at {phase}: its distribution on changed and clean pairs "
                             "and its ROC curve.")
