"""Report Markdown: quoting run-folder text safely, and rendering to one self-contained HTML page.

Rendering is markdown-it-py's CommonMark parser with GFM tables, raw HTML off (``html=False``:
any ``<tag>`` in the text is shown as text, never passed through). Images are embedded as
``data:`` URIs, and only when the file lies inside one of the folders the caller allows
(the run folders a report was given): a path that leads elsewhere, through ``..``, an
absolute path or a symbolic link, is shown as its alt text with a note, never read.

Text that comes from run folders (names, JSON fields, ``config.yaml``) goes through
``text``, ``code`` or ``fence``, so whatever characters it holds it stays text: it cannot
open a link or an image, end a code block or a table cell, or become HTML.

(The hand-written renderer this replaced read any image path it was given, so a line in a
run's ``config.yaml`` could close its code fence and embed ``/etc/hostname``.)
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left}
th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.82em}
code{background:#f3f3f3;padding:0 .2em}
blockquote{border-left:3px solid #e0a800;margin:.5em 0;padding:.1em .8em;background:#fff8e1}
h1{border-bottom:2px solid #333}
h2{border-bottom:1px solid #ccc;margin-top:1.6em}
.missing{color:#a00;font-size:.85em}
"""
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
_SPECIAL = re.compile(r"([\\`*_\[\]<>!|&~#])")  # every character that can start inline structure or end a cell


# --------------------------------------------------------------------------- quoting
def text(value: object) -> str:
    """``value`` as Markdown inline text: structure characters backslash-escaped, line breaks folded."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: object) -> str:
    """``value`` as an inline code span, fenced with more backticks than it holds (CommonMark 6.1); a ``|``
    is escaped so that it cannot end a table cell (GFM 4.10)."""
    s = " ".join(str(value).split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    return f"{ticks} {s.replace('|', chr(92) + '|')} {ticks}"


def fence(value: str, info: str = "") -> list[str]:
    """``value`` as a fenced code block whose fence is longer than any backtick run inside it (CommonMark 4.5)."""
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", value)), default=0) + 1)
    return [ticks + info, value.rstrip("\n"), ticks]


def image(path: Path, out: Path, alt: str) -> str:
    """An image line linking ``path`` relative to ``out``; the link is percent-encoded, so any character
    in a folder name (``)``, spaces, brackets) keeps it one link."""
    return f"![{text(alt)}]({quote(os.path.relpath(path, out).replace(os.sep, '/'))})"


# --------------------------------------------------------------------------- rendering
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def embed_image(src: str, base: Path, allowed: Iterable[Path] | None = None) -> str | None:
    """The ``data:`` URI of image ``src`` (relative to ``base``), or None when it is not a regular image file
    inside ``allowed`` (default: ``base``) once every symbolic link is resolved."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", src) or src.startswith("/"):  # a URL or an absolute path
        return None
    roots = [Path(r).resolve() for r in (allowed if allowed is not None else [base])]
    path = (base / src).resolve()
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None or not _inside(path, roots) or not path.is_file():
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def markdown_to_html(
    md: str, *, base: Path, title: str = "radgen report", allowed: Iterable[Path] | None = None
) -> str:
    """One self-contained HTML page: ``md`` rendered with raw HTML off, images inside ``allowed`` embedded."""
    parser = _parser()
    roots = list(allowed) if allowed is not None else [base]

    def render_image(renderer, tokens, idx, options, env):
        token = tokens[idx]
        alt = html.escape(renderer.renderInlineAsText(token.children or [], options, env))
        uri = embed_image(unquote(str(token.attrGet("src") or "")), base, roots)
        if uri is None:
            return f'<span class="missing">[image not embedded: {alt}; not a file inside the report\'s folders]</span>'
        return f'<img src="{uri}" alt="{alt}">'

    parser.add_render_rule("image", render_image)
    body = parser.render(md)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="radgen">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n" + body + "</body></html>\n"
    )
