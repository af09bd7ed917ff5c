"""The explorers (grokbook.teaching.explorers): the tables they draw against plain recomputations
(histograms counted bin by bin, the ROC's area against a count of pairs), their Vega-Lite specs
valid against the schema, their pages free of any address but the CDN fallback, and bad input
refused by name.  (tests/test_from_ch05.py and test_from_ch06.py check the pruning and phase
explorers' tables; scripts/check_explorers.py drives all four in the built book.)"""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("altair")
from grokbook.analysis.memorization import roc_auc  # noqa: E402
from grokbook.teaching import explorers as ex  # noqa: E402
from grokbook.teaching.explorers import CURVES  # noqa: E402


def count_in_bins(values, bins, lo=0.0, hi=1.0):
    """A histogram by a loop: bin b holds lo + b w <= v < lo + (b + 1) w, the last bin closed,
    values clipped to [lo, hi]."""
    w = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        v = min(max(float(v), lo), hi)
        counts[min(int((v - lo) // w), bins - 1)] += 1
    return counts


# ----------------------------------------------------------------------------- two stages
@pytest.fixture(scope="module")
def stages():
    """A made-up run: 21 logged steps, 12 neurons on p = 7 inputs whose IPR spreads out."""
    rng = np.random.default_rng(0)
    steps = np.arange(0, 210, 10)
    history = pd.DataFrame({"step": steps, **{m: np.linspace(0, 1, len(steps)) ** (i + 1)
                                              for i, m in enumerate(CURVES)}})
    snapshots = {int(s): (np.clip(rng.random(12) * (1 + s / 200), 0, 1), rng.normal(size=(12, 7)))
                 for s in steps}
    return history, snapshots


def test_stage_snapshots_counts_and_neurons(stages):
    history, snapshots = stages
    curves, states, neurons = ex.stage_snapshots(history, snapshots, most=8, bins=10)
    kept = list(range(0, 210, 30))  # 21 steps, at most 8: every third, from 0
    assert states.step.tolist() == kept
    last = snapshots[200][0]
    k_low, k_high = int(np.argmin(last)), int(np.argmax(last))
    for s in kept:
        ipr, U = snapshots[s]
        row = states[states.step == s].iloc[0]
        assert list(row.counts) == count_in_bins(ipr, 10)
        assert row.mean_ipr == pytest.approx(ipr.mean(), abs=1e-4)
        two = neurons[neurons.step == s]
        assert two["index"].tolist() == [k_low, k_high]
        assert np.allclose(two.w.iloc[0], U[k_low], atol=1e-3)
        assert np.allclose(two.w.iloc[1], U[k_high], atol=1e-3)
    assert curves.equals(history[["step", *CURVES]])


def test_two_stages_explorer_refuses_bad_input(stages):
    history, snapshots = stages
    with pytest.raises(ValueError, match="step must be one of"):
        ex.two_stages_explorer(history, snapshots, step=15)
    with pytest.raises(ValueError, match="snapshots must be at logged steps"):
        ex.stage_snapshots(history, {5: snapshots[0]})
    with pytest.raises(ValueError, match="snapshots must hold"):
        ex.stage_snapshots(history, {})


# ----------------------------------------------------------------------------- scores
def brute_auc(scores, positives):
    """P(a positive outscores a negative) + 1/2 P(tie), pair by pair."""
    pos = [s for s, y in zip(scores, positives) if y and not np.isnan(s)]
    neg = [s for s, y in zip(scores, positives) if not y and not np.isnan(s)]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("ties", [False, True])
def test_roc_points_area_is_the_auc(ties):
    rng = np.random.default_rng(1)
    y = rng.random(80) < 0.3
    s = rng.normal(size=80) + y
    if ties:
        s = np.round(s)  # many ties, within and across the groups
    s[3] = np.nan
    fpr, tpr = ex.roc_points(s, y)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(brute_auc(s, y), abs=1e-12)
    assert area == pytest.approx(roc_auc(s, y), abs=1e-12)


def test_score_views_histograms_and_aucs():
    rng = np.random.default_rng(2)
    n = 300
    changed = rng.random(n) < 0.2
    clean = ~changed & (rng.random(n) < 0.8)  # the rest: test pairs, in neither group
    scores = {"wd 1: Coexistence": {"a": rng.normal(size=n) + 2 * changed,
                                    "b": rng.random(n)}}
    scores["wd 1: Coexistence"]["b"][:5] = np.nan
    hists, rocs = ex.score_views(scores, changed, clean, bins=12)
    for r in hists.itertuples():
        v = np.asarray(scores[r.phase][r.score])
        mask = (changed if r.group == "changed" else clean) & ~np.isnan(v)
        both = v[(changed | clean) & ~np.isnan(v)]
        assert (r.lo, r.hi) == pytest.approx((both.min(), both.max()))
        assert list(r.counts) == count_in_bins(v[mask], 12, r.lo, r.hi)
        assert r.n == mask.sum()
    for r in rocs.itertuples():
        v = np.asarray(scores[r.phase][r.score])
        keep = changed | clean
        assert r.auc == pytest.approx(brute_auc(v[keep], changed[keep]), abs=1e-4)
    with pytest.raises(ValueError, match="changed and clean must not share"):
        ex.score_views(scores, changed, changed)
    with pytest.raises(ValueError, match="has shape"):
        ex.score_views({"x": {"a": np.zeros(3)}}, changed, clean)


# ----------------------------------------------------------------------------- the page's side
@pytest.fixture(scope="module")
def explorers(stages):
    history, snapshots = stages
    rng = np.random.default_rng(3)
    changed = rng.random(200) < 0.25
    scores = {f"wd {w}": {"Feldman": rng.normal(size=200) + k * changed} for w, k in ((1, 3), (9, 0))}
    curves = pd.DataFrame([{"order": o, "fraction": f, "test_acc": 1 - f, "corrupt_acc": f,
                            "corrupt_true_acc": 0.5, "clean_acc": 1.0}
                           for o in ("low", "high", "random") for f in np.linspace(0, 1, 11)])
    return {"two-stages": ex.two_stages_explorer(history, snapshots, inverted=0.8),
            "scores": ex.scores_explorer(scores, changed, ~changed),
            "pruning": ex.pruning_explorer(rng.random(30), curves, "high", 0.3)}


@pytest.mark.parametrize("name", ["two-stages", "scores", "pruning"])
def test_spec_is_valid_vega_lite(explorers, name):
    import altair as alt
    spec = explorers[name].chart.to_dict(validate=True)  # raises on a schema error
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert {p["name"] for p in spec.get("params", [])} >= {
        "two-stages": {"step"}, "scores": {"phase", "score"}, "pruning": {"order", "pct"}}[name]
    del alt


@pytest.mark.parametrize("name", ["two-stages", "scores", "pruning"])
def test_html_offline_picture_and_fallback(explorers, name):
    """The output: a div holding the static picture (a PNG), the spec, and a loader that takes
    Vega from the book's _static folder, or else from the CDN at VEGA_JS's versions; no other
    address.  The same explorer gives the same output (same id)."""
    html = explorers[name].html()
    assert html == explorers[name].html()
    picture = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(picture)[:8] == b"\x89PNG\r\n\x1a\n"
    assert '"_static/vega/"' in html
    addresses = set(re.findall(r"https?://[^\s\"'<>]+", html))
    cdn = {ex.CDN.format(name=n, version=v, path=p) for n, v, p in ex.VEGA_JS}
    assert addresses == cdn
    spec = json.loads(re.search(r"spec = (\{.*?\}), files =", html, re.S).group(1))
    whole = json.loads(json.dumps(explorers[name].spec()))
    assert spec == {k: v for k, v in whole.items() if k != "$schema"}


def test_bad_choices_are_refused_by_name(explorers, stages):
    rng = np.random.default_rng(4)
    changed = rng.random(50) < 0.3
    with pytest.raises(ValueError, match="phase must be one of"):
        ex.scores_explorer({"wd 1": {"s": rng.random(50)}}, changed, ~changed, phase="wd 2")
    with pytest.raises(ValueError, match="score must be one of"):
        ex.scores_explorer({"wd 1": {"s": rng.random(50)}}, changed, ~changed, score="t")
    curves = pd.DataFrame([{"order": "low", "fraction": f, "test_acc": 1, "corrupt_acc": 0,
                            "corrupt_true_acc": 0, "clean_acc": 1} for f in (0, 0.5, 1)])
    with pytest.raises(ValueError, match="fraction must be one of"):
        ex.pruning_explorer(rng.random(10), curves, "low", 0.3)
    with pytest.raises(ValueError, match="order must be one of"):
        ex.pruning_explorer(rng.random(10), curves, "middle", 0.5)
    with pytest.raises(ValueError, match="sweeps must hold"):
        ex.phase_cells([])


def test_phase_explorer_refuses_a_panel_or_cell_it_does_not_have():
    from grokbook.store import sweeps
    quick = sweeps.load_sweep("weight_decay_phase_diagram", "quick")
    with pytest.raises(ValueError, match="panel must be one of"):
        ex.phase_explorer([quick], panel="wd = 99")
    with pytest.raises(ValueError, match=r"\(alpha, xi\) must be a cell of the grid"):
        ex.phase_explorer([quick], alpha=0.123)
    with pytest.raises(ValueError, match="panels of different labels"):
        ex.phase_cells([quick, quick])
    spec = ex.phase_explorer([quick]).chart.to_dict(validate=True)
    assert {p["name"] for p in spec["params"]} >= {"panel", "cell"}


def test_outside_the_book_the_explorer_loads_vega_from_the_cdn(explorers, tmp_path):
    """In Colab or Jupyter (no ``data-content_root`` on the page) the loader asks jsDelivr for
    VEGA_JS's files.  Chromium answers those addresses with the files fetched for the book (every
    other request refused): the explorer draws, with no console error."""
    import os
    import shutil
    from pathlib import Path
    pytest.importorskip("playwright")
    vega = Path(__file__).resolve().parents[1] / "_vendor" / "_static" / "vega"
    browser_path = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)),
                        None)
    if browser_path is None or not vega.is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI has Chromium and runs make setup (scripts/fetch_vega.py) first")
        pytest.skip("no Chromium or no fetched Vega (python scripts/fetch_vega.py)")
    from playwright.sync_api import sync_playwright
    page_file = tmp_path / "notebook-output.html"
    page_file.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                         + explorers["pruning"].html() + "</body></html>")
    cdn = {ex.CDN.format(name=n, version=v, path=p): vega / f"{n}.min.js" for n, v, p in ex.VEGA_JS}
    asked, errors = [], []

    def answer(route):
        url = route.request.url
        if url in cdn:
            asked.append(url)
            return route.fulfill(path=str(cdn[url]), content_type="text/javascript")
        return route.continue_() if url.startswith("file:") else route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page()
        page.route("**/*", answer)
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_selector(".gb-explorer[data-ready]", timeout=15000)
        texts = page.evaluate("[...document.querySelectorAll('.gb-explorer svg text')]"
                              ".map(t => t.textContent)")
        browser.close()
    assert asked == list(cdn), asked
    assert not errors, errors
    assert any(t.startswith("9 neurons pruned (30%), highest IPR first") for t in texts), texts
