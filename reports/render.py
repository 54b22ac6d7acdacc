"""Writes a report's blocks as Markdown (``report.md``) and self-contained HTML (``report.html``).

The report is built once as a list of blocks (headings, paragraphs, lists, tables, figures) and
rendered twice. The HTML embeds its images as base64 and links the interactive figures by relative
path: it references no network resource, so it opens offline and travels as one file.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Report:
    """An ordered list of blocks; each ``add_*`` appends one."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def subheading(self, text: str) -> None:
        self.blocks.append(("h3", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", items))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame))

    def figure(self, name: str, caption: str) -> None:
        self.blocks.append(("figure", (name, caption)))


def cell(value: object) -> str:
    """Formats a table cell: NaN as an em dash, floats compactly, ints with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000 or (value.is_integer() and abs(value) >= 100):
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def to_markdown(report: Report, out: Path) -> str:
    """The report as Markdown; figures as relative image links into ``out``."""
    lines = [f"# {report.title}", ""]
    for kind, body in report.blocks:
        if kind == "h2":
            lines += [f"## {body}", ""]
        elif kind == "h3":
            lines += [f"### {body}", ""]
        elif kind == "p":
            lines += [str(body), ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in body] + [""]
        elif kind == "table":
            lines += markdown_table(body) + [""]
        elif kind == "figure":
            name, caption = body
            image = _static_file(out, name)
            if image is not None:
                lines.append(f"![{caption}]({image.name})")
            extra = f" [interactive]({name}.html)" if (out / f"{name}.html").exists() else ""
            lines += [f"*{caption}*{extra}", ""]
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> list[str]:
    """A DataFrame as the lines of a Markdown table (cells formatted by ``cell``)."""
    if frame.empty:
        return ["(no rows)"]
    header = [str(c) for c in frame.columns]
    rows = [[cell(v).replace("|", "\\|") for v in row] for row in frame.itertuples(index=False)]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def to_html(report: Report, out: Path) -> str:
    """The report as one self-contained HTML page (images inline, no network references)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "img{max-width:100%}code{background:#f4f4f4}</style>",
        "</head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    for kind, body in report.blocks:
        if kind in ("h2", "h3"):
            parts.append(f"<{kind}>{html.escape(str(body))}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(str(body))}</p>")
        elif kind == "ul":
            items = "".join(f"<li>{_inline(str(i))}</li>" for i in body)
            parts.append(f"<ul>{items}</ul>")
        elif kind == "table":
            frame = body
            parts.append(
                "<p>(no rows)</p>"
                if frame.empty
                else frame.map(cell).to_html(index=False, escape=True, border=0)
            )
        elif kind == "figure":
            name, caption = body
            image = _static_file(out, name)
            if image is not None:
                mime = "image/png" if image.suffix == ".png" else "image/svg+xml"
                data = base64.b64encode(image.read_bytes()).decode("ascii")
                parts.append(f'<img alt="{html.escape(caption)}" src="data:{mime};base64,{data}">')
            link = (
                f' <a href="{name}.html">interactive</a>'
                if (out / f"{name}.html").exists()
                else ""
            )
            parts.append(f"<p><em>{html.escape(caption)}</em>{link}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _inline(text: str) -> str:
    """Escapes text and turns Markdown's `code` spans into <code>."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _static_file(out: Path, name: str) -> Path | None:
    for suffix in (".png", ".svg"):
        path = out / f"{name}{suffix}"
        if path.exists():
            return path
    return None
