"""The docs cannot drift from the code: references checked against the classes they describe,
every nav page present, the strict build self-contained, and the walkthrough notebook run."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from mkdocs.config import config_options as c
from sitebuild import external_loads

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "walkthrough.ipynb"


class _MkdocsLoader(yaml.SafeLoader):
    """mkdocs.yml uses `!ENV`; its value does not matter here."""


_MkdocsLoader.add_constructor("!ENV", lambda loader, node: None)


def _mkdocs_yml() -> dict:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkdocsLoader)


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _sections(markdown: str, level: int) -> dict[str, str]:
    """Heading text → the text under it, for the headings of one level."""
    parts = re.split(rf"^{'#' * level} (.+)$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _converter():
    spec = importlib.util.spec_from_file_location(
        "notebook_to_markdown", ROOT / "scripts" / "notebook_to_markdown.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_nav_page_exists():
    pages = _nav_pages(_mkdocs_yml()["nav"])
    assert pages
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"mkdocs.yml's nav lists missing pages: {missing}"


# The configuration reference: `### \`option\`` headings, each followed by a line
# **Type** `t`[, one of `a`, `b`] · **Default** `value` | none | required.
_OPTION_LINE = re.compile(
    r"^\*\*Type\*\* `(?P<type>[^`]+)`(?P<rest>[^·\n]*)· \*\*Default\*\* (?P<default>.+)$", re.M
)


def _type_name(option: c.BaseConfigOption) -> str:
    if isinstance(option, c.Optional):
        option = option.option
    if isinstance(option, c.ListOfItems):
        return "list"
    if isinstance(option, c.Choice):
        return "str"
    names = {bool: "bool", int: "int", str: "str", (int, float): "number"}
    return names[option._type]


def _default_text(option: c.BaseConfigOption) -> str:
    if isinstance(option, c.Optional):
        return "none"
    if option.default is None:
        return "required"
    value = option.default
    return f"`{value if isinstance(value, str) and value else json.dumps(value)}`"


@pytest.mark.parametrize(
    ("section", "config_class"),
    [("Plugin options", "WebsdConfig"), ("Model options", "ModelConfig")],
)
def test_configuration_reference_matches_the_config_classes(section, config_class):
    from websd.site import config

    schema = dict(getattr(config, config_class)._schema)
    body = _sections((DOCS / "configuration.md").read_text(), 2)[section]
    documented = {}
    for heading, text in _sections(body, 3).items():
        name = re.fullmatch(r"`(\w+)`", heading.strip())
        assert name, f"configuration.md: heading {heading!r} is not an option name"
        documented[name[1]] = text
    assert set(documented) == set(schema), (
        f"{section}: documented but not in {config_class}: {set(documented) - set(schema)}; "
        f"in {config_class} but not documented: {set(schema) - set(documented)}"
    )
    for name, option in schema.items():
        line = _OPTION_LINE.search(documented[name])
        assert line, f"configuration.md: `{name}` has no **Type** … · **Default** … line"
        assert line["type"] == _type_name(option), f"`{name}`: documented type"
        assert line["default"].strip() == _default_text(option), f"`{name}`: documented default"
        if isinstance(option, c.Choice):
            for choice in option.choices:
                assert f"`{choice}`" in line["rest"], f"`{name}`: choice {choice} undocumented"


def test_embed_options_table_matches_the_parser():
    from websd.site.embeds import OPTIONS

    body = _sections((DOCS / "embedding.md").read_text(), 2)["Options"]
    rows = re.findall(r"^\| `(\w+)` \|", body, flags=re.M)
    assert sorted(rows) == sorted(OPTIONS)


def test_manifest_page_documents_every_key():
    from websd.manifest import Manifest

    keys = _sections((DOCS / "manifest.md").read_text(), 2)["Keys"]
    headings = _sections(keys, 3)
    documented = {name for heading in headings for name in re.findall(r"`(\w+)`", heading)}
    fields = {field.name for field in dataclasses.fields(Manifest)}
    assert documented == fields


def test_playgrounds_in_the_docs_name_published_models():
    """A websd block shown as an example must not become a playground by accident: with the
    plugin on, an unknown model fails the site build."""
    from websd.site.embeds import find_embeds

    plugin = next(p["websd"] for p in _mkdocs_yml()["plugins"] if isinstance(p, dict))
    models = {model["name"] for model in plugin.get("models") or [{"name": "shapes"}]}
    found = {}
    for page in DOCS.rglob("*.md"):
        for embed in find_embeds(page.read_text(), page.name):
            assert embed.options.get("model", "shapes") in models, f"{page.name}:{embed.line}"
            found[page.name] = found.get(page.name, 0) + 1
    assert found.get("index.md") == 1


def test_docs_build_strictly_and_load_nothing_from_other_origins(tmp_path):
    """`mkdocs build --strict` with the plugin and the shipped shapes model, as the README's
    site command runs it; mermaid or a web font would fetch from a CDN."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = tmp_path / "public"
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True)
    build(config)
    assert external_loads(site) == {}
    assert (site / "assets/websd/models/shapes/websd-model.json").is_file()
    assert "websd-playground" in (site / "index.html").read_text()


def test_walkthrough_page_is_the_converted_notebook():
    import nbformat

    page = _converter().convert(nbformat.read(NOTEBOOK, as_version=4), NOTEBOOK.name)
    assert (DOCS / "walkthrough.md").read_text() == page, (
        "docs/walkthrough.md is stale: run "
        "python scripts/notebook_to_markdown.py docs/walkthrough.ipynb docs/walkthrough.md"
    )


def test_walkthrough_notebook_runs(tmp_path):
    """Every cell runs as committed; the native image matches diffusers as the page says."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    difference = re.search(r"largest difference: (\d+) / 255", outputs)
    assert difference and int(difference[1]) <= 1, outputs[-2000:]
