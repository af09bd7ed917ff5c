"""Explorers: figures the reader moves through on the static page, in Jupyter and in Colab.

Each explorer is a Vega-Lite chart (written with Altair) whose data are stored in the page: no
kernel runs behind it.  ``phase_explorer`` (a sweep's phase diagrams: pick a panel, hover a cell,
click it for that run's curves), ``two_stages_explorer`` (a slider over training steps),
``pruning_explorer`` (a slider over the fraction pruned, per order) and ``scores_explorer`` (a
memorization score's distributions and ROC curve, per phase of the ensemble).

Displayed in a notebook, an ``Explorer`` is one HTML output: a static picture of its first view
(matplotlib, what a reader without JavaScript sees), replaced by the chart once Vega has loaded.
The built book serves Vega from its own ``_static/vega`` (``scripts/fetch_vega.py``), so the pages
work with no network; a notebook without the book around it (Colab, Jupyter) loads the same
versions from the jsDelivr CDN.  The tables each explorer draws are plain DataFrames
(``phase_cells``, ``stage_snapshots``, ``pruning_states``, ``score_views``), tested against the
analysis functions they come from.
"""
from __future__ import annotations

from .page import CDN, CURVES, VEGA_JS, Explorer
from .phases import phase_cells, phase_explorer
from .pruning import ORDER_NAMES, PRUNE_METRICS, pruning_explorer, pruning_states
from .scores import roc_points, score_views, scores_explorer
from .stages import stage_snapshots, two_stages_explorer

__all__ = ["Explorer", "phase_explorer", "phase_cells", "two_stages_explorer", "stage_snapshots",
           "pruning_explorer", "pruning_states", "scores_explorer", "score_views", "roc_points",
           "VEGA_JS", "CDN", "CURVES", "ORDER_NAMES", "PRUNE_METRICS"]
