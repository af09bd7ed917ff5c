"""gb.glue: what myst-nb's glue writes, for plain numbers, with bad input refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from grokbook.teaching import prose


def test_glue_turns_array_scalars_into_plain_numbers():
    assert prose.glue("a", np.float64(0.25)) == 0.25 and type(prose.glued["a"]) is float
    assert prose.glue("b", torch.tensor(3)) == 3 and type(prose.glued["b"]) is int
    assert prose.glue("c", np.array([0.5])) == 0.5
    assert prose.glue("d", "Coexistence") == "Coexistence"


@pytest.mark.parametrize("name, value, error, match", [
    ("1st", 0.5, ValueError, "name must be an identifier"),
    ("x y", 0.5, ValueError, "name must be an identifier"),
    ("nan", float("nan"), ValueError, "must be finite"),
    ("inf", np.inf, ValueError, "must be finite"),
    ("many", np.array([1.0, 2.0]), TypeError, "one number"),
    ("flag", True, TypeError, "a number or a string"),
    ("none", None, TypeError, "a number or a string"),
])
def test_glue_refuses_what_the_prose_could_not_print_honestly(name, value, error, match):
    with pytest.raises(error, match=match):
        prose.glue(name, value)


def test_glue_writes_myst_nbs_output_in_a_kernel(monkeypatch):
    """In IPython, the output is the one myst_nb.glue(name, value, display=False) writes."""
    shown = []
    import IPython.display

    class Shell:  # get_ipython() is not None: we are in a kernel
        pass

    monkeypatch.setattr("IPython.get_ipython", lambda: Shell())
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    prose.glue("auc", np.float64(0.9375))
    obj, kw = shown[-1]
    assert obj == {"application/papermill.record/text/plain": "0.9375"}
    assert kw == {"raw": True, "metadata": {"scrapbook": {"name": "auc",
                                                          "mime_prefix": "application/papermill.record/"}}}
    myst_nb = pytest.importorskip("myst_nb.ext.glue")
    assert myst_nb.GLUE_PREFIX == prose.MIME_PREFIX
    from myst_nb.core.variables import format_plain_text
    assert format_plain_text(obj[prose.MIME_PREFIX + "text/plain"], ".1%") == "93.8%"


def test_a_glued_string_comes_back_as_written(monkeypatch):
    """A string that reads as a Python literal ("0, 15") must not come back as a tuple."""
    shown = []
    import IPython.display
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    prose.glue("weights", "0, 15")
    prose.glue("cells", "(α 0.8, ξ 0.3)")
    variables = pytest.importorskip("myst_nb.core.variables")
    for obj, want in zip(shown, ["0, 15", "(α 0.8, ξ 0.3)"]):
        assert variables.format_plain_text(obj[prose.MIME_PREFIX + "text/plain"], "s") == want


def test_bounds_round_the_safe_way():
    from grokbook.teaching.prose import at_least, at_most
    assert at_least(0.995825) == 0.995 and at_most(0.008351) == 0.009
    assert at_least(0.998814, 4) == 0.9988 and at_most(351.5, 0) == 352
    assert at_least(1.0) == 1.0 and at_most(0.25) == 0.25  # exact values stay
    for x in (0.1234567, 0.5, 0.9999, 0.0001):
        assert at_least(x) <= x <= at_most(x) and at_most(x) - at_least(x) <= 0.001 + 1e-12
