"""Drive the book's explorers in headless Chromium, with no network, and measure their pages.

After `make book` (in _build/html), for each chapter page holding an explorer
(grokbook.teaching.explorers):
- the page loads with every request outside the book refused (no CDN), and logs no console error;
- every explorer renders (data-ready) from the book's own _static/vega;
- each explorer is driven as a reader would: a menu chosen, a cell hovered and clicked, a slider
  or a radio button moved; the value it then shows (the tooltip, the line above the charts, the
  bars' labels) is compared with the stored value for that cell, step or fraction: the committed
  sweep in results/ for the phase diagrams, the table the page's explorer was built from (the
  spec's data, computed by the chapter's run) for the others;
- with JavaScript off, each explorer shows its static picture.

    python scripts/check_explorers.py [--html _build/html]          the checks (exit status 1 on a problem)
    python scripts/check_explorers.py --measure [--repeat 5]         the pages' weight and load time

The measurement is a script, not a test: it prints each page's weight (the HTML and every file it
loads) and its load time (to the load event, and until every explorer is drawn), the median of
--repeat loads in a fresh browser page each.  Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from check_book_html import FLAGS, chromium  # noqa: E402

PAGES = {"phases": "book/06_regularization.html", "two-stages": "book/07_two_stages.html",
         "pruning": "book/05_pruning.html", "scores": "book/08_memorization.html"}
MAX_PAGE_MB = 7.0  # "a page stays under a few MB": every page of the book loads 4.3 MB of theme
MAX_GZIP_MB = 3.0  # (1.5 MB gzip), MathJax included; as a server sends them, gzip
MAX_EXPLORER_MB = 2.0  # what an explorer adds: Vega (0.82 MB) and its output (data, picture)

SPEC = r"""id => {
  const script = document.getElementById(id).nextElementSibling.textContent;
  return script.match(/spec = (\{.*?\}), files =/s)[1];
}"""


def offline(context, loaded: list | None = None):
    """Refuse every request that is not a file of the book; note the files' URLs in ``loaded``."""
    def serve(route):
        url = route.request.url
        if not url.startswith("file:"):
            return route.abort()
        if loaded is not None:
            loaded.append(url)
        return route.continue_()
    context.route("**/*", serve)


def open_page(browser, path: Path):
    """A fresh page at ``path``, offline, with its console errors collected in ``page.errors``
    and the URLs of the files it loaded in ``page.loaded``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    loaded = []
    offline(context, loaded)
    page = context.new_page()
    page.loaded = loaded
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("[...document.querySelectorAll('.gb-explorer')].every("
                           "e => e.dataset.ready || e.dataset.error)", timeout=20000)
    return page


def explorer(page, name: str):
    """(id, its data by dataset name) of the explorer ``name`` on the page."""
    element = page.locator(f'.gb-explorer[data-explorer="{name}"]')
    if element.count() != 1:
        raise AssertionError(f"{name}: {element.count()} explorers of that name on the page")
    eid = element.get_attribute("id")
    if element.get_attribute("data-error"):
        raise AssertionError(f"{name}: did not render: {element.get_attribute('data-error')}")
    spec = json.loads(page.evaluate(SPEC, eid))
    data = {}

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("data"), dict) and "values" in node["data"]:
                data[len(data)] = node["data"]["values"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)
    data.update({k: v for k, v in spec.get("datasets", {}).items()})
    return eid, list(data.values())


def table(tables, *columns):
    """The one inline dataset holding every one of ``columns``."""
    hits = [t for t in tables if t and isinstance(t[0], dict) and all(c in t[0] for c in columns)]
    if not hits:
        raise AssertionError(f"no dataset with columns {columns}")
    return hits[0]


def shown_line(page, eid: str, start: str) -> str:
    """The text mark of the explorer that starts with ``start`` (the line above its charts)."""
    texts = page.evaluate("id => [...document.getElementById(id).querySelectorAll('svg text')]"
                          ".map(t => t.textContent)", eid)
    hits = [t for t in texts if t.startswith(start)]
    if len(hits) != 1:
        raise AssertionError(f"expected one line starting {start!r}, got {hits}")
    return hits[0]


def set_slider(page, eid: str, name: str, value):
    page.evaluate("""([id, name, value]) => {
        const input = document.querySelector('#' + id + ' input[name="' + name + '"]');
        input.value = value;
        input.dispatchEvent(new Event('input', {bubbles: true}));
    }""", [eid, name, str(value)])
    page.wait_for_timeout(300)


def pct(x) -> str:
    return f"{100 * x:.1f}%"


def bar_labels(page, eid: str, contains: str) -> list:
    """The aria labels of the explorer's marks that mention ``contains``."""
    return page.evaluate("([id, c]) => [...document.getElementById(id).querySelectorAll("
                         "'svg path[aria-label]')].map(e => e.getAttribute('aria-label'))"
                         ".filter(l => l.includes(c))", [eid, contains])


