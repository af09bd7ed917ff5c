"""Per-example memorization scores, measured against the ground truth.

On corrupted modular arithmetic we know which training labels can only be
fitted by memorizing: the corrupted ones whose label really changed (the
``changed`` mask of ``grokbook.data.Splits``).  This module computes the usual
per-example "memorization" scores so that each can be held against that truth:

- ``feldman_scores``: Feldman's subsampled leave-some-out estimator -- over an
  ensemble of models trained on random subsets of one corrupted training set,
  the accuracy on an example of the models that saw it minus that of the
  models that did not (Feldman 2020; Feldman & Zhang 2020);
- ``density_ratio_scores``: the log ratio of the probability of the given
  label with and without the example (in the spirit of van den Burg &
  Williams 2021), with the probability of an MSE-trained network defined by
  ``label_logprob``;
- ``ridge_loo`` / ``kernel_ridge_loo``: exact leave-one-out of linear and kernel
  ridge regression on the same one-hot inputs, through the hat matrix:
  leverage h and the LOO change h / (1 - h) x residual;
- ``FitRecorder`` (time to fit) and the in-sample check "the model reproduces
  the given label" (extraction-style, Carlini et al. 2022; Tirumala et al. 2022);
- ``pruning_drop``: the mechanistic score, each example's loss of its given
  label when the low-IPR neurons are pruned;
- ``roc_auc``, ``split_half`` and ``binomial_reliability``: how well a score
  separates the changed labels, and how reliable it is for t models;
- ``second_split_forgetting``: how soon a label is forgotten once training goes on
  without it (Maini et al. 2022).

The ensembles of subset models the leave-some-out scores read are in ``ensembles``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..core.settings import check_fraction, check_int, check_positive, check_seed, is_integer
from ..engine.fourier import model_ipr
from ..engine.loop import run_steps
from ..engine.train import BatchedAdamW, example_loss
from .prune import LOW_IPR, prune_masks

# MSE against one-hot targets is the negative log-likelihood of a Gaussian with variance s^2;
# normalised over the p labels it gives p(y | x) = softmax(f(x) / s^2)_y (|f - e_y|^2 = |f|^2 - 2 f_y + 1).
# TEMPERATURE is that s^2: a margin of 1 between two outputs (one target against zero) is e^10.
TEMPERATURE = 0.1
# The ensemble sweep stores the log-probabilities at each of these (chapter 8 chooses sigma^2 among
# them by the models' held-out likelihood, ``ensembles.heldout_loglik``, and shows the AUCs at all
# of them).
TEMPERATURES = (0.01, 0.03, 0.1, 0.3, 1.0)


def _as_bool_matrix(name, x):
    x = torch.as_tensor(x)
    if x.dim() != 2 or x.dtype != torch.bool:
        raise ValueError(f"{name} must be a (t, P) bool array, got dtype {x.dtype} and shape "
                         f"{tuple(x.shape)}")
    return x


def _as_matrix(name, x, shape):
    x = torch.as_tensor(x)
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (like member), got {tuple(x.shape)}")
    return x.to(torch.float64)


@torch.no_grad()
def label_logprob(out: torch.Tensor, labels: torch.Tensor,
                  temperature: float = TEMPERATURE) -> torch.Tensor:
    """log p(label | x) = log softmax(out / temperature)[label], for outputs (..., p) and
    integer labels (...).  For an MSE-trained network this is the Gaussian likelihood of its
    loss, normalised over the p labels (see TEMPERATURE)."""
    temperature = check_positive("temperature", temperature)
    if out.shape[:-1] != labels.shape:
        raise ValueError(f"labels must have shape {tuple(out.shape[:-1])} (out without its last "
                         f"dim), got {tuple(labels.shape)}")
    logp = torch.log_softmax(out.double() / temperature, dim=-1)
    return logp.gather(-1, labels.long()[..., None]).squeeze(-1)


# ----------------------------------------------------------------------------- leave-some-out scores
def _in_out_means(member, values):
    member = _as_bool_matrix("member", member)
    values = _as_matrix("values", values, member.shape)
    m = member.to(torch.float64)
    n_in, n_out = m.sum(0), (1 - m).sum(0)
    mean_in = (m * values).sum(0) / n_in
    mean_out = ((1 - m) * values).sum(0) / n_out
    return mean_in, mean_out, n_in, n_out


def feldman_scores(member, correct) -> pd.DataFrame:
    """Feldman's subsampled estimator, per example i (columns of the (t, P) arrays):

        mem_i = mean_{k: i in S_k} correct_ki - mean_{k: i not in S_k} correct_ki

    with ``correct`` the 0/1 (or any real) score of model k on example i.  Returns a frame with
    ``score``, ``acc_in``, ``acc_out``, ``n_in``, ``n_out``; the score is NaN where no model
    saw the example or every model did.
    """
    a, b, n_in, n_out = _in_out_means(member, correct)
    score = a - b  # NaN where n_in or n_out is 0
    return pd.DataFrame({"score": score.numpy(), "acc_in": a.numpy(), "acc_out": b.numpy(),
                         "n_in": n_in.numpy().astype(int), "n_out": n_out.numpy().astype(int)})


def density_ratio_scores(member, logp) -> np.ndarray:
    """log p(y_i | with i) - log p(y_i | without i), each side the mean log-probability of the
    given label over the models that did / did not train on i (NaN if either side is empty)."""
    a, b, _, _ = _in_out_means(member, logp)
    return (a - b).numpy()


def surprisal_scores(member, logp) -> pd.DataFrame:
    """How surprising each example's given label is: ``out`` = -mean log p(y_i) over the models
    that did not train on i (an outlier to the rule the others learned), ``in`` = the same over
    the models that did (an outlier even once it is in the training set).  NaN where the side
    is empty.  density ratio = out - in."""
    a, b, _, _ = _in_out_means(member, logp)
    return pd.DataFrame({"in": (-a).numpy(), "out": (-b).numpy()})


# ----------------------------------------------------------------------------- scores of one model
class FitRecorder:
    """An ``on_log`` hook for ``grokbook.train``: when each example is first predicted with its
    given label.  After training, ``first_fit`` (K, P) holds that step (NaN if never) and
    ``last_fit`` the step from which on it stayed fitted to the end (NaN if not fitted at the end).
    """

    def __init__(self):
        self.first_fit = None
        self.last_fit = None

    def __call__(self, step, first_run, model, data):
        fitted = (model().argmax(-1) == data.labels).cpu()
        K, P = fitted.shape
        need = first_run + K
        if self.first_fit is None or self.first_fit.shape[0] < need:
            grow = lambda a: torch.cat([a, torch.full((need - a.shape[0], P), math.nan,
                                                      dtype=torch.float64)]) \
                if a is not None else torch.full((need, P), math.nan, dtype=torch.float64)
            self.first_fit, self.last_fit = grow(self.first_fit), grow(self.last_fit)
        rows = slice(first_run, need)
        first, last = self.first_fit[rows], self.last_fit[rows]
        first[fitted & first.isnan()] = float(step)
        last[fitted & last.isnan()] = float(step)
        last[~fitted] = math.nan


@torch.no_grad()
def pruning_drop(model, data, run: int = 0, *, fractions=np.linspace(0, 0.5, 11),
                 order: str = "low", seed: int = 0) -> np.ndarray:
    """The mechanistic score of every pair: how much of its given label run ``run`` loses when
    its neurons are pruned in ``order`` (lowest IPR first by default; see ``grokbook.prune``),

        drop_i = correct_i(nothing pruned) - mean_f correct_i(fraction f pruned),

    averaged over ``fractions``.  1: fitted, and lost as soon as any neurons go; 0: unaffected."""
    if not is_integer(run) or not 0 <= run < model.K:
        raise ValueError(f"run must lie in [0, {model.K}), got {run!r}")
    fractions = list(np.atleast_1d(np.asarray(fractions, dtype=float)))
    if not fractions:
        raise ValueError("fractions must hold at least one fraction in [0, 1]")
    masks = prune_masks(model_ipr(model)[run], fractions, order, seed)
    single = model.select([run] * len(masks)).eval()
    labels = data.labels[run]
    base = single.select([0])().argmax(-1)[0] == labels
    pruned = single(neuron_mask=masks.to(single.U.dtype)).argmax(-1) == labels  # (F, P)
    return (base.double() - pruned.double().mean(0)).numpy()


# ----------------------------------------------------------------------------- leverage
def one_hot_pairs(p: int, index) -> torch.Tensor:
    """The inputs one-hot(m) + one-hot(n) (2p,) of the pairs ``index`` (m * p + n), float64."""
    p = check_int("p", p, 2)
    index = torch.as_tensor(index, dtype=torch.int64)
    if index.numel() and not (0 <= int(index.min()) and int(index.max()) < p * p):
        raise ValueError(f"index must lie in [0, p*p) = [0, {p * p})")
    X = torch.zeros(len(index), 2 * p, dtype=torch.float64)
    X[torch.arange(len(index)), index // p] = 1.0
    X[torch.arange(len(index)), p + index % p] = 1.0
    return X


def _loo(h: torch.Tensor, R: torch.Tensor, labels) -> pd.DataFrame:
    """Leverage h (n,) and residuals R = Y - HY (n, p) -> the per-pair LOO frame."""
    rows = torch.arange(len(h))
    r = R[rows, labels]  # residual at the given label
    return pd.DataFrame({"leverage": h.numpy(), "residual": r.numpy(),
                         "loo_change": (h / (1 - h) * r).numpy()})


def _check_labels(p, index, labels):
    index = torch.as_tensor(index, dtype=torch.int64)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if index.dim() != 1 or labels.shape != index.shape:
        raise ValueError(f"index and labels must be 1-d of the same length, got {tuple(index.shape)} "
                         f"and {tuple(labels.shape)}")
    if len(index) < 2:
        raise ValueError("at least two training pairs are needed")
    if not (0 <= int(labels.min()) and int(labels.max()) < p):
        raise ValueError(f"labels must lie in [0, p) = [0, {p})")
    return index, labels


def ridge_loo(p: int, index, labels, lam: float = 1.0) -> pd.DataFrame:
    """Exact leave-one-out of ridge regression from one-hot(m) + one-hot(n) to one-hot(label),
    float64, through the hat matrix H = X (X^T X + lam I)^-1 X^T.  Per training pair (rows in
    the order of ``index``): ``leverage`` h_ii, ``residual`` y_i - yhat_i at the given label and
    ``loo_change`` = yhat_i - yhat_i^(-i) at that label = h_ii / (1 - h_ii) * residual."""
    lam = check_positive("lam", lam)
    index, labels = _check_labels(p, index, labels)
    X = one_hot_pairs(p, index)
    Y = torch.nn.functional.one_hot(labels, p).to(torch.float64)
    A = X.T @ X + lam * torch.eye(2 * p, dtype=torch.float64)
    h = (X * torch.linalg.solve(A, X.T).T).sum(1)  # diag of H without forming it (n x n)
    fitted = X @ torch.linalg.solve(A, X.T @ Y)
    return _loo(h, Y - fitted, labels)


RIDGE_KERNELS = ("rbf", "quadratic")


def pair_kernel(p: int, index_a, index_b, kind: str = "rbf", gamma: float = 0.5) -> torch.Tensor:
    """A kernel on the one-hot inputs: ``rbf`` exp(-gamma |x - x'|^2) or ``quadratic``
    (1 + x.x')^2.  On these inputs x.x' = [m = m'] + [n = n'], so any such kernel sees only how
    many of the two operands two pairs share."""
    if kind not in RIDGE_KERNELS:
        raise ValueError(f"kind must be one of {RIDGE_KERNELS}, got {kind!r}")
    gamma = check_positive("gamma", gamma)
    A, B = one_hot_pairs(p, index_a), one_hot_pairs(p, index_b)
    dot = A @ B.T
    if kind == "quadratic":
        return (1 + dot) ** 2
    return torch.exp(-gamma * (4 - 2 * dot))  # |x - x'|^2 = 2 + 2 - 2 x.x'


def kernel_ridge_loo(p: int, index, labels, lam: float = 1.0, kind: str = "rbf",
                     gamma: float = 0.5) -> pd.DataFrame:
    """``ridge_loo`` for kernel ridge regression: H = K (K + lam I)^-1."""
    lam = check_positive("lam", lam)
    index, labels = _check_labels(p, index, labels)
    K = pair_kernel(p, index, index, kind, gamma)
    H = torch.linalg.solve(K + lam * torch.eye(len(K), dtype=torch.float64), K)  # = K (K + lam I)^-1
    Y = torch.nn.functional.one_hot(labels, p).to(torch.float64)
    return _loo(torch.diagonal(H).clone(), Y - H @ Y, labels)


# ----------------------------------------------------------------------------- judging a score
def roc_auc(scores, positives) -> float:
    """Area under the ROC curve of ``scores`` for the bool labels ``positives``: the probability
    that a random positive scores higher than a random negative (ties count 1/2).  NaN scores
    are left out; NaN if there is no positive or no negative left."""
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(positives).ravel()
    if y.dtype != bool:
        raise ValueError(f"positives must be a bool array, got dtype {y.dtype}")
    if s.shape != y.shape:
        raise ValueError(f"scores and positives must have the same length, got {len(s)} and {len(y)}")
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(s).rank(method="average").to_numpy()  # 1-based, ties averaged
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman_brown(r, factor: float = 2.0):
    """The reliability of a score averaged over ``factor`` times as many models, from r."""
    factor = check_positive("factor", factor)
    r = np.asarray(r, dtype=float)
    return factor * r / (1 + (factor - 1) * r)


def split_half(member, correct, *, score=feldman_scores, examples=None, n_splits: int = 20,
               seed: int = 0) -> dict:
    """Split-half reliability of a leave-some-out score over the t models.

    For each of ``n_splits`` random halves A, B of the models, the score of every example is
    computed from A and from B alone, and correlated (Pearson) across ``examples`` (default:
    every pair any model trained on) where both are defined.  Returns the mean half-ensemble
    correlation ``r_half`` and its Spearman-Brown projection to all t models, ``reliability``.
    """
    member = _as_bool_matrix("member", member)
    t = member.shape[0]
    if t < 4:
        raise ValueError(f"split_half needs t >= 4 models, got {t}")
    n_splits = check_int("n_splits", n_splits)
    check_seed("seed", seed)
    correct = torch.as_tensor(correct)
    cols = member.any(0) if examples is None else torch.as_tensor(examples)
    g = torch.Generator().manual_seed(seed)
    rs = []
    for _ in range(n_splits):
        perm = torch.randperm(t, generator=g)
        halves = perm[: t // 2], perm[t // 2: 2 * (t // 2)]
        a, b = (_score_values(score(member[h][:, cols], correct[h][:, cols])) for h in halves)
        ok = ~(np.isnan(a) | np.isnan(b))
        if ok.sum() > 2 and a[ok].std() > 0 and b[ok].std() > 0:
            rs.append(np.corrcoef(a[ok], b[ok])[0, 1])
    r = float(np.mean(rs)) if rs else float("nan")
    return {"t": t, "r_half": r, "reliability": float(spearman_brown(r))}


def _score_values(s):
    return s["score"].to_numpy() if isinstance(s, pd.DataFrame) else np.asarray(s, dtype=float)


def binomial_reliability(member, correct, examples=None) -> dict:
    """What binomial sampling alone predicts for the reliability of Feldman's score at t models.

    Given an example, the models that saw it are n_in independent draws (random subsets) with
    accuracy a_i, those that did not n_out draws with accuracy b_i, so the score's sampling
    variance is a_i(1 - a_i)/n_in + b_i(1 - b_i)/n_out <= 1/(4 n_in) + 1/(4 n_out).  With the
    observed variance of the scores across examples, reliability = 1 - noise / observed:
    ``plug_in`` uses the observed a_i, b_i (bias-corrected by n/(n-1)); ``bound`` is the worst
    case 1/4 -- a lower bound on the reliability that holds whatever the accuracies are.  All
    three numbers are over the pairs that at least two models saw and two did not.
    """
    member = _as_bool_matrix("member", member)
    cols = member.any(0) if examples is None else torch.as_tensor(examples)
    f = feldman_scores(member[:, cols], torch.as_tensor(correct)[:, cols])
    f = f[(f.n_in >= 2) & (f.n_out >= 2)]
    observed = f.score.var(ddof=1)
    if not observed > 0:
        return {"plug_in": float("nan"), "bound": float("nan"), "observed_var": float(observed)}
    n_in, n_out = f.n_in.to_numpy(float), f.n_out.to_numpy(float)
    var = lambda acc, n: acc * (1 - acc) / (n - 1)  # unbiased: E[acc (1 - acc)] = a (1 - a) (n - 1) / n
    plug = np.mean(var(f.acc_in.to_numpy(), n_in) + var(f.acc_out.to_numpy(), n_out))
    worst = np.mean(0.25 / n_in + 0.25 / n_out)
    return {"plug_in": float(1 - plug / observed), "bound": float(max(0.0, 1 - worst / observed)),
            "observed_var": float(observed)}


def on_table(p: int, index, values) -> np.ndarray:
    """Values of the pairs ``index`` (table indices; e.g. a training set's leverage) spread over
    the whole p x p table: a (p*p,) float array, NaN at every other pair."""
    index = np.asarray(index).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if len(index) != len(values):
        raise ValueError(f"values must have one entry per index ({len(index)}), got {len(values)}")
    if len(index) and not (0 <= index.min() and index.max() < p * p):
        raise ValueError(f"index must hold table indices in [0, {p * p}), got {index.min()}..{index.max()}")
    out = np.full(p * p, np.nan)
    out[index] = values
    return out


def run_scores(ensemble, result, run: int, given, *, first_fit, ridge, kernel, index,
               never: float) -> dict:
    """Every memorization score of chapter 8 for one full-data network, each a (p*p,) array:
    the ensemble's (Feldman, density ratio, surprisal left out / trained on), the network's own
    (its label reproduced, the step it first fitted each pair (``first_fit``; never fitted:
    ``never``), the accuracy lost when its low-IPR neurons are pruned) and the leverage scores
    of the linear (``ridge``) and kernel (``kernel``) models fitted on the pairs ``index``.

    ``ensemble``: the subset models standing for network ``run`` of ``result`` (an
    ``ensembles.Ensemble``); ``given``: the training labels as given, over the table."""
    p = result.config.p
    ipr = result.ipr()[run]
    low = float((ipr < LOW_IPR).float().mean())  # the low-IPR (memorizing) share of this network
    out = result.model.select([run])()[0]
    surprisal = surprisal_scores(ensemble.member, ensemble.logp)
    return {
        "Feldman": feldman_scores(ensemble.member, ensemble.correct).score.to_numpy(),
        "density ratio": density_ratio_scores(ensemble.member, ensemble.logp),
        "surprisal, left out": surprisal["out"].to_numpy(),
        "surprisal, trained on": surprisal["in"].to_numpy(),
        "reproduced": (out.argmax(-1) == torch.as_tensor(given)).double().numpy(),
        "time to fit": np.nan_to_num(np.asarray(first_fit, dtype=float), nan=never),
        "pruning drop": pruning_drop(result.model, result.data, run, fractions=np.linspace(0, low, 6)),
        "leverage (kernel)": on_table(p, index, kernel.leverage),
        "LOO change (ridge)": on_table(p, index, ridge.loo_change),
        "LOO change (kernel)": on_table(p, index, kernel.loo_change),
    }


def score_table(scores: dict, positives, examples) -> pd.DataFrame:
    """One row per score: its ROC AUC for ``positives`` over ``examples`` (bool masks (P,)),
    with the number of examples where it is defined."""
    examples = np.asarray(examples, dtype=bool)
    positives = np.asarray(positives, dtype=bool)
    rows = []
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)[examples]
        rows.append({"score": name, "auc": roc_auc(s, positives[examples]),
                     "defined": int((~np.isnan(s)).sum()), "examples": int(examples.sum())})
    return pd.DataFrame(rows).set_index("score")


def second_split(train: torch.Tensor, seed: int = 0, fraction: float = 0.5) -> torch.Tensor:
    """(K, P) bool: a random ``fraction`` (rounded) of each run's training pairs ``train`` (K, P),
    the second split of second-split forgetting; the rest of the training pairs is the first."""
    fraction = check_fraction("fraction", fraction, closed=False)
    seed = check_seed("seed", seed)
    out = torch.zeros_like(train, dtype=torch.bool)
    g = torch.Generator().manual_seed(seed)
    for k in range(train.shape[0]):
        index = train[k].nonzero().squeeze(1)
        keep = index[torch.randperm(len(index), generator=g)[: round(fraction * len(index))]]
        out[k, keep] = True
    return out


def second_split_forgetting(model, data, second, *, lr, wd, steps: int,
                            betas=(0.9, 0.98), eps: float = 1e-8) -> torch.Tensor:
    """Second-split forgetting (Maini et al. 2022): train copies of the K networks of ``model``
    (a ``BatchedMLP``, trained on ``data``'s training pairs) on the second split ``second`` (K, P)
    only, full batch, MSE on the labels as given, AdamW with per-run ``lr``, ``wd`` (K,) from a
    fresh optimizer state, for ``steps`` steps; return (K, P) the step at which each pair's given
    label is forgotten for good: one after the last step at which the network predicts it (0 if
    it never does, ``steps + 1`` if it still does at the end).  A pair forgotten early was held by
    something the second split does not keep up; the score of a pair is minus this step."""
    check_int("steps", steps, 1)
    if model.batchnorm:
        raise ValueError("model must be a BatchedMLP without BatchNorm (second-split forgetting "
                         "trains it full batch)")
    K = model.K
    second = torch.as_tensor(second, dtype=torch.bool)
    if second.shape != data.train.shape:
        raise ValueError(f"second must be (K, P) = {tuple(data.train.shape)}, got {tuple(second.shape)}")
    if (second & ~data.train).any():
        raise ValueError("second must hold training pairs only (a part of data.train)")

    def per_run(name, values, ok, allowed):
        v = np.array(values, dtype=float).reshape(-1)
        if len(v) == 1:
            v = np.repeat(v, K)
        if len(v) != K or not ok(v).all():
            raise ValueError(f"{name} must be one number or {K} (one per run), each {allowed}; "
                             f"got {values!r}")
        return torch.tensor(v, dtype=model.U.dtype)

    lr = per_run("lr", lr, lambda v: np.isfinite(v) & (v > 0), "positive and finite")
    wd = per_run("wd", wd, lambda v: np.isfinite(v) & (v >= 0), ">= 0 and finite")
    net = model.select(list(range(K))).train()
    params = [net.U, net.V, net.W]
    opt = BatchedAdamW(params, lr, wd, betas=betas, eps=eps)
    weight = second.to(net.U.dtype)
    last_known = torch.full(data.labels.shape, -1, dtype=torch.long)
    outputs = []  # the output of the step's one forward pass: logged, then trained on

    def log(s):
        out = net()
        with torch.no_grad():
            last_known[out.argmax(-1) == data.labels] = s
        outputs.append(out)

    def step(s):
        out = outputs.pop()
        loss = (example_loss(out, data.labels, "mse") * weight).sum(1) / weight.sum(1)
        loss.sum().backward()
        opt.step()

    run_steps(steps, 1, step, log)
    return last_known + 1

