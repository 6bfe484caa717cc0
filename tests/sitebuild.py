"""Build an MkDocs site in-process, as `mkdocs build` does, for the plugin tests."""

from __future__ import annotations

import html.parser
import re
import shutil
from pathlib import Path

from mkdocs.commands.build import build
from mkdocs.config import load_config

FIXTURE_SITE = Path(__file__).parent / "fixtures" / "site"


def copy_fixture_site(target: Path) -> Path:
    shutil.copytree(FIXTURE_SITE, target)
    return target


def build_site(folder: Path, **overrides) -> Path:
    config = load_config(str(folder / "mkdocs.yml"), site_dir=str(folder / "public"), **overrides)
    build(config)
    return folder / "public"


_ABSOLUTE = re.compile(r"(?:https?:)?//")
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""")
# What a script loads by itself: fetch/import/importScripts/Worker/WebSocket of a literal URL.
_JS_LOAD = re.compile(
    r"""(?:fetch|import|importScripts|Worker|WebSocket|EventSource)\s*\(\s*["'`]([^"'`]+)"""
)


class _ResourceFinder(html.parser.HTMLParser):
    """URLs a page loads by itself (scripts, styles, images, frames); links are not loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("rel") not in ("canonical", "alternate", None):
            self.urls.append(values.get("href") or "")
        elif tag in ("script", "img", "iframe", "source", "audio", "video", "embed"):
            self.urls.append(values.get("src") or "")


def _loads(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    if path.suffix == ".html":
        finder = _ResourceFinder()
        finder.feed(text)
        return finder.urls
    if path.suffix == ".css":
        return _CSS_URL.findall(text)
    return _JS_LOAD.findall(text)


def external_loads(site_dir: Path) -> dict[str, list[str]]:
    """Every absolute URL that an HTML, CSS or JS file of the site would load by itself."""
    found = {}
    for path in site_dir.rglob("*"):
        if path.suffix in {".html", ".css", ".js"}:
            urls = [url for url in _loads(path) if _ABSOLUTE.match(url)]
            if urls:
                found[str(path.relative_to(site_dir))] = urls
    return found
