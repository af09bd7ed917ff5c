"""A Sphinx extension of the book's own: each inline script of a page's head once.

The theme's head carries the inline configuration of sphinx-thebe (``const THEBE_JS_URL = ...``)
and of sphinx-togglebutton twice, and the second ``const`` is a JavaScript error in the reader's
console.  After the build, each page's head keeps the first of identical inline scripts."""
from __future__ import annotations

import re
from pathlib import Path

INLINE = re.compile(r"^\s*<script>.*</script>\s*$")


def one_of_each(head: str) -> str:
    """``head`` (HTML) without the repeats of identical one-line inline scripts."""
    seen, lines = set(), []
    for line in head.split("\n"):
        if INLINE.match(line):
            if line.strip() in seen:
                continue
            seen.add(line.strip())
        lines.append(line)
    return "\n".join(lines)


def clean_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        head, sep, body = text.partition("</head>")
        if sep:
            cleaned = one_of_each(head)
            if cleaned != head:
                page.write_text(cleaned + sep + body, encoding="utf-8")


def setup(app):
    app.connect("build-finished", clean_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
