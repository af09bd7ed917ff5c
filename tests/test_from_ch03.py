"""Chapter 3's checks of the code (not claims of the paper), moved out of the chapter's page.

The chapter shows these values; here they are tested against independent references (a DFT by
explicit sums, a float64 numpy forward pass), at the chapter's own sizes, in seconds:

- a pure cosine has IPR 1 (chapter: frequency 5, phase 0.7, on the page's p);
- a zero vector has IPR 0, not NaN;
- the analytic solution at the paper's size (p = 97, N = 500, seed 0) classifies every pair;
- with the amplitude negated (A -> -A) every output flips sign and every pair is wrong.
"""
import math

import numpy as np
import pytest
import torch

import grokbook as gb
from ipr_reference import ipr as reference_ipr


def numpy_outputs(model) -> np.ndarray:
    """(p * p, p) outputs f(m, n) = W (U[:, m] + V[:, n])^2 of run 0, pair index m * p + n."""
    U, V, W = (t.detach()[0].double().numpy() for t in (model.U, model.V, model.W))
    p = U.shape[1]
    hidden = (U.T[:, None, :] + V.T[None, :, :]) ** 2  # (p, p, N): pair (m, n), neuron k
    return hidden.reshape(p * p, -1) @ W.T


def true_labels(p: int) -> np.ndarray:
    m, n = np.divmod(np.arange(p * p), p)
    return (m + n) % p


@pytest.mark.parametrize("p", [53, 97])  # the page's p and the paper's
def test_the_chapters_cosine_has_ipr_one(p):
    i = torch.arange(p, dtype=torch.float64)
    cosine = torch.cos(2 * math.pi * 5 * i / p + 0.7)
    assert abs(reference_ipr(cosine.numpy()) - 1) < 1e-12  # the reference agrees with the closed form
    assert abs(gb.ipr_of_vectors(cosine).item() - 1) < 1e-9


@pytest.mark.parametrize("p", [53, 97])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_zero_vector_has_ipr_zero_not_nan(p, dtype):
    value = gb.ipr_of_vectors(torch.zeros(p, dtype=dtype)).item()
    assert value == 0 == reference_ipr(np.zeros(p))


def test_the_analytic_solution_classifies_every_pair_at_the_papers_size():
    p, width = 97, 500
    exact = gb.analytic_solution(p, width, seed=0, dtype=torch.float64)
    out = numpy_outputs(exact)
    assert (out.argmax(1) == true_labels(p)).all()
    with torch.no_grad():
        np.testing.assert_allclose(exact()[0].numpy(), out, rtol=1e-10, atol=1e-10)
    assert gb.analytic_accuracy(p, width, seed=0) == 1.0


def test_a_negated_amplitude_flips_every_output_and_every_answer():
    p, width = 97, 500
    exact = gb.analytic_solution(p, width, seed=0, dtype=torch.float64)
    flipped = gb.BatchedMLP(*(-t.detach() for t in (exact.U, exact.V, exact.W)))
    with torch.no_grad():
        out, out_flipped = exact()[0], flipped()[0]
    # (-A)^3 = -A^3: every output changes sign, exactly (negation is exact in floating point)
    assert torch.equal(out_flipped, -out)
    reference = -numpy_outputs(exact)
    np.testing.assert_allclose(out_flipped.numpy(), reference, rtol=1e-10, atol=1e-10)
    # the right answer was the strict maximum of every pair, so it is now the strict minimum
    truth = true_labels(p)
    assert (reference.argmin(1) == truth).all()
    accuracy = (out_flipped.argmax(-1).numpy() == truth).mean()
    assert accuracy == 0.0
