"""The paper's four outcomes at the quick profile's sizes, trained for real on CPU.

One 4-run sweep (about 40 s on 2 cores) is shared by the module: weight decay
0 / 5.5 / 15 / 20 at alpha 0.7, xi 0.25 gives Coexistence, Partial Inversion,
Full Inversion and Forgetting (the paper's Fig. 1 story, smaller p).
"""
import dataclasses

import pytest
import torch

import grokbook
from grokbook import grid, model_ipr, profile, prune_curves
from grokbook import train
from grokbook.core.phases import COEXISTENCE, FORGETTING, FULL_INVERSION, PARTIAL_INVERSION


def test_quick_profile_values():
    q = profile("quick")
    assert (q.name, q.p, q.width, q.steps, q.alpha, q.xi, q.weight_decays) == (
        "quick", 53, 300, 1500, 0.7, 0.25, (0, 5.5, 15, 20))
    assert (q.alphas, q.xis, q.ensemble_weight_decays) == (
        (0.4, 0.65, 0.9), (0.1, 0.3, 0.5), (0.0, 6.0, 15.0))
    assert q.config().log_every == 1500 // 40
    assert (q.config(steps=400).steps, q.config(steps=400).log_every) == (400, 400 // 40)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.p = 7
    assert grokbook.profile("full").p == 97


def test_setup_runs_a_chapter_in_the_book_or_full_profile(capsys):
    P = grokbook.setup("quick", device="cpu")
    out = capsys.readouterr().out
    assert P == dataclasses.replace(profile("book"), device="cpu")
    assert "sizes the unit tests only" in out and "p = 53, N = 300 neurons, 1500 steps" in out
    assert grokbook.setup("full", device="cpu", quiet=True).name == "full"
    assert capsys.readouterr().out == ""


def quick_config():
    q = profile("quick")
    return q, q.config(log_every=100)


@pytest.fixture(scope="module")
def sweep():
    q, config = quick_config()
    return train(grid(alpha=q.alpha, xi=q.xi, wd=list(q.weight_decays)), config, device="cpu",
                 progress=False)


@pytest.mark.slow
def test_four_phases_in_order(sweep):
    df = sweep.runs
    assert df.wd.tolist() == [0, 5.5, 15, 20]
    # Partial Inversion is a narrow band at these sizes: wd 5 ends at train 0.896, just under
    # the 0.9 threshold (and above it on another CPU / torch build); wd 5.5 ends at 0.873.
    assert df.phase.tolist() == [COEXISTENCE, PARTIAL_INVERSION, FULL_INVERSION, FORGETTING], (
        df[["wd", "train_acc", "test_acc", "phase"]].to_string())


@pytest.mark.slow
def test_phase_details(sweep):
    df = sweep.runs.set_index("wd")
    # wd 0, Coexistence: memorizes the corrupted labels and still generalizes
    assert df.loc[0, "corrupt_acc"] >= 0.9 and df.loc[0, "test_acc"] >= 0.9
    # wd 15, Full Inversion: corrupted examples are predicted with their TRUE label
    assert df.loc[15, "corrupt_true_acc"] >= 0.95 and df.loc[15, "test_acc"] >= 0.9
    # train accuracy then sits near 1 - xi (plus the corrupted labels right by chance)
    assert df.loc[15, "train_acc"] == pytest.approx(1 - 0.25, abs=0.05)
    # wd 20, Forgetting: the weights decay away
    assert df.loc[20, "weight_norm"] < 1e-3
    assert df.loc[20, "test_acc"] < 0.1
    # the history's last step is the runs frame
    last = sweep.history[sweep.history.step == 1500].set_index("run")
    assert last.test_acc.tolist() == sweep.runs.test_acc.tolist()


@pytest.mark.slow
def test_pruning_low_ipr_neurons_removes_memorization(sweep):
    """The paper's Fig. 2: in Coexistence the memorizing neurons are the low-IPR ones.

    Pruning half the neurons lowest-IPR first wipes out the corrupted labels and keeps
    the test accuracy; highest-IPR first destroys generalization and keeps memorization.
    """
    df = prune_curves(sweep.model, sweep.data, 0, orders=("low", "high"), fractions=[0.0, 0.5])
    low = df[(df.order == "low") & (df.fraction == 0.5)].iloc[0]
    high = df[(df.order == "high") & (df.fraction == 0.5)].iloc[0]
    assert low.corrupt_acc < 0.3 and low.test_acc >= 0.9
    assert high.test_acc < 0.1 and high.corrupt_acc > 0.6


@pytest.mark.slow
def test_forgetting_run_ipr_matches_float64(sweep):
    """Decayed weights: the float32 IPR of tiny weights equals the float64 IPR of the same
    neurons at full size (IPR is scale-invariant), and a forgotten run gives IPR 0, no NaN."""
    forgotten = model_ipr(sweep.model.select([3]))
    assert torch.isfinite(forgotten).all()
    model = sweep.model.select([2])  # Full Inversion: structured neurons
    U, V, W = (getattr(model, n).detach() for n in "UVW")
    alive = (U.abs().amax(-1) > 1e-3 * U.abs().max())[0]  # neurons weight decay left standing
    assert alive.sum() >= 20
    tiny = type(model)(U * 1e-30, V * 1e-30, W * 1e-30)  # float32, 1e-32 and below: decayed
    ipr32 = model_ipr(tiny)[0].double()[alive]
    ipr64 = grokbook.neuron_ipr(U.double(), V.double(), W.double())[0][alive]
    torch.testing.assert_close(ipr32, ipr64, rtol=1e-3, atol=1e-3)
    assert ipr64.max() > 0.5  # not vacuous: the run has Fourier neurons


@pytest.mark.slow
def test_uncorrupted_run_generalizes():
    q, config = quick_config()
    result = train(grid(alpha=q.alpha, xi=0.0, wd=5), config, device="cpu", progress=False)
    row = result.runs.iloc[0]
    assert row.test_acc >= 0.99 and row.train_acc >= 0.99
    assert row.n_changed == 0
