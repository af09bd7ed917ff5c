"""ipywidgets explorers for Jupyter and Colab.

``phase_explorer(data)``: pick a panel of a stored sweep (a regularizer value), alpha and xi, and see
that cell's run -- where it sits on the phase diagram, its accuracies over training, its neurons'
IPR.  ``pruning_explorer(result)``: a slider over the fraction of neurons pruned, for each order.

Both draw with the static functions ``grokbook.plots.sweep_cell`` and ``grokbook.plots.pruning_view``;
in the rendered book (no live kernel) a chapter shows those static figures instead.
Only core widgets are used, so ipywidgets 7 (Colab) and 8 both work.
"""
from __future__ import annotations

import numpy as np

from .plots.phases import sweep_cell
from .plots.pruning import pruning_view


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the explorers need ipywidgets: pip install ipywidgets") from None
    return ipywidgets


# ----------------------------------------------------------------------------- sweep cells
class PhaseExplorer:
    """The widget of ``phase_explorer``: ``.panel``, ``.alpha``, ``.xi`` (the controls), ``.summary``
    (an HTML line on the selected run), ``.output`` (its figure), ``.widget`` (what to display)."""

    def __init__(self, data, panel=None, alpha=None, xi=None):
        w = _ipywidgets()
        self.data = data
        self.table = {k.label: runs for k, runs in data.panels().items()}
        first = next(iter(self.table.values()))
        alphas = [float(a) for a in np.sort(first.alpha.unique())]
        xis = [float(x) for x in np.sort(first.xi.unique())]
        self.panel = w.Dropdown(options=list(self.table), value=panel or list(self.table)[0],
                                description="panel")
        self.alpha = w.SelectionSlider(options=alphas, value=alpha if alpha is not None
                                       else alphas[len(alphas) // 2], description="α")
        self.xi = w.SelectionSlider(options=xis, value=xi if xi is not None
                                    else xis[len(xis) // 2], description="ξ")
        self.summary = w.HTML()
        self.output = w.Output()
        for control in (self.panel, self.alpha, self.xi):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.panel, self.alpha, self.xi]), self.summary,
                              self.output])
        self.update()

    def update(self):
        import matplotlib.pyplot as plt
        row = self.data.cell(self.alpha.value, self.xi.value, panel=self.panel.value)
        self.summary.value = f"<b>{self.panel.value}</b> — {self.data.summary(row)}"
        self.output.clear_output(wait=True)
        with self.output:
            sweep_cell(self.data, self.panel.value, self.alpha.value, self.xi.value)
            plt.show()
        return row

    def _ipython_display_(self):  # display(explorer) shows the widget
        from IPython.display import display
        display(self.widget)


def phase_explorer(data, panel=None, alpha=None, xi=None) -> PhaseExplorer:
    """An explorer of a stored sweep (``grokbook.get_sweep(NAME)``): choose a panel (regularizer
    value), alpha and xi; see that run on its phase diagram, its curves and its IPR histogram."""
    return PhaseExplorer(data, panel, alpha, xi)


# ----------------------------------------------------------------------------- pruning
class PruningExplorer:
    """The widget of ``pruning_explorer``: ``.order`` and ``.fraction`` (the controls),
    ``.summary``, ``.output``, ``.widget``; ``.curves`` holds the precomputed pruning curves."""

    def __init__(self, result, run: int = 0, fractions=np.linspace(0, 1, 21), seed: int = 0):
        from ..engine.fourier import model_ipr
        from ..analysis.prune import prune_curves
        w = _ipywidgets()
        if not 0 <= run < result.model.K:
            raise ValueError(f"run must lie in [0, {result.model.K}), got {run}")
        self.ipr = model_ipr(result.model)[run].numpy()
        self.curves = prune_curves(result.model, result.data, run, fractions=fractions, seed=seed)
        self.seed = seed
        self.order = w.ToggleButtons(options=["low", "high", "random"], value="low",
                                     description="order")
        self.fraction = w.SelectionSlider(options=[float(f) for f in fractions],
                                          value=float(fractions[len(fractions) // 2]),
                                          description="pruned")
        self.summary = w.HTML()
        self.output = w.Output()
        for control in (self.order, self.fraction):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.order, self.fraction]), self.summary, self.output])
        self.update()

    def update(self):
        import matplotlib.pyplot as plt
        c = self.curves
        row = c[(c.order == self.order.value) & np.isclose(c.fraction, self.fraction.value)].iloc[0]
        self.summary.value = (f"{self.fraction.value:.0%} of neurons pruned, {self.order.value} "
                              f"order: test {row.test_acc:.1%}, changed labels fitted "
                              f"{row.corrupt_acc:.1%}, clean train {row.clean_acc:.1%}")
        self.output.clear_output(wait=True)
        with self.output:
            pruning_view(self.ipr, self.curves, self.order.value, self.fraction.value,
                               seed=self.seed)
            plt.show()
        return row

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def pruning_explorer(result, run: int = 0, fractions=np.linspace(0, 1, 21),
                     seed: int = 0) -> PruningExplorer:
    """A slider over the fraction of neurons pruned (lowest IPR first, highest first, random):
    which neurons go, and what the run's accuracies become (``result`` from ``grokbook.train``)."""
    return PruningExplorer(result, run, fractions, seed)


__all__ = ["phase_explorer", "pruning_explorer", "PhaseExplorer",
           "PruningExplorer"]