# ----------------------------------------------------------------------------- the four explorers
def drive_phases(page, problems):
    import grokbook as gb
    eid, _ = explorer(page, "phases")
    sweeps = {"wd": gb.get_sweep("weight_decay_phase_diagram", "book"),
              "dropout": gb.get_sweep("dropout_phase_diagram", "book"),
              "bn": gb.get_sweep("batchnorm_phase_diagram", "book")}
    stored = gb.explorers.phase_cells(list(sweeps.values()))[0]
    for panel, alpha, xi in (("wd = 15", 0.6, 0.3), ("dropout = 0.6", 0.8, 0.2),
                             ("batch 64, BatchNorm", 0.5, 0.1)):
        data = next(s for s in sweeps.values() if panel in [k.label for k in s.panels()])
        run = data.cell(alpha, xi, panel=panel, seed=0)  # the stored run, from results/
        majority = stored[(stored.panel == panel) & (stored.alpha == alpha) & (stored.xi == xi)]
        page.select_option(f'#{eid} select[name="panel"]', panel)
        page.wait_for_timeout(300)
        cells = page.locator(f'#{eid} svg path[aria-label*="; α: {alpha:g}; ξ: {xi:g};"]')
        if cells.count() != 1:
            problems.append(f"phases: {panel}: {cells.count()} cells at α {alpha}, ξ {xi}")
            continue
        cells.hover()
        page.wait_for_timeout(300)
        tip = page.locator("#vg-tooltip-element").inner_text()
        want = [f"test, seed 0{pct(run.test_acc)}", f"train, seed 0{pct(run.train_acc)}",
                f"phase (most seeds){majority.phase.iloc[0]}"]
        flat = re.sub(r"\s+", "", tip)
        for w in want:
            if re.sub(r"\s+", "", w) not in flat:
                problems.append(f"phases: {panel}, α {alpha}, ξ {xi}: tooltip lacks {w!r}: {tip!r}")
        cells.click()
        page.wait_for_timeout(300)
        line = shown_line(page, eid, f"α {alpha:.2f}, ")
        expect = (f"α {alpha:.2f}, ξ {xi:.2f}, seed 0: {run.phase} (train {pct(run.train_acc)}, "
                  f"test {pct(run.test_acc)})")
        if line != expect:
            problems.append(f"phases: after the click on {panel}, α {alpha}, ξ {xi}: shows "
                            f"{line!r}, stored {expect!r}")
    return "phases: 3 panels chosen, 3 cells hovered and clicked"


