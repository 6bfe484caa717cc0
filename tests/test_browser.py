"""The browser runtime end to end: the real MkDocs site, served under a sub-path, in headless
Chromium with WebGPU on SwiftShader; images compared with the native runner's.

SwiftShader compiles the tiny model's kernels in one to two minutes on two cores, so the
playground and the API tests share one page: pipelines of one model on a page share their
worker. The error tests stop before any kernel is compiled.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from artifacts import ARTIFACTS, SCREENSHOTS
from browser import canvas_rgba, launch, serve, wait_for_status, watch
from images import max_diff
from PIL import Image
from sitebuild import build_site, copy_fixture_site

from websd.spec import ImageSize

pytestmark = pytest.mark.browser

RESULTS = ARTIFACTS / "browser-results.json"
MAX_PIXEL_DIFF = 2
LOAD_TIMEOUT_MS = 600_000  # download, then every kernel compiled by SwiftShader
PLAYGROUND = "websd-playground"


def _record(key: str, value: object) -> None:
    """Measurements for people reading test runs: tests/.artifacts/browser-results.json."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[key] = value
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(PLAYGROUND).screenshot(path=SCREENSHOTS / f"{name}.png")
    page.screenshot(path=SCREENSHOTS / f"{name}-page.png", full_page=True)


def _status(page) -> str:
    return page.locator(f"{PLAYGROUND} .websd-status").inner_text()


