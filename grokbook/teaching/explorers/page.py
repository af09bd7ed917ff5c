"""The page's side of an explorer: the ``Explorer`` output (static picture, spec, loader), the
Vega versions, and the helpers the four explorers share."""
from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..plots.style import COLORS, PHASE_COLORS

# name, version, file in the npm package: the one place the versions are named (vega 6.2.0, not
# 6.3.0: the UMD build of 6.3.0 on npm is a Vega 5.33.1, which vega-embed warns about)
VEGA_JS = (("vega", "6.2.0", "build/vega.min.js"),
           ("vega-lite", "6.4.1", "build/vega-lite.min.js"),
           ("vega-embed", "7.3.0", "build/vega-embed.min.js"))
CDN = "https://cdn.jsdelivr.net/npm/{name}@{version}/{path}"

__all__ = ["Explorer", "VEGA_JS", "CDN", "CURVES"]


def altair():
    try:
        import altair
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the explorers need Altair: pip install altair") from None
    return altair


def hex_color(color) -> str:
    from matplotlib.colors import to_hex
    return to_hex(color)


def records(frame: pd.DataFrame) -> list:
    """A table as JSON records, NaN as null (Vega's missing value)."""
    return json.loads(frame.to_json(orient="records", double_precision=6))


def percent(values) -> list:
    """Accuracies as whole percents (None where undefined): the curves' compact form."""
    return [None if not np.isfinite(v) else int(round(100 * float(v))) for v in values]


# --------------------------------------------------------------------------- the page's side
_LOADER = """<script type="text/javascript">
(function () {
  var id = "%(id)s", spec = %(spec)s, files = %(files)s;
  var el = document.getElementById(id);
  // the built book serves Vega from its _static folder; elsewhere (Colab, Jupyter) the CDN
  var root = document.documentElement.getAttribute("data-content_root");
  function load(src) {
    return new Promise(function (ok, fail) {
      var s = document.createElement("script");
      s.src = src; s.onload = ok;
      s.onerror = function () { fail(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  if (!window.grokbookVega) {
    var amd = window.define;  // an AMD loader on the page would capture the UMD builds
    window.grokbookVega = files.reduce(function (ready, f) {
      return ready.then(function () {
        window.define = undefined;
        return load(root !== null ? root + "_static/vega/" + f.name + ".min.js" : f.cdn);
      });
    }, Promise.resolve()).finally(function () { if (amd) window.define = amd; });
  }
  window.grokbookVega.then(function () {
    var picture = el.innerHTML;
    el.innerHTML = "";
    return vegaEmbed(el, spec, {mode: "vega-lite", renderer: "svg", actions: false}).catch(function (e) {
      el.innerHTML = picture; throw e;
    });
  }).then(function (result) {
    (window.grokbookExplorers = window.grokbookExplorers || {})[id] = result.view;
    el.setAttribute("data-ready-at", String(Math.round(performance.now())));
    el.setAttribute("data-ready", "true");
  }).catch(function (e) {
    el.setAttribute("data-error", String(e));
    console.error("grokbook explorer " + id + ": " + e);
  });
})();
</script>"""


@dataclass
class Explorer:
    """An interactive figure: ``chart`` (an Altair chart, its data inline), ``picture`` (draws
    the static view with matplotlib, for readers without JavaScript), ``tables`` (the DataFrames
    it draws, by name) and ``name``.  ``spec()`` is its Vega-Lite JSON, ``html()`` its output."""

    name: str
    chart: object
    picture: Callable
    tables: dict = field(default_factory=dict)
    alt_text: str = ""

    def spec(self) -> dict:
        alt = altair()
        with alt.data_transformers.disable_max_rows():
            return self.chart.to_dict()

    def png(self, dpi: int = 72) -> bytes:
        """The static picture as PNG bytes (the figure is closed, not shown)."""
        import matplotlib.pyplot as plt
        fig = self.picture()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return buffer.getvalue()

    def html(self) -> str:
        # without its $schema: the loaded Vega-Lite compiles it whatever Altair wrote it (Colab's
        # 5.5 writes v5), so vega-embed does not warn that the versions differ
        spec = {k: v for k, v in self.spec().items() if k != "$schema"}
        spec = json.dumps(spec, separators=(",", ":"), sort_keys=True, allow_nan=False)
        eid = "gb-" + self.name + "-" + hashlib.sha1(spec.encode()).hexdigest()[:10]
        files = [{"name": n, "cdn": CDN.format(name=n, version=v, path=p)} for n, v, p in VEGA_JS]
        picture = base64.b64encode(self.png()).decode()
        return (f'<div class="gb-explorer" id="{eid}" data-explorer="{self.name}">'
                f'<img class="gb-explorer-picture" alt="{self.alt_text}" '
                f'src="data:image/png;base64,{picture}"/></div>\n'
                + _LOADER % {"id": eid, "spec": spec.replace("</", "<\\/"),
                             "files": json.dumps(files)})

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html(),
                "text/plain": f"<{self.name} explorer: run in Jupyter, Colab or the book>"}


def phase_scale():
    alt = altair()
    names = [p for p in PHASE_COLORS if p != "Diverged"]
    return alt.Scale(domain=names, range=[PHASE_COLORS[p] for p in names])


CURVES = ("train_acc", "test_acc", "corrupt_acc", "corrupt_true_acc")


def slider_steps(values, most: int) -> np.ndarray:
    """At most ``most`` of the evenly spaced ``values``: every k-th from the first, so that a
    slider's evenly spaced positions and the stored states are the same numbers."""
    values = np.asarray(values)
    k = int(np.ceil(len(values) / most))
    return values[::k]


def bin_counts(values, bins: int, lo: float = 0.0, hi: float = 1.0) -> list:
    """Counts of ``values`` in ``bins`` equal bins of [lo, hi] (the last bin closed)."""
    counts, _ = np.histogram(np.clip(np.asarray(values, float), lo, hi), bins=bins, range=(lo, hi))
    return [int(c) for c in counts]


def renamed(names: dict, field: str = "curve") -> str:
    """A Vega expression giving ``names[datum.<field>]``: a folded column's legend labels."""
    return " || ".join(f"(datum.{field} == '{k}' ? '{v}' : null)" for k, v in names.items())


def curve_colors(names: dict):
    """The colour channel of curves labelled ``names`` ({metric: label}), in the book's colours
    (``plots.style.COLORS``), the legend under the chart."""
    alt = altair()
    return alt.Color("curve:N", title=None, scale=alt.Scale(
        domain=list(names.values()), range=[hex_color(COLORS[m]) for m in names]),
        legend=alt.Legend(orient="bottom", columns=2))


def caption_line(chart, text: str, width: int):
    """The line above an explorer's charts: the Vega expression ``text`` of the rows ``chart``
    keeps (one), drawn as text; the browser check reads it."""
    return chart.transform_calculate(text=text).mark_text(
        align="left", x=0, y=0, fontSize=12).encode(text="text:N").properties(width=width,
                                                                             height=14)
