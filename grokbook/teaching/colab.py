"""Colab notebooks: the chapters in the plain Markdown that Colab renders.

The book's pages are MyST: ``{glue:text}`` pastes a number the chapter computed, ``{cite:p}``
a citation, ``{numref}`` a figure's number, ``:::{dropdown}`` a collapsed hint.  Colab renders
plain Markdown, where each of these shows as raw text.  ``colab_notebook`` rewrites a chapter
for Colab, and the student notebooks of the coursework are made from its result:

- a glued number becomes the value the book's own run printed, from ``results/glue-book.json``
  (made from the executed chapters with the book's results, so a notebook does not change with
  the CPU that builds it), underlined with dots and titled "the book's run";
- a citation becomes author-year text ("Doshi *et al.* [2024]"), with the references at the end;
- a figure reference becomes the book's number ("Fig. 6.3"), and each figure's caption follows
  the cell that draws it;
- a dropdown becomes an HTML ``<details>`` block; the solutions and the cells that check the
  claims show in Colab's form view, their code collapsed under a title;
- a page reference becomes a link to the page's source in the repository.

    python -m grokbook.teaching.colab --glue-from _build/chapters/book   # after make test
    python -m grokbook.teaching.colab --write                            # colab/*.ipynb
    python -m grokbook.teaching.colab --check                            # are they current?
"""
from __future__ import annotations

import argparse
import ast
import copy
import html
import datetime as dt
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import book

GLUE_FILE = book.ROOT / "results" / "glue-book.json"
COLAB_DIR = book.ROOT / "colab"
BIB = book.ROOT / "book" / "references.bib"
GLUE_COMMAND = "python -m grokbook.teaching.colab --glue-from _build/chapters/book"
WRITE_COMMAND = "python -m grokbook.teaching.colab --write"
ROLE = re.compile(r"\{(?P<role>[a-z]+(?::[a-z]+)*)\}`(?P<body>[^`]*)`")
DROPDOWN = re.compile(r"^(?P<fence>:{3,})\{dropdown\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                      re.M | re.S)
LEFTOVER = re.compile(r"\{[a-z]+(?::[a-z]+)*\}`|^\s*(?::{3,}|`{3,})\{[a-z-]+\}", re.M)
BOOK_VALUE = "the value the book's own run printed (its rendered page, made on a 2-core CPU)"
NOTE = ("> **In Colab.** This notebook is a chapter of the book *To grok or not to grok, reproduced*. "
        "Run the cells from the top (Runtime > Run all): the setup cell fetches the package and the "
        "book's stored results. A number <abbr title=\"" + BOOK_VALUE + "\">underlined with dots</abbr> "
        "in the text is the one the book's own run printed, on a 2-core CPU; the cells print this "
        "run's numbers, which can differ from it in the last digits, or more where this run trains "
        "at other sizes (on a GPU the chapters train at the paper's, p = 97, N = 500, unless the page "
        "says otherwise). The solutions and the cells behind the text's numbers and claims are "
        "collapsed: double-click a cell's title to open it.")
SOLUTION_TITLE = "#@title Solution (double-click to show the code)"
CHECKS_TITLE = "#@title Checks of the claims above (double-click to show the code)"
NUMBERS_TITLE = "#@title The numbers the text quotes (double-click to show the code)"


# ----------------------------------------------------------------------------- the glued numbers
def chapter_glue(executed: dict) -> dict:
    """``{name: value}`` of every number or text an executed chapter glued (``gb.glue``)."""
    out = {}
    for cell in executed["cells"]:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            text = o["data"][meta.get("mime_prefix", "") + "text/plain"]
            out[meta["name"]] = ast.literal_eval("".join(text) if isinstance(text, list) else text)
    return out


def write_glue(executed_dir, path: Path = GLUE_FILE) -> Path:
    """Collect the glued values of every chapter executed (book profile) into ``path``."""
    from ..store.provenance import cpu_model, git_commit
    executed_dir = Path(executed_dir)
    chapters = {}
    for chapter in book.chapters():
        copy_ = executed_dir / chapter.name
        if not copy_.exists():
            raise FileNotFoundError(f"{copy_}: no executed copy of {chapter.name}; run "
                                    "`make test` (or scripts/execute_chapters.py --profile book) first")
        chapters[chapter.stem] = chapter_glue(json.loads(copy_.read_text()))
    record = dict(profile="book", commit=git_commit(), cpu=cpu_model(),
                  date=dt.date.today().isoformat(), command=GLUE_COMMAND, chapters=chapters)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    return path


def read_glue(path: Path = GLUE_FILE) -> dict:
    """``{chapter stem: {name: value}}`` from the glue file."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no glued values; make them with `{GLUE_COMMAND}`")
    return json.loads(Path(path).read_text())["chapters"]


def glued_names(nb: dict) -> set:
    """The names a chapter's prose pastes (its ``{glue:text}`` roles)."""
    return {m["body"].split(":", 1)[0] for c in nb["cells"] if c["cell_type"] == "markdown"
            for m in ROLE.finditer(book.cell_source(c)) if m["role"] == "glue:text"}


# ----------------------------------------------------------------------------- the references
@dataclass(frozen=True)
class Reference:
    key: str
    names: str  # "Doshi *et al.*", "Feldman and Zhang", "Gromov"
    year: str
    full: str  # the entry as the list of references writes it

    def text(self, narrative: bool) -> str:
        return f"{self.names} [{self.year}]" if narrative else f"{self.names}, {self.year}"


def references(path: Path = BIB) -> dict:
    """``{key: Reference}`` of the book's bibliography."""
    from pybtex.database import parse_file
    out = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author", [])
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        names = (last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2
                 else f"{last[0]} *et al.*")
        full_names = [" ".join(p.first_names + p.middle_names + p.prelast_names + p.last_names)
                      for p in people]
        authors = (" and ".join(full_names) if len(full_names) <= 2
                   else ", ".join(full_names[:-1]) + ", and " + full_names[-1])
        f = {k: v.replace("{", "").replace("}", "") for k, v in entry.fields.items()}
        venue = f.get("booktitle") or f.get("journal") or f.get("publisher") or ""
        where = f.get("url") or (f"https://arxiv.org/abs/{f['eprint']}" if "eprint" in f else "")
        full = f"{authors}. {f.get('title', '')}. " + (f"*{venue}*. " if venue else "") + \
            f"{f.get('year', '')}." + (f" {f['note']}." if f.get("note") else "") + \
            (f" <{where}>" if where else "")
        out[key] = Reference(key, names, f.get("year", ""), full)
    return out


# ----------------------------------------------------------------------------- the Markdown
@dataclass
class Context:
    """What rewriting one chapter needs: its glued values, the figures' numbers, the references
    (and, filled in as it goes, the keys it cited)."""
    chapter: str
    glue: dict
    figures: dict  # {name: "Fig. 6.3"}
    refs: dict
    cited: list


def _glued(body: str, ctx: Context) -> str:
    name, _, spec = body.partition(":")
    if name not in ctx.glue:
        raise KeyError(f"{ctx.chapter}: the prose pastes {name!r}, which {GLUE_FILE.name} lacks; "
                       f"regenerate it (`make test`, then `{GLUE_COMMAND}`)")
    value = ctx.glue[name]
    return f'<abbr title="{BOOK_VALUE}">{html.escape(glued_text(value, spec), quote=False)}</abbr>'


def glued_text(value, spec: str = "") -> str:
    """A glued value as ``{glue:text}`name:spec``` writes it."""
    return format(value, spec) if spec else str(value)


def _cited(role: str, body: str, ctx: Context) -> str:
    keys = [k.strip() for k in body.split(",")]
    missing = [k for k in keys if k not in ctx.refs]
    if missing:
        raise KeyError(f"{ctx.chapter}: cites {missing}, which book/references.bib lacks")
    ctx.cited += [k for k in keys if k not in ctx.cited]
    if role == "cite:t":
        return "; ".join(ctx.refs[k].text(narrative=True) for k in keys)
    return "[" + "; ".join(ctx.refs[k].text(narrative=False) for k in keys) + "]"


def _text_and_target(body: str):
    """A role's ``text <target>`` form as (text, target); (None, body) for a bare target."""
    m = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^>]+)>", body, re.S)
    return (m["text"], m["target"]) if m else (None, body)


