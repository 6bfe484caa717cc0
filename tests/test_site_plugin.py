"""`mkdocs build` with the websd plugin: models compiled, embeds rendered, nothing external."""

from __future__ import annotations

import json
import os
import re

import pytest
from mkdocs.exceptions import Abort
from sitebuild import build_site, copy_fixture_site, external_loads


@pytest.fixture(scope="module")
def fixture_env(tiny_sd1, tiny_sd2):
    saved = {k: os.environ.get(k) for k in ("FIRST", "SECOND")}
    os.environ["FIRST"], os.environ["SECOND"] = str(tiny_sd1), str(tiny_sd2)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def built_site(
    fixture_env, tiny_sd1_build, tiny_sd1_two_sizes_build, tiny_sd2_build, tmp_path_factory
):
    folder = copy_fixture_site(tmp_path_factory.mktemp("site") / "site")
    return build_site(folder)


def test_each_model_is_published_once(built_site, tiny_sd1_two_sizes_build):
    models = built_site / "assets" / "websd" / "models"
    assert sorted(p.name for p in models.iterdir()) == ["first", "half", "second"]
    first = models / "first"
    manifest = json.loads((first / "websd-model.json").read_text())
    assert manifest["content_hash"] == tiny_sd1_two_sizes_build.manifest["content_hash"]
    assert [(s["width"], s["height"]) for s in manifest["sizes"]] == [(64, 64), (128, 64)]
    expected = {"websd-model.json", "model.wasm", "tokenizer.json", "tensor-cache.json"}
    expected |= {s["path"] for s in manifest["weights"]["shards"]}
    assert {p.name for p in first.iterdir()} == expected
    wasm = list(built_site.rglob("model.wasm"))
    assert len(wasm) == 4  # first, second, half and half's float32 fallback


def test_float16_model_is_published_with_its_float32_fallback(built_site, tiny_sd1_build):
    half = built_site / "assets" / "websd" / "models" / "half"
    manifest = json.loads((half / "websd-model.json").read_text())
    assert manifest["dtype"] == "float16"
    assert manifest["webgpu"]["features"] == ["shader-f16"]
    assert manifest["extra"]["variants"] == [
        {"path": "float32/", "dtype": "float32", "features": []}
    ]
    fallback = json.loads((half / "float32" / "websd-model.json").read_text())
    assert fallback["name"] == "half" and fallback["extra"] == {}
    # The float32 build of the same source is the one the `first` model publishes.
    assert fallback["content_hash"] == tiny_sd1_build.manifest["content_hash"]
    expected = {"websd-model.json", "model.wasm", "tokenizer.json", "tensor-cache.json"}
    expected |= {s["path"] for s in fallback["weights"]["shards"]}
    assert {p.name for p in (half / "float32").iterdir()} == expected
    page = (built_site / "half" / "index.html").read_text()
    assert 'model="../assets/websd/models/half/"' in page


def test_embeds_become_playgrounds_with_relative_urls(built_site):
    first = (built_site / "first" / "index.html").read_text()
    assert 'model="../assets/websd/models/first/"' in first
    assert "a photo of a red cat" in first
    second = (built_site / "nested" / "second" / "index.html").read_text()
    assert 'model="../../assets/websd/models/second/"' in second
    assert '<script type="module" src="../../assets/websd/websd.js">' in second
    assert "```websd" not in first + second


def test_pages_without_playground_get_no_runtime(built_site):
    home = (built_site / "index.html").read_text()
    assert "websd.js" not in home and "websd.css" not in home


def test_site_loads_nothing_from_other_origins(built_site):
    assert external_loads(built_site) == {}


def test_second_build_reuses_the_compiled_models(fixture_env, built_site, tmp_path, caplog):
    folder = copy_fixture_site(tmp_path / "site")
    with caplog.at_level("INFO", logger="mkdocs.plugins.websd"):
        build_site(folder)
    assert caplog.text.count("cached build") == 4  # half's two builds included
    assert "half (float32 fallback): cached build" in caplog.text


def _fails_with(folder, caplog, pattern: str) -> None:
    """mkdocs turns a plugin's error into an Abort and logs the message: check both."""
    with pytest.raises(Abort):
        build_site(folder)
    assert re.search(pattern, caplog.text), caplog.text


def _site_with(tmp_path, plugin_yaml: str, page: str = "# Home\n"):
    folder = tmp_path / "site"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "index.md").write_text(page)
    (folder / "mkdocs.yml").write_text(
        f"site_name: t\ntheme:\n  name: mkdocs\nplugins:\n  - websd:\n{plugin_yaml}"
    )
    return folder


_HALF = (
    "      models:\n        - name: half\n          source: !ENV FIRST\n"
    "          dtype: float16\n          fallback_float32: true\n"
)


