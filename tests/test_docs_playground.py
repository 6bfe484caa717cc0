"""This project's own site, as the README's site command builds it: the home page's playground
runs the shipped shapes model in headless Chromium and draws what its prompt says."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from artifacts import SCREENSHOTS
from browser import SUB_PATH, canvas_rgba, launch, serve, wait_for_status, watch

from websd.models.shapes.checker import check

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND = "websd-playground"


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory) -> Path:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = tmp_path_factory.mktemp("docs") / "public"
    build(load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True))
    return site


def test_home_page_playground_draws_its_prompt(docs_site):
    from playwright.sync_api import sync_playwright

    from websd.build import build_model
    from websd.models import default_model
    from websd.native import NativeModel

    config = json.loads(unescape(_attribute((docs_site / "index.html").read_text(), "config")))
    assert config["guidance"] == 5  # the shapes model's own guidance
    with serve(docs_site) as server, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        log = watch(page)
        page.goto(server.url)
        playground = page.locator(PLAYGROUND)
        wait_for_status(page, "Ready", 60_000)
        _screenshot(page, "docs-home-before")
        playground.get_by_role("button", name="Generate").click()
        wait_for_status(page, "Done", 300_000)
        _screenshot(page, "docs-home-after")
        width, height, rgba = canvas_rgba(page)
        browser.close()
    assert SUB_PATH in server.url and not log.errors and not log.foreign(server.origin)

    image = np.frombuffer(rgba, np.uint8).reshape(height, width, 4)
    reference = NativeModel(build_model(default_model()).folder).generate(
        config["prompt"], seed=config["seed"], steps=config["steps"], guidance=config["guidance"]
    )
    assert int(np.abs(image.astype(int) - reference.rgba.astype(int)).max()) <= 1
    verdict = check(image[..., :3], config["prompt"])
    assert verdict.ok, verdict.reason


def _attribute(html: str, name: str) -> str:
    start = html.index(f'{name}="') + len(name) + 2
    return html[start : html.index('"', start)]


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")
