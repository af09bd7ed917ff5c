"""The phase diagrams of stored sweeps, one panel at a time: hover a cell, click it for its run."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...core.phases import cell_phases
from ..plots.style import LABELS
from .page import (CURVES, Explorer, altair, caption_line, curve_colors, percent, phase_scale,
                   records, renamed)

_CURVE_KEYS = ("tr", "te", "cf", "ci")


def phase_cells(sweeps, seed: int = 0, most: int = 24) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The phase explorer's tables from a list of stored sweeps (``gb.get_sweep``).

    ``cells``: one row per panel (its label: "wd = 15", "batch 8, BatchNorm") and (alpha, xi)
    cell: the phase most
    of its seeds reach (``gb.cell_phases``) and ``share``, the fraction of them in it; the run of
    ``seed`` (``run``, its final ``train_acc``, ``test_acc``, ``corrupt_acc``,
    ``corrupt_true_acc``, ``phase_run``) and its curves ``tr``, ``te``, ``cf``, ``ci`` (the four
    accuracies at each logged step, whole percents, None where a run has no changed label).
    ``steps``: the steps of each panel the curves keep, (panel, i, step, key): at most about
    ``most`` of the logged ones, evenly spaced, the last one kept."""
    sweeps = list(sweeps)
    if not sweeps:
        raise ValueError("sweeps must hold at least one stored sweep, got none")
    labels = [k.label for data in sweeps for k in data.panels()]
    if len(set(labels)) < len(labels):
        raise ValueError(f"sweeps must have panels of different labels, got {labels}")
    cells, steps = [], []
    for data in sweeps:
        majority = cell_phases(data.panel_runs(), "panel")
        history = {run: h.sort_values("step") for run, h in data.history.groupby("run")}
        for key, group in data.panels().items():
            several = group.groupby(["alpha", "xi"]).size().max() > 1
            if several and seed not in set(group.data_seed):
                raise ValueError(f"seed must be one of {sorted(set(group.data_seed))}, got {seed}")
            mine = (group[group.data_seed == seed] if several else group).set_index(["alpha", "xi"])
            for n, row in enumerate(majority[majority.panel == key.label].itertuples()):
                run = mine.loc[(row.alpha, row.xi)]
                h = history[int(run.run)]
                every = int(np.ceil(len(h) / most))
                h = h.iloc[np.unique(np.r_[np.arange(0, len(h), every), len(h) - 1])]
                if n == 0:
                    steps += [{"panel": key.label, "i": i, "step": int(s),
                               "key": f"{key.label}|{i}"} for i, s in enumerate(h.step)]
                cells.append({
                    "panel": key.label, "alpha": float(row.alpha), "xi": float(row.xi),
                    "phase": row.phase, "share": float(row.share), "run": int(run.run),
                    "phase_run": run.phase,
                    **{m: (None if pd.isna(run[m]) else round(float(run[m]), 4)) for m in CURVES},
                    **{k: percent(h[m]) for k, m in zip(_CURVE_KEYS, CURVES)}})
    return pd.DataFrame(cells), pd.DataFrame(steps)


