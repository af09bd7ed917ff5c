"""Render one chapter as the book shows it, and screenshot its page in slices, for reading it.

    python scripts/preview_chapter.py book/04_coexistence.ipynb [--out /tmp/preview-04] [--no-execute]

1. executes the chapter once in the book profile (scripts/execute_chapters.py) into a jupyter-cache
   of its own (OUT/cache), so several chapters can be previewed at once without sharing a cache;
2. builds a one-chapter book (the intro, the notation page and this chapter; the project's
   _config.yml) from that cache into OUT/_build/html, without executing anything again; links
   to other chapters are left unresolved (warnings only);
3. takes screenshots of the chapter's page in Chromium, one per 1280 x 1600 slice, in OUT/shots.

It prints the build's warnings about this chapter and the screenshots' paths.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--profile", default="book", choices=["book", "full"])
    ap.add_argument("--no-execute", action="store_true", help="reuse OUT/cache as it is")
    ap.add_argument("--slice", type=int, default=1600, help="screenshot height in pixels")
    args = ap.parse_args()
    chapter = args.chapter.resolve()
    if not chapter.exists():
        raise SystemExit(f"chapter: no file {chapter}")
    out = (args.out or Path("/tmp") / f"preview-{chapter.stem}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GROKBOOK_PROFILE=args.profile)
    if not args.no_execute:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "execute_chapters.py"), "--profile", args.profile,
                        "--cache", str(out / "cache"), "--out", str(out / "chapters"), str(chapter)],
                       check=True, env=env, cwd=ROOT)
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir()
    for name in ("book", "_static", "_vendor"):
        (src / name).symlink_to(ROOT / name)
    config = (ROOT / "_config.yml").read_text()
    config = config.replace("  execute_notebooks: cache", f"  execute_notebooks: cache\n  cache: {out / 'cache'}")
    (src / "_config.yml").write_text(config)
    rel = chapter.relative_to(ROOT).with_suffix("").as_posix()
    extra = "      - file: book/notation\n" if (ROOT / "book" / "notation.md").exists() else ""
    (src / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nparts:\n  - caption: preview\n"
                                  f"    numbered: true\n    chapters:\n{extra}      - file: {rel}\n")
    build = subprocess.run(["jupyter-book", "build", str(src), "--path-output", str(out), "--builder", "html"],
                           capture_output=True, text=True, env=env)
    log = build.stdout + build.stderr
    (out / "build.log").write_text(log)
    warnings = [line for line in log.splitlines() if chapter.stem in line and ("WARNING" in line or "ERROR" in line)]
    print("\n".join(warnings) or "no warning about this chapter")
    html = out / "_build" / "html" / f"{rel}.html"
    if not html.exists():
        print(log[-3000:])
        raise SystemExit(f"the build made no page {html}")
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "scripts"))
    from check_book_html import FLAGS, chromium

    shots = out / "shots"
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": args.slice})
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_timeout(2000)
        height = page.evaluate("() => document.documentElement.scrollHeight")
        for k, top in enumerate(range(0, height, args.slice)):
            page.evaluate(f"() => window.scrollTo(0, {top})")
            page.wait_for_timeout(150)
            path = shots / f"{k:02d}.png"
            page.screenshot(path=str(path))
            print(path)
        browser.close()
    print(f"page: {html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
