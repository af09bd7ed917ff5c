"""One run's two stages under a slider over its training steps."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..plots.style import COLORS, LABELS, PHASE_COLORS
from .page import (CURVES, Explorer, altair, bin_counts, caption_line, curve_colors, hex_color,
                   records, renamed, slider_steps)

def stage_snapshots(history: pd.DataFrame, snapshots: dict, most: int = 60, bins: int = 20):
    """The two-stages explorer's tables for one run.

    ``history``: that run's logged accuracies (columns step and the four of ``CURVES``);
    ``snapshots``: ``{step: (ipr (N,), U (N, p))}`` at logged steps (the neurons' IPR and their
    weights on the first input).  Keeps at most ``most`` evenly spaced snapshots.  Returns
    ``(curves, states, neurons)``: ``curves`` the history; ``states`` one row per kept step, the
    IPR histogram (``counts``, ``bins`` bins of [0, 1]) and the mean IPR; ``neurons``, the two
    neurons drawn (the lowest and the highest IPR at the last snapshot) with their weights
    ``w`` (a list over the input m), ``dft`` (|rfft| of w, a list over the frequency s) and
    ``ipr`` at each kept step."""
    steps = sorted(snapshots)
    if not steps:
        raise ValueError("snapshots must hold at least one step, got none")
    missing = sorted(set(steps) - set(history.step))
    if missing:
        raise ValueError(f"snapshots must be at logged steps of history; not logged: {missing[:5]}")
    kept = slider_steps(steps, most)
    last_ipr = np.asarray(snapshots[steps[-1]][0], float)
    chosen = {"memorizing": int(np.argmin(last_ipr)), "generalizing": int(np.argmax(last_ipr))}
    states, neurons = [], []
    for s in kept:
        ipr, U = (np.asarray(a, float) for a in snapshots[s])
        states.append({"step": int(s), "counts": bin_counts(ipr, bins),
                       "mean_ipr": round(float(ipr.mean()), 4),
                       "low": int((ipr < 0.3).sum())})
        for role, k in chosen.items():
            neurons.append({"step": int(s), "neuron": f"{role} (neuron {k})", "role": role,
                            "index": k, "ipr": round(float(ipr[k]), 4),
                            "w": [round(float(v), 3) for v in U[k]],
                            "dft": [round(float(v), 3) for v in np.abs(np.fft.rfft(U[k]))]})
    curves = history[["step", *CURVES]].sort_values("step").reset_index(drop=True)
    return curves, pd.DataFrame(states), pd.DataFrame(neurons)


def two_stages_explorer(history: pd.DataFrame, snapshots: dict, step: int | None = None,
                        inverted: float | None = None, title: str = "", most: int = 60,
                        bins: int = 20) -> Explorer:
    """A slider over one run's training steps: its accuracies up to the step, the histogram of
    its neurons' IPR at the step, and the weights of one memorizing and one generalizing neuron
    (``stage_snapshots``).  ``inverted``: the Full Inversion level, drawn dashed; ``step``: the
    slider's first position (default: the first kept snapshot after a tenth of training)."""
    alt = altair()
    curves, states, neurons = stage_snapshots(history, snapshots, most, bins)
    kept = states.step.to_numpy()
    if step is None:
        step = int(kept[np.searchsorted(kept, kept[-1] / 10)])
    if step not in set(kept):
        raise ValueError(f"step must be one of the explorer's snapshots {kept.tolist()}, got {step}")
    stride = int(kept[1] - kept[0]) if len(kept) > 1 else 1
    at = alt.param(name="step", value=int(step), bind=alt.binding_range(
        min=int(kept[0]), max=int(kept[-1]), step=stride, name="training step "))

    names = {m: LABELS[m] for m in CURVES}
    so_far = alt.Chart(alt.Data(values=records(curves))).transform_filter(
        "datum.step <= step").transform_fold(list(CURVES), as_=["curve", "accuracy"]
    ).transform_calculate(curve=renamed(names))
    lines = so_far.mark_line().encode(
        x=alt.X("step:Q", scale=alt.Scale(domain=[0, int(curves.step.max())], nice=False)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", title="accuracy")),
        color=curve_colors(names))
    layers = [lines]
    if inverted is not None:
        layers.append(alt.Chart(alt.Data(values=[{"level": float(inverted)}])).mark_rule(
            strokeDash=[4, 3], color="black").encode(
            y=alt.Y("level:Q", axis=alt.Axis(format="%", title="accuracy"))))
    accuracy = alt.layer(*layers).properties(width=330, height=190,
                                             title=title or "accuracies so far")
    now = caption_line(alt.Chart(alt.Data(values=records(curves))).transform_filter(
        "datum.step == step"), (
        "'step ' + datum.step + ': train ' + format(datum.train_acc, '.1%') + ', test ' + "
        "format(datum.test_acc, '.1%') + ', changed labels fitted ' + "
        "format(datum.corrupt_acc, '.1%') + ', inverted ' + format(datum.corrupt_true_acc, '.1%')"),
        600)

    width = 1 / bins
    histogram = alt.Chart(alt.Data(values=records(states))).transform_filter(
        "datum.step == step").transform_flatten(["counts"]).transform_window(
        i="row_number()").transform_calculate(
        lo=f"(datum.i - 1) * {width}", hi=f"datum.i * {width}").mark_bar(
        color=hex_color(COLORS["mean_ipr"]), stroke="white").encode(
        x=alt.X("lo:Q", title="IPR", scale=alt.Scale(domain=[0, 1])), x2="hi:Q",
        y=alt.Y("sum(counts):Q", title="neurons")).properties(
        width=230, height=190, title="the neurons' IPR at this step")
    roles = list(dict.fromkeys(neurons.neuron))
    two = alt.Chart(alt.Data(values=records(neurons))).transform_filter("datum.step == step")
    color = alt.Color("neuron:N", title=None, scale=alt.Scale(
        domain=roles, range=[PHASE_COLORS["Memorization"], PHASE_COLORS["Full Inversion"]]),
        legend=alt.Legend(orient="bottom"))
    weights = two.transform_flatten(["w"]).transform_window(
        m="row_number()", groupby=["neuron"]).transform_calculate(m="datum.m - 1").mark_line(
        point=alt.OverlayMarkDef(size=12), strokeWidth=0.8).encode(
        x=alt.X("m:Q", title="residue m", scale=alt.Scale(nice=False)),
        y=alt.Y("w:Q", title="weight U[k, m]"), color=color).properties(
        width=330, height=150, title="two neurons' weights at this step")
    spectrum = two.transform_flatten(["dft"]).transform_window(
        s="row_number()", groupby=["neuron"]).transform_calculate(s="datum.s - 1").mark_bar(
        ).encode(x=alt.X("s:O", title="frequency s", axis=alt.Axis(labelAngle=0, values=list(
            range(0, len(neurons.dft.iloc[0]), 5)))), xOffset="neuron:N",
        y=alt.Y("dft:Q", title="|rfft|"), color=color).properties(
        width=230, height=150, title="their DFT magnitudes")
    chart = alt.vconcat(now, alt.hconcat(accuracy, histogram).resolve_scale(
        color="independent"), alt.hconcat(weights, spectrum), spacing=8).add_params(
        at).resolve_scale(color="independent").configure_view(stroke=None)

    def picture():
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 4, figsize=(15, 3.2), layout="constrained")
        for m in CURVES:
            h = curves[curves.step <= step]
            axes[0].plot(h.step, h[m], color=COLORS[m], label=LABELS[m])
        if inverted is not None:
            axes[0].axhline(inverted, color="k", ls="--", lw=1)
        axes[0].set(xlim=(0, curves.step.max()), ylim=(-0.02, 1.02), xlabel="step",
                    ylabel="accuracy", title=f"up to step {step}")
        axes[0].legend(fontsize="x-small")
        row = states[states.step == step].iloc[0]
        edges = np.linspace(0, 1, bins + 1)
        axes[1].bar(edges[:-1], row.counts, width=width, align="edge",
                    color=COLORS["mean_ipr"], edgecolor="white")
        axes[1].set(xlabel="IPR", ylabel="neurons", title=f"IPR at step {step}")
        for (_, n), color in zip(neurons[neurons.step == step].iterrows(),
                                 (PHASE_COLORS["Memorization"], PHASE_COLORS["Full Inversion"])):
            axes[2].plot(n.w, ".-", color=color, label=n.neuron, ms=3, lw=0.8)
            axes[3].plot(n.dft, ".-", color=color, label=n.neuron, ms=3, lw=0.8)
        axes[2].set(xlabel="residue m", ylabel="weight", title="two neurons' weights")
        axes[3].set(xlabel="frequency s", ylabel="|rfft|", title="their DFT magnitudes")
        axes[2].legend(fontsize="x-small")
        return fig

    return Explorer("two-stages", chart, picture,
                    {"curves": curves, "states": states, "neurons": neurons},
                    alt_text=f"The run at step {step}: its accuracies so far, the histogram of "
                             "its neurons' IPR and two neurons' weights.")
