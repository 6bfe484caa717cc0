"""The TVM web runtime bitcode builds, is cached, and links a real model into a loadable .wasm.

The bitcode lives in the cache folder, so only the first run pays for compiling it (about a
minute on two cores); the link test always links for real (one to two minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from websd.errors import ToolchainError
from websd.runtime_bitcode import BITCODE_FILES, ensure_runtime_bitcode

WASM_MAGIC = b"\0asm"
WEB_RUNTIME_JS = (
    Path(__file__).parents[1] / "runtime_ts/node_modules/@mlc-ai/web-runtime/lib/index.js"
)
# What tvmjs (environment.ts) and its WASI polyfill give a model library to import.
TVMJS_ENV_IMPORTS = {
    "TVMFFIWasmSafeCall",
    "TVMFFIWasmFunctionDeleter",
    "__cxa_thread_atexit",
    "emscripten_notify_memory_growth",
    "__console_log",
}

needs_emcc = pytest.mark.skipif(shutil.which("emcc") is None, reason="emcc is not installed")
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def bitcode_dir() -> Path:
    return ensure_runtime_bitcode()


@needs_emcc
def test_runtime_files_are_wasm_objects(bitcode_dir: Path) -> None:
    for name in BITCODE_FILES:
        assert (bitcode_dir / name).read_bytes()[:4] == WASM_MAGIC, name


@needs_emcc
def test_second_call_is_served_from_cache(bitcode_dir: Path) -> None:
    start = time.perf_counter()
    assert ensure_runtime_bitcode() == bitcode_dir
    assert time.perf_counter() - start < 5


def test_missing_emcc_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    expected = (
        r"emcc \(emscripten\) was not found: "
        r"install it with `apt-get install emscripten node-acorn` \(Debian/Ubuntu\)"
    )
    with pytest.raises(ToolchainError, match=expected):
        ensure_runtime_bitcode()


def test_failed_compile_shows_command_and_compiler_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "emcc"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "emcc (fake) 0.0"; exit 0; fi\n'
        'echo "fake.cc:1:1: error: something is wrong" >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WEBSD_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolchainError) as failure:
        ensure_runtime_bitcode()
    message = str(failure.value)
    assert "emcc failed to compile" in message
    assert "-std=c++17" in message and "web/emcc/" in message
    assert "error: something is wrong" in message
    assert not list((tmp_path / "cache" / "runtime-bitcode").iterdir()), "a half entry was left"


@pytest.fixture(scope="module")
def tiny_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A matmul, an add and a constant, built for WebGPU and linked into a model library."""
    import tvm
    from tvm import relax
    from tvm.script import relax as R

    from websd.link import link_wasm

    x = relax.Var("x", R.Tensor((4, 8), "float32"))
    w = relax.Var("w", R.Tensor((8, 3), "float32"))
    bias = np.arange(12, dtype="float32").reshape(4, 3)
    builder = relax.BlockBuilder()
    with builder.function("main", [x, w]):
        with builder.dataflow():
            product = builder.emit(relax.op.matmul(relax.op.add(x, x), w))
            out = builder.emit_output(relax.op.add(product, relax.const(bias)))
        builder.emit_func_output(out)
    target = tvm.target.Target(
        "webgpu", host={"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"}
    )
    executable = relax.build(
        builder.get(),
        target=target,
        relax_pipeline=relax.get_default_pipeline(target),
        system_lib=True,
    )
    messages: list[str] = []
    path = link_wasm(executable, tmp_path_factory.mktemp("link") / "tiny.wasm", messages.append)
    assert any(message.startswith("linked tiny.wasm") for message in messages), messages
    return path


@needs_emcc
def test_links_a_tiny_model_into_wasm(tiny_wasm: Path) -> None:
    assert tiny_wasm.read_bytes()[:4] == WASM_MAGIC


@needs_emcc
@needs_node
def test_library_imports_only_what_tvmjs_provides(tiny_wasm: Path) -> None:
    """ERROR_ON_UNDEFINED_SYMBOLS=0 turns a symbol missing from the runtime into an import."""
    script = (
        "const m = new WebAssembly.Module(require('fs').readFileSync(process.argv[1]));"
        "console.log(JSON.stringify(WebAssembly.Module.imports(m)));"
    )
    imports = json.loads(
        subprocess.run(
            ["node", "-e", script, str(tiny_wasm)], capture_output=True, text=True, check=True
        ).stdout
    )
    unexpected = [
        f"{item['module']}.{item['name']}"
        for item in imports
        if not (
            item["module"] == "wasi_snapshot_preview1"
            or (item["module"] == "env" and item["name"] in TVMJS_ENV_IMPORTS)
        )
    ]
    assert not unexpected


@needs_emcc
@needs_node
@pytest.mark.skipif(not WEB_RUNTIME_JS.is_file(), reason="runtime_ts has no node_modules")
def test_library_loads_in_tvmjs(tiny_wasm: Path) -> None:
    """tvmjs deserializes the VM executable (with its constant) and the WebGPU function table,
    written by TVM's Python side and read by the runtime bitcode: no GPU is needed for that."""
    script = """
    const [runtime, wasm] = process.argv.slice(1);
    const tvmjs = require(runtime);
    (async () => {
      const bytes = new Uint8Array(require("fs").readFileSync(wasm));
      const tvm = await tvmjs.instantiate(bytes.buffer, tvmjs.createPolyfillWASI(), () => {});
      tvm.registerFunc("wasm.WebGPUCreateShader", () => () => {});
      tvm.beginScope();
      const module = tvm.createVirtualMachine(tvm.cpu()).getInternalModule();
      const fmap = JSON.parse(module.getFunction("webgpu.get_fmap", true)());
      const getShader = module.getFunction("webgpu.get_shader", true);
      for (const name of Object.keys(fmap)) fmap[name].wgsl = getShader(name);
      console.log(JSON.stringify(fmap));
      tvm.endScope();
    })().catch((error) => { console.error(error); process.exit(1); });
    """
    result = subprocess.run(
        ["node", "-e", script, str(WEB_RUNTIME_JS), str(tiny_wasm)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    kernels = json.loads(result.stdout)
    assert len(kernels) >= 2
    for name, info in kernels.items():
        assert info["name"] == name
        assert info["arg_types"] and all(dtype == "handle" for dtype in info["arg_types"])
        assert "threadIdx.x" in info["launch_param_tags"]
        assert "@compute" in info["wgsl"]
