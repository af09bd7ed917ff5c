"""The neurons: their Fourier features and their IPR.

- chapter 3, Fourier features and the IPR: ``neuron_weights`` (also chapter 4), ``ipr_comparison``
  (also chapter 10), ``frequency_counts``, ``phase_mismatch``, ``analytic_accuracy_curve``.
- chapters 4 and 5: ``ipr_split``, the memorizing and generalizing neurons of one network.
- chapters 6 and 7: ``ipr_snapshots`` (IPR histograms side by side), ``gamma_vs_ipr`` (BatchNorm).
- chapter 10, transformers: ``embedding_spectra``, the token embedding's power per frequency.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ...analysis.prune import LOW_IPR
from ...analysis.stats import spearman
from .style import PALETTE, PHASE_COLORS, get_ax, get_axes, tidy_legend

__all__ = ["neuron_weights", "ipr_comparison", "frequency_counts", "phase_mismatch",
           "analytic_accuracy_curve", "ipr_split", "ipr_snapshots", "gamma_vs_ipr", "embedding_spectra"]


VECTOR_NAMES = ("U row (input m)", "V row (input n)", "W column (output q)")


def neuron_weights(model, neuron: int, run: int = 0, axes=None, title: str = ""):
    """One neuron's three weight vectors as functions of the residue (left) and their |rfft| (right).

    Row ``neuron`` of U and of V, column ``neuron`` of W; the title gives the neuron's IPR.
    """
    import torch

    from ...engine.fourier import neuron_ipr, neuron_weights_as_functions

    vectors = [v.detach().double() for v in neuron_weights_as_functions(model, run, neuron)]
    p = len(vectors[0])
    axes = get_axes(axes, 2, 5, 2.8)
    residues, freqs = np.arange(p), np.arange(p // 2 + 1)
    for i, (vec, name) in enumerate(zip(vectors, VECTOR_NAMES)):
        axes[0].plot(residues, vec.numpy(), ".-", lw=0.8, ms=3, color=f"C{i}", label=name)
        axes[1].bar(freqs + (i - 1) * 0.27, torch.fft.rfft(vec).abs().numpy(), width=0.27,
                    color=f"C{i}", label=name)
    with torch.no_grad():
        ipr = neuron_ipr(*(t[None, None] for t in vectors[:2]), vectors[2][None, :, None]).item()
    axes[0].set(xlabel="residue", ylabel="weight")
    axes[0].set_title(f"{title} neuron {neuron}: weights (IPR {ipr:.2f})".strip(), fontsize="medium")
    axes[1].set(xlabel="frequency s", ylabel="|rfft|")
    axes[1].set_title("their DFT magnitudes", fontsize="medium")
    axes[1].legend(fontsize="small")
    return axes


def _ipr_frame(iprs: dict, name: str = "network") -> pd.DataFrame:
    """``{name: per-neuron IPRs}`` as a long frame: columns ``IPR`` (clipped into [0, 1]: an exact
    cosine can round to 1 + 1e-7) and ``name``."""
    return pd.concat([pd.DataFrame({"IPR": np.clip(np.asarray(v, dtype=float).ravel(), 0, 1),
                                    name: k}) for k, v in iprs.items()], ignore_index=True)


def ipr_comparison(iprs: dict, p: int | None = None, ax=None, bins=np.linspace(0, 1, 51)):
    """Histograms of per-neuron IPR, one hue per entry of ``{name: values}``, on a log count
    axis; with ``p`` the Gaussian level 2 / (p//2 + 1) is marked."""
    ax = get_ax(ax, figsize=(6, 3.2))
    sns.histplot(_ipr_frame(iprs), x="IPR", hue="network", bins=bins, element="step", alpha=0.4, ax=ax)
    if p is not None:
        ax.axvline(2 / (p // 2 + 1), color="k", ls=":", lw=1)
        ax.text(2 / (p // 2 + 1), 1.0, " Gaussian ≈ 2/(p//2+1)", transform=ax.get_xaxis_transform(),
                va="top", fontsize="x-small")
    ax.set(yscale="log", ylabel="neurons")
    tidy_legend(ax, title=None)
    return ax


def frequency_counts(table, p: int, ax=None):
    """How many neurons use each frequency (U's dominant one), from ``neuron_fourier`` (column
    ``freq_u``; NaN: a neuron with no frequency, left out)."""
    ax = get_ax(ax, figsize=(6, 2.8))
    sns.histplot(table.dropna(subset=["freq_u"]), x="freq_u", discrete=True, color=PALETTE[5],
                 ax=ax)
    ax.set_xlim(0.5, p // 2 + 0.5)
    ax.set(xlabel="dominant frequency s", ylabel="neurons")
    return ax


def phase_mismatch(table, ax=None, bins=np.linspace(-np.pi, np.pi, 49)):
    """Histogram of phi_W - phi_U - phi_V per neuron, from ``neuron_fourier`` (column
    ``phase_mismatch``)."""
    ax = get_ax(ax, figsize=(5, 2.8))
    sns.histplot(table.dropna(subset=["phase_mismatch"]), x="phase_mismatch", bins=bins,
                 color=PALETTE[2], ax=ax)
    ax.set(xlabel=r"$\varphi_W - \varphi_U - \varphi_V$ (radians)", ylabel="neurons")
    ax.set_xticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi], ["−π", "−π/2", "0", "π/2", "π"])
    return ax


def analytic_accuracy_curve(widths, accuracies, p: int, ax=None):
    """Accuracy of the analytic solution against its width N; ``accuracies`` (len(widths), draws):
    each draw of frequencies and phases a dot, their mean a line."""
    acc = np.asarray(accuracies, dtype=float)
    data = pd.DataFrame({"width N": np.repeat(np.asarray(widths), acc.shape[1]),
                         "accuracy": acc.ravel()})
    ax = get_ax(ax)
    sns.scatterplot(data, x="width N", y="accuracy", color=PALETTE[0], alpha=0.4, s=16, ax=ax,
                    label="one draw of frequencies and phases")
    sns.lineplot(data, x="width N", y="accuracy", color=PALETTE[0], errorbar=None, ax=ax,
                 label="mean")
    ax.axhline(1.0, color="0.6", lw=0.5)
    ax.set_xscale("log")
    ax.set_ylabel(f"accuracy on all {p}² pairs")
    ax.legend(fontsize="small")
    return ax


def ipr_split(ipr, low: float = LOW_IPR, high: float = 0.6, ax=None, bins=np.linspace(0, 1, 41)):
    """Histogram of one network's neuron IPRs, stacked by group: below ``low`` (memorizing),
    above ``high`` (generalizing), in between; each group's count in the legend."""
    values = np.clip(np.asarray(ipr, dtype=float).ravel(), 0, 1)
    ax = get_ax(ax, figsize=(6, 3.2))
    groups = {f"IPR < {low:g} (memorizing)": (values < low, PHASE_COLORS["Memorization"]),
              "in between": ((values >= low) & (values <= high), "0.6"),
              f"IPR > {high:g} (generalizing)": (values > high, PHASE_COLORS["Full Inversion"])}
    names = {g: f"{g}: {m.sum()} ({m.mean():.0%})" for g, (m, _) in groups.items()}
    group = np.select([m for m, _ in groups.values()], [names[g] for g in groups], default="")
    sns.histplot(pd.DataFrame({"IPR": values, "neurons": group}), x="IPR", hue="neurons",
                 hue_order=list(names.values()), bins=bins, multiple="stack", alpha=0.8,
                 palette={names[g]: c for g, (_, c) in groups.items()}, ax=ax)
    for x in (low, high):
        ax.axvline(x, color="k", ls=":", lw=1)
    ax.set_ylabel("neurons")
    tidy_legend(ax, title=None)
    return ax


def ipr_snapshots(iprs: dict, axes=None, bins=np.linspace(0, 1, 26), color=None):
    """Histograms of per-neuron IPR side by side, one panel per ``{title: values}`` entry
    (e.g. one per snapshot step), with each panel's mean marked.  Returns the axes."""
    axes = get_axes(axes, len(iprs), 3.2, 2.8, sharey=True)
    data = _ipr_frame(iprs, "panel")
    for k, (ax, title) in enumerate(zip(axes, iprs)):
        values = data[data.panel == title]
        sns.histplot(values, x="IPR", bins=bins, color=color or PALETTE[5], ax=ax)
        ax.axvline(values.IPR.mean(), color="0.3", ls="--", lw=1, label=f"mean {values.IPR.mean():.2f}")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("neurons" if k == 0 else "")
        ax.legend(fontsize="small")
    return axes


def gamma_vs_ipr(ipr, gamma, ax=None, title: str = ""):
    """Each neuron's BatchNorm |gamma| against its IPR, with the Spearman rank correlation."""
    ipr, gamma = np.asarray(ipr, float).ravel(), np.asarray(gamma, float).ravel()
    ax = get_ax(ax, figsize=(4.2, 3.2))
    sns.scatterplot(pd.DataFrame({"IPR": ipr, "|gamma|": gamma}), x="IPR", y="|gamma|", s=8,
                    alpha=0.5, color=PALETTE[5], linewidth=0, ax=ax)
    ax.set_ylabel(r"BatchNorm $|\gamma|$")
    ax.set_title((title + "\n" if title else "") + f"Spearman ρ = {spearman(ipr, gamma):.2f}",
                 fontsize="medium")
    return ax


def embedding_spectra(spectra: dict, ax=None):
    """The share of the token embedding's power at each frequency (``grokbook.transformer.
    embedding_spectrum`` of one run), one line per entry of ``spectra`` (label -> (p//2 + 1,))."""
    ax = get_ax(ax, figsize=(6, 3.2))
    for label, share in spectra.items():
        share = np.asarray(share)
        ax.plot(np.arange(len(share)), share, marker="o", ms=3, lw=1, label=label)
    ax.set(xlabel="frequency k (of the token, period p / k)", ylabel="share of the embedding's power",
           ylim=(0, None))
    ax.legend(fontsize="small")
    return ax