def drive_two_stages(page, problems):
    eid, tables = explorer(page, "two-stages")
    curves = table(tables, "step", "train_acc", "test_acc")
    states = table(tables, "step", "counts", "mean_ipr")
    positions = [s["step"] for s in states]
    for step in (positions[0], positions[len(positions) // 2], positions[-1]):
        set_slider(page, eid, "step", step)
        row = next(r for r in curves if r["step"] == step)
        expect = (f"step {step}: train {pct(row['train_acc'])}, test {pct(row['test_acc'])}, "
                  f"changed labels fitted {pct(row['corrupt_acc'])}, inverted "
                  f"{pct(row['corrupt_true_acc'])}")
        line = shown_line(page, eid, "step ")
        if line != expect:
            problems.append(f"two-stages: step {step}: shows {line!r}, stored {expect!r}")
        counts = next(r["counts"] for r in states if r["step"] == step)
        bars = [b for b in bar_labels(page, eid, "neurons: ") if b.startswith("IPR: ")]
        shown = [int(re.search(r"neurons: (\d+)", b).group(1)) for b in bars]
        if shown != counts:
            problems.append(f"two-stages: step {step}: histogram shows {shown}, stored {counts}")
    return f"two-stages: the slider moved to 3 of {len(positions)} steps"


def drive_pruning(page, problems):
    eid, tables = explorer(page, "pruning")
    states = table(tables, "order", "pct", "test_acc")
    for order in ("highest IPR first", "random order", "lowest IPR first"):
        page.check(f'#{eid} input[name="order"][value="{order}"]')
        for share in (0, 30, 60):
            set_slider(page, eid, "pct", share)
            row = next(r for r in states if r["order"] == order and r["pct"] == share)
            expect = (f"{row['pruned']} neurons pruned ({share}%), {order}: test "
                      f"{pct(row['test_acc'])}, changed labels fitted {pct(row['corrupt_acc'])}, "
                      f"clean train {pct(row['clean_acc'])}")
            line = shown_line(page, eid, f"{row['pruned']} neurons pruned")
            if line != expect:
                problems.append(f"pruning: {order}, {share}%: shows {line!r}, stored {expect!r}")
            gone = sum(int(re.search(r"neurons: (\d+)", b).group(1))
                       for b in bar_labels(page, eid, "group: pruned"))
            if gone != row["pruned"]:
                problems.append(f"pruning: {order}, {share}%: the histogram's grey bars hold "
                                f"{gone} neurons, stored {row['pruned']}")
    return "pruning: 3 orders x 3 fractions"


def drive_scores(page, problems):
    eid, tables = explorer(page, "scores")
    rocs = table(tables, "phase", "score", "auc")
    phases = list(dict.fromkeys(r["phase"] for r in rocs))
    names = list(dict.fromkeys(r["score"] for r in rocs))
    picks = [(phases[-1], names[0]), (phases[0], names[min(1, len(names) - 1)]),
             (phases[len(phases) // 2], names[-1])]
    for phase, score in picks:
        page.select_option(f'#{eid} select[name="phase"]', phase)
        page.select_option(f'#{eid} select[name="score"]', score)
        page.wait_for_timeout(300)
        row = next(r for r in rocs if r["phase"] == phase and r["score"] == score)
        auc = "NaN" if row["auc"] is None else f"{row['auc']:.3f}"
        expect = f"{score}, {phase}: ROC AUC {auc}"
        line = shown_line(page, eid, f"{score}, ")
        if line != expect:
            problems.append(f"scores: {phase}, {score}: shows {line!r}, stored {expect!r}")
    return f"scores: 3 of {len(phases)} phases x {len(names)} scores chosen"


DRIVERS = {"phases": drive_phases, "two-stages": drive_two_stages, "pruning": drive_pruning,
           "scores": drive_scores}


def check(html_dir: Path) -> list[str]:
    from playwright.sync_api import sync_playwright
    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=FLAGS)
        for name, rel in PAGES.items():
            path = html_dir / rel
            if not path.exists():
                problems.append(f"{name}: no page {rel}")
                continue
            page = open_page(browser, path)
            try:
                print(DRIVERS[name](page, problems))
            except Exception as e:  # a missing control or line: report it, go on
                problems.append(f"{name}: {type(e).__name__}: {e}")
            problems += [f"{rel}: console error: {e}" for e in page.errors]
            weight, packed = page_weight(page.loaded), gzipped(page.loaded)
            own = page_weight([u for u in page.loaded if "/_static/vega/" in u]) + explorer_bytes(path)
            page.context.close()
            for what, size, limit in (("the page", weight, MAX_PAGE_MB),
                                      ("the page, gzipped", packed, MAX_GZIP_MB),
                                      ("the explorer (Vega, its output)", own, MAX_EXPLORER_MB)):
                if size > limit * 1e6:
                    problems.append(f"{rel}: {what} {size / 1e6:.2f} MB, above {limit} MB")
            # without JavaScript: the static picture
            context = browser.new_context(java_script_enabled=False)
            offline(context)
            still = context.new_page()
            still.goto(path.as_uri(), wait_until="load")
            shown = still.evaluate("[...document.querySelectorAll('.gb-explorer img')].map("
                                   "i => i.complete && i.naturalWidth > 0)")
            if not shown or not all(shown):
                problems.append(f"{rel}: without JavaScript the explorer shows no picture")
            context.close()
        browser.close()
    return problems


def page_weight(loaded: list) -> int:
    """Bytes of the files (``loaded``: their file:// URLs) a page loaded, the page included."""
    files = {Path(unquote(urlparse(u).path)) for u in loaded}
    return sum(f.stat().st_size for f in files if f.is_file())


def explorer_bytes(path: Path) -> int:
    """Bytes of the page's explorer outputs (each div with its picture, and its script)."""
    text = path.read_text()
    return sum(len(m.group(0).encode()) for m in re.finditer(
        r'<div class="gb-explorer".*?</script>', text, re.S))


def gzipped(loaded: list) -> int:
    """The same files' bytes as a web server sends them compressed (gzip, level 9)."""
    import gzip
    files = {Path(unquote(urlparse(u).path)) for u in loaded}
    return sum(len(gzip.compress(f.read_bytes(), 9)) for f in files if f.is_file())


def measure(html_dir: Path, repeat: int):
    from playwright.sync_api import sync_playwright
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=FLAGS)
        for rel in ["book/04_coexistence.html", *PAGES.values()]:  # a page without an explorer first
            path = html_dir / rel
            loads, readies = [], []
            for _ in range(repeat):
                page = open_page(browser, path)
                loads.append(page.evaluate(
                    "performance.getEntriesByType('navigation')[0].loadEventEnd"))
                readies.append(page.evaluate(
                    "Math.max(0, ...[...document.querySelectorAll('.gb-explorer')].map("
                    "e => +e.dataset.readyAt || 0))"))
                loaded = page.loaded
                page.context.close()
            vega = [u for u in loaded if "/_static/vega/" in u]
            rows.append((rel, page_weight(loaded), gzipped(loaded), page_weight(vega),
                         explorer_bytes(path), statistics.median(loads),
                         statistics.median(readies)))
        browser.close()
    print("| page | weight | gzip | of it Vega | of it the explorer's output | load event | "
          "explorers drawn |\n|---|---|---|---|---|---|---|")
    for rel, weight, packed, vega, output, load, ready in rows:
        drawn = f"{ready / 1000:.2f} s" if ready else "(none)"
        print(f"| {rel} | {weight / 1e6:.2f} MB | {packed / 1e6:.2f} MB | {vega / 1e6:.2f} MB | "
              f"{output / 1e6:.2f} MB | {load / 1000:.2f} s | {drawn} |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--measure", action="store_true", help="print the pages' weight and load time")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.measure:
        measure(args.html, args.repeat)
        return 0
    problems = check(args.html)
    for p in problems:
        print("PROBLEM:", p)
    print(f"{'no problems' if not problems else f'{len(problems)} problems'} in {len(PAGES)} explorers")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