def phase_explorer(sweeps, seed: int = 0, panel: str | None = None,
                   alpha: float | None = None, xi: float | None = None) -> Explorer:
    """The phase diagrams of a list of stored sweeps (``[wd, dropout, bn]``): a menu of their
    panels; hovering a cell gives its phase and the seed-``seed`` run's accuracies, clicking it
    draws that run's curves.  ``panel``, ``alpha``, ``xi``: the view it opens on (default: the
    first panel, its middle cell)."""
    from ..plots.phases import sweep_cell
    alt = altair()
    sweeps = list(sweeps)
    cells, steps = phase_cells(sweeps, seed)
    panels = list(dict.fromkeys(cells.panel))
    panel = panel if panel is not None else panels[0]
    if panel not in panels:
        raise ValueError(f"panel must be one of {panels}, got {panel!r}")
    alphas, xis = sorted(cells.alpha.unique()), sorted(cells.xi.unique())
    alpha = alpha if alpha is not None else alphas[len(alphas) // 2]
    xi = xi if xi is not None else xis[len(xis) // 2]
    if not any(np.isclose(alphas, alpha)) or not any(np.isclose(xis, xi)):
        raise ValueError(f"(alpha, xi) must be a cell of the grid: alpha in {alphas}, xi in {xis}; "
                         f"got ({alpha}, {xi})")

    chosen = alt.param(name="panel", value=panel,
                       bind=alt.binding_select(options=panels, name="panel "))
    cell = alt.selection_point(name="cell", fields=["alpha", "xi"], on="click", clear=False,
                               value=[{"alpha": float(alpha), "xi": float(xi)}])
    base = alt.Chart(alt.Data(values=records(cells))).transform_filter(
        "datum.panel == panel")
    pct = lambda f, t: alt.Tooltip(f, title=t, format=".1%")
    diagram = base.mark_rect(stroke="black").encode(
        x=alt.X("xi:O", title="ξ (corruption)", axis=alt.Axis(format=".1f", labelAngle=0)),
        y=alt.Y("alpha:O", title="α (training fraction)", sort="descending",
                axis=alt.Axis(format=".1f")),
        color=alt.Color("phase:N", scale=phase_scale(), title="phase (most seeds)",
                        legend=alt.Legend(orient="bottom", columns=2)),
        strokeWidth=alt.condition(cell, alt.value(2.5), alt.value(0)),
        tooltip=[alt.Tooltip("alpha:Q", title="α"), alt.Tooltip("xi:Q", title="ξ"),
                 alt.Tooltip("phase:N", title="phase (most seeds)"),
                 alt.Tooltip("share:Q", title="seeds in it", format=".0%"),
                 pct("train_acc:Q", f"train, seed {seed}"), pct("test_acc:Q", f"test, seed {seed}"),
                 alt.Tooltip("fitted:N", title="changed labels fitted"),
                 alt.Tooltip("inverted:N", title="changed labels inverted")],
    ).transform_calculate(**{  # xi = 0: no label was changed
        name: f"datum.{m} == null ? 'none changed' : format(datum.{m}, '.1%')"
        for name, m in (("fitted", "corrupt_acc"), ("inverted", "corrupt_true_acc"))}
    ).add_params(cell).properties(width=220, height=220, title="hover a cell; click it")

    names = {m: LABELS[m] for m in CURVES}
    key = dict(zip(_CURVE_KEYS, CURVES))
    curves = base.transform_filter(cell).transform_flatten(list(_CURVE_KEYS)).transform_window(
        i="row_number()").transform_calculate(key="datum.panel + '|' + (datum.i - 1)"
    ).transform_lookup(lookup="key", from_=alt.LookupData(alt.Data(values=records(steps)), "key",
                                                          ["step"])).transform_fold(
        list(_CURVE_KEYS), as_=["curve", "accuracy"]).transform_calculate(
        accuracy="datum.accuracy / 100",
        curve=renamed({k: names[m] for k, m in key.items()}))
    lines = curves.mark_line().encode(
        x=alt.X("step:Q", title="step", scale=alt.Scale(nice=False)),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=curve_colors(names)).properties(width=300, height=200,
                                              title="the clicked run over training")
    summary = caption_line(base.transform_filter(cell), (
        "'α ' + format(datum.alpha, '.2g') + ', ξ ' + format(datum.xi, '.2g') + ', seed "
        f"{seed}: ' + datum.phase_run + ' (train ' + format(datum.train_acc, '.1%') + "
        "', test ' + format(datum.test_acc, '.1%') + ')'"), 600)
    chart = alt.vconcat(summary, alt.hconcat(diagram, lines).resolve_scale(color="independent"),
                        spacing=6).add_params(chosen).resolve_scale(
        color="independent").configure_view(stroke=None)

    data = next(d for d in sweeps if panel in [k.label for k in d.panels()])

    def picture():
        axes = sweep_cell(data, panel, alpha, xi)
        return axes[0].figure

    return Explorer("phases", chart, picture, {"cells": cells, "steps": steps},
                    alt_text=f"The phase diagram of {panel}, with the run at α {alpha:g}, "
                             f"ξ {xi:g}: its accuracies over training and its neurons' IPR.")
