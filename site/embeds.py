"""Playground embeds: a fenced ```websd block in Markdown becomes a <websd-playground> element.

```websd
model: shapes
prompt: a red circle on the left
seed: 42
```
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

import yaml

from websd.spec import SCHEDULERS

_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})websd[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
OPTIONS = {
    "model": str,
    "prompt": str,
    "negative_prompt": str,
    "seed": int,
    "steps": int,
    "guidance": (int, float),
    "scheduler": str,
    "size": str,
    "height": str,
}
_TEMPLATE = Template(resources.files(__package__).joinpath("templates/playground.html").read_text())


class EmbedError(ValueError):
    """An embed that cannot be rendered; the message names the page and line."""


@dataclass(frozen=True)
class Embed:
    line: int
    options: dict[str, Any]
    span: tuple[int, int]


def find_embeds(markdown: str, page: str) -> list[Embed]:
    """Parse every websd block of a page, checking each option's name and type."""
    embeds = []
    for match in _FENCE.finditer(markdown):
        line = markdown.count("\n", 0, match.start()) + 1
        where = f"{page}:{line}"
        try:
            options = yaml.safe_load(match["body"]) or {}
        except yaml.YAMLError as error:
            raise EmbedError(f"{where}: the websd block is not valid YAML: {error}") from None
        if not isinstance(options, dict):
            raise EmbedError(f"{where}: the websd block must be YAML `key: value` lines")
        for key, value in options.items():
            if key not in OPTIONS:
                raise EmbedError(
                    f"{where}: unknown websd option {key!r}; known: {', '.join(OPTIONS)}"
                )
            if not isinstance(value, OPTIONS[key]) or isinstance(value, bool):
                raise EmbedError(f"{where}: websd option {key!r} has the wrong type: {value!r}")
        _check_values(options, where)
        embeds.append(Embed(line, options, match.span()))
    return embeds


def _check_values(options: dict[str, Any], where: str) -> None:
    scheduler = options.get("scheduler", SCHEDULERS[0])
    if scheduler not in SCHEDULERS:
        raise EmbedError(
            f"{where}: unknown scheduler {scheduler!r}; use one of {', '.join(SCHEDULERS)}"
        )
    if not 1 <= options.get("steps", 1) <= 200:
        raise EmbedError(f"{where}: steps must be from 1 to 200")
    if options.get("guidance", 0) < 0:
        raise EmbedError(f"{where}: guidance must not be negative")


def render(embed: Embed, model_url: str, defaults: dict[str, Any]) -> str:
    """The element; its settings travel as one JSON attribute the playground reads."""
    settings = defaults | {k: v for k, v in embed.options.items() if k not in ("model", "height")}
    return _TEMPLATE.substitute(
        model_url=html.escape(model_url),
        config=html.escape(json.dumps(settings, sort_keys=True)),
        height=html.escape(str(embed.options.get("height", "auto"))),
    )


def replace_embeds(markdown: str, embeds: list[Embed], rendered: list[str]) -> str:
    for embed, element in sorted(zip(embeds, rendered, strict=True), key=lambda p: -p[0].span[0]):
        start, end = embed.span
        markdown = markdown[:start] + element + markdown[end:]
    return markdown
