"""Render a Jupyter notebook as a Markdown page for the docs, with its saved outputs.

    python scripts/notebook_to_markdown.py docs/walkthrough.ipynb docs/walkthrough.md
    python scripts/notebook_to_markdown.py docs/walkthrough.ipynb docs/walkthrough.md --check

Markdown cells are copied as they are, code cells become ```python blocks and text outputs
```text blocks; other outputs (images, HTML) are left out. This replaces mkdocs-jupyter,
which loads scripts from CDNs: the site must fetch nothing from another origin.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BACKTICKS = re.compile(r"`{3,}")


def _fenced(text: str, language: str) -> str:
    """A fenced block longer than any backtick run inside it, so no content can close it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _output_text(output: nbformat.NotebookNode) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return ""


def convert(notebook: nbformat.NotebookNode, source_name: str) -> str:
    """The Markdown page of `notebook`; `source_name` is the notebook's file name, linked."""
    parts = [
        f"<!-- Generated from {source_name} by scripts/notebook_to_markdown.py: "
        "edit the notebook, then run the script. -->"
    ]
    for index, cell in enumerate(notebook.cells):
        source = cell.source.strip()
        if cell.cell_type == "markdown":
            parts.append(source)
            if index == 0:
                parts.append(
                    f"This page is the notebook [`{source_name}`]({source_name}) with the "
                    "outputs of a real run."
                )
        elif cell.cell_type == "code" and source:
            parts.append(_fenced(source, "python"))
            texts = [_ANSI.sub("", _output_text(output)) for output in cell.get("outputs", [])]
            text = "".join(t if t.endswith("\n") else t + "\n" for t in texts if t.strip())
            if text:
                parts.append(_fenced(text, "text"))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("markdown", type=Path)
    parser.add_argument(
        "--check", action="store_true", help="fail if the Markdown file is not up to date"
    )
    args = parser.parse_args(argv)
    page = convert(nbformat.read(args.notebook, as_version=4), args.notebook.name)
    if args.check:
        if not args.markdown.is_file() or args.markdown.read_text() != page:
            command = f"python scripts/notebook_to_markdown.py {args.notebook} {args.markdown}"
            print(f"{args.markdown} is stale: run {command}", file=sys.stderr)
            return 1
        return 0
    args.markdown.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
