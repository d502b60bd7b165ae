"""The subset of Markdown radgen's reports use, rendered to one self-contained HTML page.

Blocks: ATX headings, pipe tables, fenced code, block quotes, ``- `` lists, image lines
``![alt](path)`` and paragraphs; inline: `code`, **bold**. Images are read relative to
``base`` and embedded as ``data:`` URIs, so the page needs no other file. (A full Markdown
library would be one more dependency for the few constructs radgen writes itself.)
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path

_IMG = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left}
th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}
figure{margin:.6em 0}
figcaption{font-size:.85em;color:#555}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.82em}
code{background:#f3f3f3;padding:0 .2em}
blockquote{border-left:3px solid #e0a800;margin:.5em 0;padding:.1em .8em;background:#fff8e1}
h1{border-bottom:2px solid #333}
h2{border-bottom:1px solid #ccc;margin-top:1.6em}
"""


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def embed_image(src: str, base: Path) -> str:
    path = (base / src) if not Path(src).is_absolute() else Path(src)
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(md: str, *, base: Path, title: str = "radgen report") -> str:
    lines = md.splitlines()
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            body.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
            continue
        m = re.match(r"^(#{1,6}) (.*)$", line)
        if m:
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
            continue
        img = _IMG.match(line.strip())
        if img:
            body.append(
                f'<figure><img src="{embed_image(img["src"], base)}" '
                f'alt="{html.escape(img["alt"])}"><figcaption>{html.escape(img["alt"])}</figcaption></figure>'
            )
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            header, data = rows[0], [r for r in rows[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            t = ["<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in header) + "</tr></thead><tbody>"]
            t += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in data]
            body.append("".join(t) + "</tbody></table>")
            continue
        if line.startswith("> "):
            quote = []
            while i < len(lines) and lines[i].startswith("> "):
                quote.append(_inline(lines[i][2:]))
                i += 1
            body.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            continue
        if line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        para = []
        while (
            i < len(lines)
            and lines[i].strip()
            and not lines[i].startswith(("#", "|", "```", "> ", "- "))
            and not _IMG.match(lines[i].strip())
        ):
            para.append(_inline(lines[i]))
            i += 1
        body.append("<p>" + " ".join(para) + "</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta '
        f'charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n'
        + "\n".join(body)
        + "\n</body></html>\n"
    )