@pytest.fixture(scope="module")
def site(tiny_sd1, tiny_sd2, tiny_sd1_build, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FIRST", str(tiny_sd1))
        env.setenv("SECOND", str(tiny_sd2))
        return build_site(copy_fixture_site(tmp_path_factory.mktemp("site") / "site"))


@pytest.fixture(scope="module")
def server(site):
    with serve(site) as state:
        yield state


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def chromium(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def first_page(chromium, server):
    """The first model's page, loaded once: the playground and API tests share its model."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    log = watch(page)
    page.goto(server.url + "first/")
    yield page, log
    context.close()


@pytest.fixture(scope="module")
def native(tiny_sd1_two_sizes_build):
    """The first model's twin: the fixture site compiles it for 64x64 and 128x64."""
    from websd.native import NativeModel

    return NativeModel(tiny_sd1_two_sizes_build.folder)


def test_playground_generates_the_native_image(first_page, server, native, site):
    page, log = first_page
    playground = page.locator(PLAYGROUND)
    wait_for_status(page, "Ready", 30_000)
    assert "google" in _status(page).lower()  # the adapter, named in the status line
    _screenshot(page, "playground-before")

    prompt = playground.get_by_label("Prompt", exact=True)
    prompt.fill("")
    prompt.type("a photo of a red cat")
    playground.get_by_label("Seed", exact=True).fill("42")
    playground.get_by_label("Steps").fill("3")
    playground.get_by_label("Guidance").fill("7.5")
    playground.get_by_label("Scheduler").select_option("dpm++2m")
    prompt.press("Control+Enter")  # the keyboard path to Generate
    wait_for_status(page, "Done", LOAD_TIMEOUT_MS)
    _screenshot(page, "playground-after")

    width, height, rgba = canvas_rgba(page)
    reference = native.generate("a photo of a red cat", "", seed=42, steps=3, guidance=7.5)
    assert (width, height) == (64, 64)
    diff = max_diff(rgba, reference.rgba)
    _record("playground dpm++2m guidance 7.5, 3 steps: max pixel diff", diff)
    assert diff <= MAX_PIXEL_DIFF
    caption = playground.locator(".websd-caption").inner_text()
    assert "Seed 42" in caption and "per step" in caption

    with page.expect_download() as download:
        playground.get_by_role("button", name="Download PNG").click()
    png = Image.open(download.value.path())
    assert png.info["parameters"].startswith("prompt: a photo of a red cat, negative_prompt: ,")
    manifest = json.loads((site / "assets/websd/models/first/websd-model.json").read_text())
    assert png.info["parameters"].endswith(f"model: {manifest['content_hash']}")
    pixels = np.frombuffer(rgba, np.uint8).reshape(64, 64, 4)[..., :3]
    assert (np.asarray(png.convert("RGB")) == pixels).all()

    # The model is compiled for two sizes: the picker offers both, and the wide one is right.
    size = playground.get_by_label("Size")
    assert size.locator("option").all_inner_texts() == ["64 × 64", "128 × 64"]
    size.select_option("128x64")
    playground.get_by_label("Steps").fill("2")
    playground.get_by_role("button", name="Generate").click()
    wait_for_status(page, "Done", LOAD_TIMEOUT_MS)
    _screenshot(page, "playground-wide")
    width, height, rgba = canvas_rgba(page)
    reference = native.generate(
        "a photo of a red cat", "", seed=42, steps=2, guidance=7.5, size=ImageSize(128, 64)
    )
    assert (width, height) == (128, 64)
    diff = max_diff(rgba, reference.rgba)
    _record("playground at 128x64, 2 steps: max pixel diff", diff)
    assert diff <= MAX_PIXEL_DIFF
    size.select_option("64x64")

    # Cancel from the keyboard while a long run is going.
    playground.get_by_label("Steps").fill("40")
    playground.get_by_role("button", name="Generate").click()
    wait_for_status(page, "Step 1 of 40", 60_000)
    page.keyboard.press("Escape")
    page.wait_for_function(
        "el => el.querySelector('.websd-status').textContent === 'Cancelled.'",
        arg=playground.element_handle(),
        timeout=10_000,
    )
    assert playground.get_by_role("button", name="Generate").is_enabled()

    # library, shard, tensor index and tokenizer were cached; the action removes them
    playground.get_by_role("button", name="Clear cached weights").click()
    wait_for_status(page, "Removed 4 cached files", 10_000)

    assert log.errors == []
    assert log.foreign(server.origin) == []
    loaded = {Path(r.path).name for r in server.requests if r.status == 200}
    assert {
        "websd.js",
        "websd-worker.js",
        "websd.css",
        "model.wasm",
        "params_shard_0.bin",
    } <= loaded


API_SCRIPT = """async ([bundle, model]) => {
  const websd = await import(bundle);
  const events = [];
  const sd = await websd.createPipeline({
    model,
    onProgress: (p) => events.push(p.kind === "preview" ? { kind: p.kind, step: p.step } : p),
  });
  const pixels = (image) => ({ ...image, data: Array.from(image.data) });
  const guided = await sd.generate({
    prompt: "a blue dog", negativePrompt: "red", seed: 7, steps: 3, guidance: 5,
    scheduler: "euler-a", previewEvery: 1,
  });
  const guidedEvents = events.splice(0);
  const unguided = await sd.generate({
    prompt: "a photo of a red cat ".repeat(20), seed: 1234, steps: 2, guidance: 1,
    scheduler: "ddim",
  });
  events.splice(0);

  // Cancelled after its first step, a long run must not hold up the next one.
  const controller = new AbortController();
  const cancelled = sd.generate({
    prompt: "a cat", seed: 1, steps: 50, guidance: 7.5, signal: controller.signal,
  });
  const firstStep = setInterval(() => {
    if (events.some((e) => e.kind === "step")) controller.abort();
  }, 20);
  const cancelError = await cancelled.then(() => null, (e) => ({ name: e.name, code: e.code }));
  clearInterval(firstStep);
  const start = performance.now();
  await sd.generate({ prompt: "a cat", seed: 2, steps: 1, guidance: 7.5 });
  const afterCancelMs = performance.now() - start;
  await sd.dispose();
  const disposed = await sd.generate({ prompt: "a cat" }).then(() => null, (e) => e.code);
  return {
    adapter: sd.adapter, guided: pixels(guided), unguided: pixels(unguided), guidedEvents,
    cancelError, afterCancelMs, disposed,
  };
}"""


def test_api_from_page_script(first_page, server, native):
    page, log = first_page
    # A relative model URL resolves against the page, /sub/path/first/.
    result = page.evaluate(
        API_SCRIPT,
        [server.url + "assets/websd/websd.js", "../assets/websd/models/first/"],
    )
    guided, unguided = result["guided"], result["unguided"]
    assert guided["seed"] == 7 and guided["width"] == 64 and guided["height"] == 64
    assert not guided["promptTruncated"]
    steps = [e for e in result["guidedEvents"] if e["kind"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3] and all(e["ms"] > 0 for e in steps)
    previews = [e["step"] for e in result["guidedEvents"] if e["kind"] == "preview"]
    assert previews == [1, 2]
    timings = guided["timings"]
    assert timings["textMs"] > 0 and timings["unetMsPerStep"] > 0 and timings["vaeMs"] > 0

    reference = native.generate(
        "a blue dog", "red", seed=7, steps=3, guidance=5.0, scheduler="euler-a"
    )
    guided_diff = max_diff(guided["data"], reference.rgba)
    long_prompt = "a photo of a red cat " * 20
    reference = native.generate(long_prompt, seed=1234, steps=2, guidance=1.0, scheduler="ddim")
    assert reference.truncated and unguided["promptTruncated"]
    unguided_diff = max_diff(unguided["data"], reference.rgba)
    _record("api euler-a guidance 5, 3 steps, negative prompt: max pixel diff", guided_diff)
    _record("api ddim guidance 1 (denoise_cond), truncated prompt: max pixel diff", unguided_diff)
    _record("api timings (ms)", timings)
    assert guided_diff <= MAX_PIXEL_DIFF and unguided_diff <= MAX_PIXEL_DIFF

    assert result["cancelError"] == {"name": "WebsdError", "code": "aborted"}
    # A run that kept going would take ~49 more guided steps before this one-step run.
    assert result["afterCancelMs"] < 25 * timings["unetMsPerStep"]
    assert result["disposed"] == "closed"
    assert log.errors == [] and log.foreign(server.origin) == []


def test_float16_model_runs_its_float32_fallback(chromium, server, native):
    """SwiftShader lacks shader-f16: the float16 model's playground runs its float32 fallback
    by itself, says so, and never fetches the float16 files."""
    context = chromium.new_context()
    page = context.new_page()
    log = watch(page)
    page.goto(server.url + "half/")
    playground = page.locator(PLAYGROUND)
    wait_for_status(page, "Ready", 30_000)
    assert _status(page).endswith("float32 fallback: this GPU lacks shader-f16.")
    _screenshot(page, "fallback-before")
    playground.get_by_label("Steps").fill("2")
    playground.get_by_role("button", name="Generate").click()
    wait_for_status(page, "Done", LOAD_TIMEOUT_MS)
    _screenshot(page, "fallback-after")
    # The fallback is the float32 build of the first model's source: the native runner's image.
    width, height, rgba = canvas_rgba(page)
    reference = native.generate("a photo of a red cat", "", seed=42, steps=2, guidance=7.5)
    assert (width, height) == (64, 64)
    diff = max_diff(rgba, reference.rgba)
    _record("float32 fallback playground, 2 steps: max pixel diff", diff)
    assert diff <= MAX_PIXEL_DIFF
    assert playground.locator(".websd-caption").inner_text().endswith("· float32 fallback")
    assert server.fetched("half/float32/model.wasm")
    half = [r.path for r in server.requests if "/models/half/" in r.path]
    assert {Path(p).name for p in half if "/half/float32/" not in p} == {"websd-model.json"}
    assert log.errors == [] and log.foreign(server.origin) == []
    context.close()


@pytest.fixture(scope="module")
def broken_site(site, tmp_path_factory) -> Path:
    """The site with the first model's shard corrupted and the second model's shard missing."""
    copy = tmp_path_factory.mktemp("broken") / "site"
    shutil.copytree(site, copy)
    models = copy / "assets" / "websd" / "models"
    shard = models / "first" / "params_shard_0.bin"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.unlink()  # the copy may share the build's inode
    shard.write_bytes(bytes(data))
    (models / "second" / "params_shard_0.bin").unlink()
    return copy


def _alert(page, code: str, timeout: int = 120_000) -> str:
    page.wait_for_function(
        "([el, code]) => el.dataset.error === code",
        arg=[page.locator(PLAYGROUND).element_handle(), code],
        timeout=timeout,
    )
    alert = page.locator(f"{PLAYGROUND} .websd-alert")
    assert alert.is_visible()
    return alert.inner_text()


def test_corrupt_shard_is_downloaded_again_then_reported(chromium, broken_site):
    with serve(broken_site) as server:
        context = chromium.new_context()
        page = context.new_page()
        log = watch(page)
        page.goto(server.url + "first/")
        page.get_by_role("button", name="Generate").click()
        text = _alert(page, "integrity")
        _screenshot(page, "error-integrity")
        assert "params_shard_0.bin is corrupt" in text
        assert len(server.fetched("first/params_shard_0.bin")) == 2  # one retry, then the error
        assert page.get_by_role("button", name="Retry").is_visible()
        assert log.errors == []

        page.goto(server.url + "nested/second/")
        page.get_by_role("button", name="Generate").click()
        assert "404" in _alert(page, "download")
        context.close()


def test_no_webgpu_and_insecure_pages_say_so(playwright, server):
    # Headless Chromium has no WebGPU adapter without --enable-unsafe-webgpu.
    browser = launch(
        playwright, webgpu=False, extra_args=("--host-resolver-rules=MAP websd.test 127.0.0.1",)
    )
    try:
        page = browser.new_page()
        log = watch(page)
        page.goto(server.url + "first/")
        assert "no GPU adapter" in _alert(page, "no-adapter", timeout=30_000)
        _screenshot(page, "error-no-adapter")
        assert page.get_by_role("button", name="Generate").is_disabled()
        assert not page.get_by_role("button", name="Retry").is_visible()

        insecure = server.url.replace("127.0.0.1", "websd.test") + "first/"
        page.goto(insecure)
        assert "secure" in _alert(page, "insecure-context", timeout=30_000)
        assert log.errors == []
    finally:
        browser.close()


def test_browser_without_webgpu_api(chromium, server):
    context = chromium.new_context()
    context.add_init_script("delete Navigator.prototype.gpu")
    page = context.new_page()
    page.goto(server.url + "first/")
    assert "no WebGPU" in _alert(page, "no-webgpu", timeout=30_000)
    context.close()


@pytest.mark.parametrize(
    ("patch", "code", "words"),
    [
        ({"features": ["shader-f16"]}, "no-shader-f16", "no float32 version of it is published"),
        (
            {"limits": {"maxStorageBufferBindingSize": 2**40}},
            "limits",
            "maxStorageBufferBindingSize",
        ),
    ],
)
def test_model_the_adapter_cannot_run(chromium, server, patch, code, words):
    """An fp16 model, or one needing larger limits, on SwiftShader: said before any download."""
    context = chromium.new_context()

    def patched_manifest(route):
        manifest = route.fetch().json()
        manifest["webgpu"] |= patch
        route.fulfill(json=manifest)

    context.route("**/websd-model.json", patched_manifest)
    page = context.new_page()
    page.goto(server.url + "first/")
    assert words in _alert(page, code, timeout=30_000)
    assert page.get_by_role("button", name="Generate").is_disabled()
    context.close()
