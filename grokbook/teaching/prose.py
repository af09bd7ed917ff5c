"""Numbers for the prose: ``gb.glue(name, value)`` in a cell, ``{glue:text}`name:.3f``` in the text.

Jupyter Book (myst-nb) executes each chapter and pastes every glued value into the markdown that
names it, so a number the prose states is the number the cell computed, on this run, in this
profile.  ``glue`` writes the same output as ``myst_nb.glue(name, value, display=False)`` without
importing myst-nb (Colab has none), and turns numpy and torch scalars into plain Python numbers
first: myst-nb formats a glued value by reading back its text, and numpy 2 writes a float64 as
``np.float64(0.93)``, which no format spec can read.  In Jupyter or Colab the markdown shows the
role itself; ``gb.prose.glued`` holds every value this kernel glued (name -> value), so a reader
there can look any of them up.
"""
from __future__ import annotations

import math
import re

glued: dict = {}
MIME_PREFIX = "application/papermill.record/"  # myst-nb's GLUE_PREFIX: stored, not shown
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def plain(value):
    """A Python number for a numpy or torch scalar (or a one-element array); anything else as is."""
    if hasattr(value, "item") and type(value) not in (int, float, str):  # np.float64 is a float
        try:
            return value.item()
        except (ValueError, RuntimeError):
            raise TypeError(f"expected one number, got an array of shape {tuple(value.shape)}") from None
    return value


def glue(name: str, value, *, display: bool = False):
    """Store ``value`` under ``name`` for the chapter's prose; return the value (a plain number).

    ``value``: a finite number or a string.  NaN or infinity is refused: the prose would print it
    as if it were a measurement.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be an identifier (letters, digits, _), got {name!r}")
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"value of {name!r} must be a number or a string, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"value of {name!r} must be finite, got {value}")
    glued[name] = value
    try:
        from IPython import get_ipython
        from IPython.display import display as show
    except ImportError:  # plain Python: nothing to paste into
        return value
    if get_ipython() is None:
        return value
    prefix = "" if display else MIME_PREFIX
    text = repr(value)  # as IPython writes it; myst-nb reads it back with ast.literal_eval
    show({prefix + "text/plain": text}, raw=True,
         metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})
    return value


def at_least(value, digits: int = 3) -> float:
    """``value`` rounded *down* to ``digits`` decimals, for prose that says "at least": 0.9958
    printed with 3 decimals would read 0.996, more than was measured."""
    import math
    scale = 10 ** int(digits)
    return math.floor(float(value) * scale + 1e-9) / scale


def at_most(value, digits: int = 3) -> float:
    """``value`` rounded *up* to ``digits`` decimals, for prose that says "at most"."""
    import math
    scale = 10 ** int(digits)
    return math.ceil(float(value) * scale - 1e-9) / scale
