"""Open every page of the built book in headless Chromium and check that it renders.

For each page listed in _toc.yml (after `make book`, in _build/html):
- the page loads and has its title;
- every local image has loaded in the browser (complete, non-zero natural width), and every
  chapter page shows at least one figure;
- every internal link points to a file that exists, and its #anchor to an element on that page;
- Sphinx left no unresolved reference or citation (elements of class "problematic", "??");
- MathJax typeset the math (no raw \\( or \\[ left in the text);
- the page logs no JavaScript error to the console.
It writes a full-page screenshot of each page to --screenshots (default _build/screenshots).

    python scripts/check_book_html.py [--html _build/html] [--screenshots DIR]

Needs Chromium (Debian: apt-get install chromium) and the Python package playwright (which
drives the installed Chromium; it downloads no browser of its own). Exit status 1 on a problem.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

JS_REPORT = r"""() => {
  const main = document.querySelector('main') || document.body;
  const imgs = [...main.querySelectorAll('img')].filter(i => !/^https?:/.test(i.getAttribute('src') || ''));
  return {
    title: document.title,
    images: imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
    links: [...main.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    problematic: main.querySelectorAll('.problematic').length,
    math: main.querySelectorAll('mjx-container').length,
    rawMath: /\\\(|\\\[/.test(main.innerText),
    text: main.innerText,
  };
}"""


def toc_pages():
    toc = (ROOT / "_toc.yml").read_text()
    return re.findall(r"(?:root|file):\s*(\S+)", toc)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("no Chromium found: apt-get install chromium")


def ids_of(path: Path, cache={}):
    if path not in cache:
        cache[path] = set(re.findall(r'\sid="([^"]+)"', path.read_text(errors="replace")))
    return cache[path]


def check(html_dir: Path, shots: Path | None) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems = []
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name in toc_pages():
            errors.clear()
            path = html_dir / f"{name}.html"
            if not path.exists():
                problems.append(f"{name}: no page {path}")
                continue
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(1500)  # let MathJax typeset
            r = page.evaluate(JS_REPORT)
            where = f"{name}.html"
            if not r["title"]:
                problems.append(f"{where}: empty title")
            for img in r["images"]:
                if not img["ok"]:
                    problems.append(f"{where}: image {img['src']} did not load")
            if Path(name).name[:2].isdigit() and not r["images"]:
                problems.append(f"{where}: a chapter page with no figure")
            if r["rawMath"]:
                problems.append(f"{where}: math left as raw TeX (MathJax did not run)")
            if r["problematic"] or "??" in r["text"]:
                problems.append(f"{where}: unresolved reference or citation")
            for href in r["links"]:
                u = urlparse(href)
                if u.scheme in ("http", "https", "mailto", "javascript"):
                    continue
                target = path if not u.path else (path.parent / unquote(u.path)).resolve()
                if not target.exists():
                    problems.append(f"{where}: broken link {href}")
                elif u.fragment and target.suffix == ".html" and unquote(u.fragment) not in ids_of(target):
                    problems.append(f"{where}: broken anchor {href}")
            problems += [f"{where}: console error: {e}" for e in errors]
            if shots:
                page.screenshot(path=str(shots / f"{Path(name).name}.png"), full_page=True)
            print(f"{where}: {len(r['images'])} figures, {r['math']} formulas, "
                  f"{len(r['links'])} links checked")
        browser.close()
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    args = ap.parse_args()
    problems = check(args.html, args.screenshots)
    for p in problems:
        print("PROBLEM:", p)
    print(f"{'no problems' if not problems else f'{len(problems)} problems'} in {len(toc_pages())} pages")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
