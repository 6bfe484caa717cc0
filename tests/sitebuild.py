"""Build an MkDocs site in-process, as `mkdocs build` does, for the plugin tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from mkdocs.commands.build import build
from mkdocs.config import load_config

FIXTURE_SITE = Path(__file__).parent / "fixtures" / "site"
_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>)]*""")


def copy_fixture_site(target: Path) -> Path:
    shutil.copytree(FIXTURE_SITE, target)
    return target


def build_site(folder: Path, **overrides) -> Path:
    config = load_config(str(folder / "mkdocs.yml"), site_dir=str(folder / "public"), **overrides)
    build(config)
    return folder / "public"


def external_urls(site_dir: Path) -> dict[str, set[str]]:
    """Absolute URLs in fetchable positions of every HTML/JS/CSS file (src, href, url(), fetch).

    Links in prose are allowed (a reader may follow them); loading anything is not.
    """
    loads = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)|url\(\s*["']?([^"')]+)|import\s*\(?\s*["']([^"']+)""")
    found: dict[str, set[str]] = {}
    for path in site_dir.rglob("*"):
        if path.suffix not in {".html", ".js", ".css"}:
            continue
        text = path.read_text(errors="replace")
        for match in loads.finditer(text):
            url = next(g for g in match.groups() if g)
            if _URL.match(url):
                found.setdefault(str(path.relative_to(site_dir)), set()).add(url)
    return found
