"""Compiled models are cached by content, and a failed build leaves no half entry."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from websd import compile as compile_module
from websd.build import build_model
from websd.cache import cache_root


def test_second_build_is_a_cache_hit(tiny_sd1, tiny_sd1_build, tmp_path):
    start = time.perf_counter()
    again = build_model(tiny_sd1, tmp_path / "again")
    assert again.cached
    assert time.perf_counter() - start < 5
    assert again.manifest["content_hash"] == tiny_sd1_build.manifest["content_hash"]
    assert (again.folder / "model.wasm").read_bytes() == (
        tiny_sd1_build.folder / "model.wasm"
    ).read_bytes()


def test_cache_hit_loads_no_compiler(tiny_sd1, tiny_sd1_build, tmp_path):
    """A warm `websd build` costs seconds because it never imports TVM or PyTorch."""
    code = (
        "import sys; from websd.build import build_model; "
        f"assert build_model({str(tiny_sd1)!r}, None).cached; "
        "print(sorted({'tvm', 'torch', 'diffusers'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["apache-tvm", "torch", "diffusers", "transformers"])
def test_new_build_packages_make_a_new_key(tiny_sd1, monkeypatch, package: str):
    """An upgrade of what traces, fuses or compiles the model rebuilds it (diffusers'
    projection fusion and torch.export shape the imported graph), never reuses the old."""
    from websd import build as build_module
    from websd.spec import BuildOptions, read_spec, resolve_source

    options = BuildOptions()
    spec = read_spec(resolve_source(tiny_sd1), options)
    before = build_module.build_key(spec, options, "tiny")
    installed = build_module.version
    monkeypatch.setattr(
        build_module, "version", lambda name: "0.0.1" if name == package else installed(name)
    )
    assert build_module.build_key(spec, options, "tiny") != before


def test_failed_build_leaves_no_entry(tiny_sd1, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSD_CACHE_DIR", str(tmp_path / "cache"))

    def crash(spec, options, name, key, out, report):
        (out / "model.wasm").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(compile_module, "compile_model", crash)
    with pytest.raises(KeyboardInterrupt):
        build_model(tiny_sd1, tmp_path / "out")
    models = cache_root() / "models"
    assert not models.exists() or not any(models.iterdir())
    assert not (tmp_path / "out").exists()


def test_corrupt_shard_is_named(tiny_sd1_build, tmp_path):
    import shutil

    from websd.native import NativeModel

    copy = shutil.copytree(tiny_sd1_build.folder, tmp_path / "copy")
    shard = copy / tiny_sd1_build.manifest["weights"]["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"weight shard .*{shard.name} is corrupt"):
        NativeModel(copy)