def _page(body: str) -> str:
    text, target = _text_and_target(body)
    source = next((book.ROOT / "book" / f"{target}{ext}" for ext in (".md", ".ipynb")
                   if (book.ROOT / "book" / f"{target}{ext}").exists()), None)
    if source is None:
        raise KeyError(f"{{doc}}`{body}`: no page book/{target}.md or .ipynb")
    text = text or page_title(source)
    url, branch = book.repository()
    return f"[{text}]({url}/blob/{branch}/{source.relative_to(book.ROOT).as_posix()})"


def page_title(path: Path) -> str:
    """The first level-1 heading of a page (a Markdown file or a notebook)."""
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "\n".join(book.cell_source(c) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
    m = re.search(r"^# (.+)$", text, re.M)
    return m[1].strip() if m else path.stem


def _numbered(body: str, ctx: Context) -> str:
    text, target = _text_and_target(body)
    if target not in ctx.figures:
        raise KeyError(f"{ctx.chapter}: {{numref}}`{body}` names no figure of this chapter")
    number = ctx.figures[target]
    return text.replace("%s", number.removeprefix("Fig. ")) if text else number


def plain_markdown(text: str, ctx: Context) -> str:
    """``text`` (MyST) in plain Markdown: roles replaced, dropdowns as ``<details>`` blocks."""
    def role(m):
        kind, body = m["role"], m["body"]
        if kind == "glue:text":
            return _glued(body, ctx)
        if kind in ("cite", "cite:p", "cite:t"):
            return _cited(kind, body, ctx)
        if kind == "doc":
            return _page(body)
        if kind == "numref":
            return _numbered(body, ctx)
        raise ValueError(f"{ctx.chapter}: no plain-Markdown form for the role {{{kind}}}")

    text = DROPDOWN.sub(lambda m: f"<details>\n<summary>{m['title'].strip() or 'Details'}</summary>\n\n"
                                  f"{m['body'].strip()}\n\n</details>", text)
    text = ROLE.sub(role, text)
    left = LEFTOVER.search(text)
    if left:
        raise ValueError(f"{ctx.chapter}: MyST left in the plain Markdown: {text[left.start():left.start() + 60]!r}")
    return text


# ----------------------------------------------------------------------------- the notebook
def figure_numbers(nb: dict, chapter_number: int) -> dict:
    """``{figure name: "Fig. C.k"}``, as the book numbers the figures of chapter C."""
    names = [c["metadata"]["mystnb"]["figure"]["name"] for c in nb["cells"]
             if c["cell_type"] == "code" and "figure" in c.get("metadata", {}).get("mystnb", {})]
    return {name: f"Fig. {chapter_number}.{k}" for k, name in enumerate(names, 1)}


def _md(source: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def _form(cell: dict, title: str) -> None:
    cell["source"] = f"{title}\n{book.cell_source(cell)}"
    cell["metadata"] = {k: v for k, v in cell["metadata"].items() if k != "tags"}
    cell["metadata"]["cellView"] = "form"


def colab_notebook(nb: dict, chapter: Path, glue: dict, refs: dict, badge_path: str | None = None) -> dict:
    """Chapter ``nb`` (the file ``chapter``, or a student notebook made of it) for Colab: plain
    Markdown, the badge to ``badge_path`` (default: its copy in colab/), a note on top, the
    figures' captions, the solutions and claim checks in form view, the references at the end.
    The code cells are the chapter's (their outputs cleared)."""
    number = [c.resolve() for c in book.chapters()].index(Path(chapter).resolve()) + 1
    ctx = Context(chapter.stem, glue, figure_numbers(nb, number), refs, [])
    out = copy.deepcopy(nb)
    cells = []
    for cell in out["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
            if book.SOLUTION_TAG in tags:
                _form(cell, SOLUTION_TITLE)
            elif "remove-input" in tags:
                _form(cell, CHECKS_TITLE if "gb.claims." in book.cell_source(cell) else NUMBERS_TITLE)
            else:
                cell["metadata"].pop("tags", None)
            cells.append(cell)
            figure = cell["metadata"].get("mystnb", {}).get("figure")
            if figure:
                cells.append(_md(f"**{ctx.figures[figure['name']]}.** "
                                 f"{plain_markdown(figure['caption'], ctx)}", f"{cell['id']}-caption"))
            continue
        source = book.cell_source(cell)
        if "colab-badge.svg" in source:
            badge = book.colab_badge(badge_path or f"colab/{chapter.name}")
            cells += [_md(badge, cell["id"]), _md(NOTE, "colab-note")]
            continue
        cell["source"] = plain_markdown(source, ctx)
        cell["metadata"].pop("tags", None)
        cells.append(cell)
    if ctx.cited:
        cells.append(_md("## References\n\n" + "\n".join(f"- {refs[k].full}" for k in ctx.cited),
                         "colab-references"))
    out["cells"] = cells
    out["metadata"]["colab"] = {"provenance": [], "toc_visible": True}
    return out


def colab_notebooks(glue_path: Path = GLUE_FILE) -> dict:
    """``{file name: notebook}``: every chapter for Colab."""
    glue, refs = read_glue(glue_path), references()
    out = {}
    for chapter in book.chapters():
        nb = json.loads(chapter.read_text())
        if chapter.stem not in glue:
            raise KeyError(f"{chapter.name}: no glued values in {GLUE_FILE.name}; `{GLUE_COMMAND}`")
        out[chapter.name] = colab_notebook(nb, chapter, glue[chapter.stem], refs)
    return out


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def stale_notebooks(folder: Path = COLAB_DIR) -> list[str]:
    """The Colab notebooks missing from ``folder`` or differing from what the chapters make."""
    return [name for name, nb in colab_notebooks().items()
            if not (folder / name).exists() or (folder / name).read_text() != dumps(nb)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--glue-from", metavar="DIR", help="collect the glued values of the chapters "
                    "executed into DIR (book profile) into results/glue-book.json")
    ap.add_argument("--write", action="store_true", help="write colab/*.ipynb")
    ap.add_argument("--check", action="store_true", help="fail if colab/ is not what the chapters make")
    args = ap.parse_args(argv)
    if args.glue_from:
        print(f"wrote {write_glue(args.glue_from).relative_to(book.ROOT)}")
    if args.write:
        COLAB_DIR.mkdir(exist_ok=True)
        for name, nb in colab_notebooks().items():
            (COLAB_DIR / name).write_text(dumps(nb))
        print(f"wrote {len(book.chapters())} notebooks into {COLAB_DIR.relative_to(book.ROOT)}/")
    if args.check:
        stale = stale_notebooks()
        if stale:
            print(f"colab/ is stale for {stale}: run `{WRITE_COMMAND}`", file=sys.stderr)
            return 1
        print("colab/ is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