def test_fallback_follows_weights_url_and_is_named_in_the_size_warning(
    fixture_env, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr("websd.site.plugin.GITHUB_PAGES_LIMIT", 1 << 20)
    folder = _site_with(tmp_path, "      weights_url: /weights\n" + _HALF)
    with caplog.at_level("INFO", logger="mkdocs.plugins.websd"):
        site = build_site(folder)
    models = site / "assets" / "websd" / "models"
    own = json.loads((models / "half" / "websd-model.json").read_text())
    fallback = json.loads((models / "half" / "float32" / "websd-model.json").read_text())
    assert own["weights"]["base_url"] == "/weights/half/"
    assert fallback["weights"]["base_url"] == "/weights/half/float32/"
    weights = folder / "public-weights" / "half"
    for sub, manifest in (("", own), ("float32/", fallback)):
        assert (weights / sub / manifest["weights"]["index"]).is_file()
        assert not (models / "half" / sub / manifest["weights"]["index"]).exists()
    assert "over GitHub Pages' 1 GB limit" in caplog.text
    assert "the float32 fallbacks (half) count too" in caplog.text


def test_fallback_of_a_float32_model_is_a_config_error(tmp_path, caplog):
    yaml = "      models:\n        - name: mine\n          dtype: float32\n"
    yaml += "          fallback_float32: true\n"
    folder = _site_with(tmp_path, yaml)
    with pytest.raises(Abort):
        build_site(folder)
    assert "a float32 fallback is for float16 models" in caplog.text
    assert not (folder / "public").exists()


def test_unknown_option_fails_before_anything_is_written(tmp_path, caplog):
    folder = _site_with(tmp_path, "      shard_size: 3\n")
    with pytest.raises(Abort):
        build_site(folder)
    assert "websd.shard_size" in caplog.text
    assert not (folder / "public").exists()


def test_bad_model_source_is_named(tmp_path, caplog):
    folder = _site_with(
        tmp_path, "      models:\n        - name: mine\n          source: ./models/nowhere\n"
    )
    _fails_with(folder, caplog, r"websd model 'mine': .*nowhere: no such folder")
    assert not (folder / "public").exists()


def test_embed_of_unknown_model_names_page_and_line(fixture_env, tmp_path, caplog):
    page = "# Home\n\ntext\n\n```websd\nmodel: nope\n```\n"
    folder = _site_with(
        tmp_path, "      models:\n        - name: first\n          source: !ENV FIRST\n", page
    )
    _fails_with(folder, caplog, r"index.md:5: unknown websd model 'nope'")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("sizes: [512x512, 512by512]", "image size '512by512' is not WIDTHxHEIGHT"),
        ("subgroup_matrices: [16x16x16]", "subgroup matrices '16x16x16' are not MxNxK-sSUBGROUP"),
    ],
)
def test_bad_model_option_is_a_config_error(tmp_path, caplog, option: str, message: str):
    yaml = f"      models:\n        - name: mine\n          {option}\n"
    folder = _site_with(tmp_path, yaml)
    with pytest.raises(Abort):
        build_site(folder)
    assert message in caplog.text
    assert not (folder / "public").exists()


def test_subgroup_matrices_of_a_float32_model_are_named(tmp_path, caplog):
    yaml = "      models:\n        - name: shapes\n          subgroup_matrices: [16x16x16-s32]\n"
    folder = _site_with(tmp_path, yaml)
    _fails_with(folder, caplog, r"websd model 'shapes': subgroup-matrix kernels multiply float16")
    assert not (folder / "public").exists()


def test_embed_of_a_size_the_model_lacks_names_the_built_ones(fixture_env, tmp_path, caplog):
    page = "# Home\n\n```websd\nsize: 64x128\n```\n"
    yaml = "      models:\n        - name: first\n          source: !ENV FIRST\n"
    folder = _site_with(tmp_path, yaml, page)
    pattern = r"index.md:3: model 'first' is not compiled for 64x128, only for 64x64"
    _fails_with(folder, caplog, pattern)


def test_missing_emcc_is_reported_before_compiling(fixture_env, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", "/nonexistent")
    yaml = f"      cache_dir: {tmp_path / 'empty-cache'}\n"
    yaml += "      models:\n        - name: first\n          source: !ENV FIRST\n"
    _fails_with(_site_with(tmp_path, yaml), caplog, r"emcc \(emscripten\) was not found")


@pytest.mark.parametrize(
    ("models", "pattern"),
    [
        ("      models:\n        - name: first\n          source: !ENV FIRST\n", r"model.wasm"),
        (_HALF, r"float32/model\.wasm \(\d+ MiB\)"),  # the fallback's files count too
    ],
    ids=["float32", "float16-with-fallback"],
)
def test_artifact_over_the_per_file_limit_fails(fixture_env, tmp_path, caplog, models, pattern):
    pattern += r".* exceed the host's per-file limit max_file_mb=1"
    _fails_with(_site_with(tmp_path, "      max_file_mb: 1\n" + models), caplog, pattern)
