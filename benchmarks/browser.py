"""The browser runtime in headless Chromium (WebGPU on SwiftShader, or a GPU if the machine has
one): time to first image on a cold cache and on a warm one, ms per UNet step, bytes fetched.

    python benchmarks/browser.py [--model tiny-sd1 | --artifacts DIR] [--steps 4]

The page is a bare one that loads websd.js and calls `createPipeline` then `generate`, served
under a sub-path. Cold: a fresh browser profile. Warm: the same page reloaded, so the weights
come from the Cache API while the kernels are compiled again (browsers do not keep them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser import launch, serve, watch  # noqa: E402

PAGE = """<!doctype html><meta charset="utf-8"><title>websd benchmark</title>
<script type="module">
  import * as websd from "./assets/websd/websd.js";
  window.websd = websd;
</script>
"""

RUN = """async ([steps]) => {
  const start = performance.now();
  const marks = {};
  let fetched = 0;
  const sd = await websd.createPipeline({
    model: "models/bench/",
    onProgress: (p) => {
      marks[p.kind] ??= performance.now() - start;
      if (p.kind === "download") fetched = p.fetched;
    },
  });
  const ready = performance.now() - start;
  const image = await sd.generate({ prompt: "a photo of a red cat", seed: 42, steps });
  const total = performance.now() - start;
  await sd.dispose();
  return { marks, ready, total, fetched, timings: image.timings, adapter: sd.adapter };
}"""


def _artifacts(args: argparse.Namespace, scratch: Path) -> Path:
    if args.artifacts:
        return Path(args.artifacts)
    from websd.build import build_model
    from websd.testing.configs import CONFIGS
    from websd.testing.pipelines import save_random_pipeline

    pipeline = save_random_pipeline(CONFIGS[args.model], scratch / args.model, seed=0)
    return build_model(pipeline, scratch / "artifacts").folder


def _site(artifacts: Path, root: Path) -> Path:
    manifest = json.loads((artifacts / "websd-model.json").read_text())
    model = root / "models" / "bench"
    model.mkdir(parents=True)
    names = ["websd-model.json", manifest["library"]["path"], manifest["tokenizer"]]
    names += [manifest["weights"]["index"], *(s["path"] for s in manifest["weights"]["shards"])]
    for name in names:
        (model / name).symlink_to(artifacts / name)
    (root / "assets").mkdir()
    (root / "assets" / "websd").symlink_to(REPO / "site" / "assets" / "websd")
    (root / "index.html").write_text(PAGE)
    return root


def _measure(page, server, steps: int) -> dict:
    served = server.bytes_sent()
    page.wait_for_function("window.websd !== undefined")
    result = page.evaluate(RUN, [steps])
    result["served_bytes"] = server.bytes_sent() - served
    return result


def _row(name: str, r: dict) -> str:
    timings = r["timings"]
    kernels_s = (r["ready"] - r["marks"].get("compile", r["ready"])) / 1000
    return " | ".join(
        [
            f"{name:<4} first image {r['total'] / 1000:6.1f} s",
            f"ready {r['ready'] / 1000:6.1f} s (kernels {kernels_s:5.1f} s)",
            f"text {timings['textMs']:5.0f} ms",
            f"UNet {timings['unetMsPerStep']:5.0f} ms/step",
            f"VAE {timings['vaeMs']:5.0f} ms",
            f"model bytes fetched {r['fetched'] / 1e6:6.2f} MB",
            f"served {r['served_bytes'] / 1e6:6.2f} MB",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sd1", help="a websd.testing config name")
    parser.add_argument("--artifacts", help="an artifact folder to use instead of building")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        root = _site(_artifacts(args, scratch), scratch / "site")
        with serve(root) as server, sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_context().new_page()
            log = watch(page)
            page.goto(server.url)
            cold = _measure(page, server, args.steps)
            page.reload()
            warm = _measure(page, server, args.steps)
            browser.close()
    print(f"{args.artifacts or args.model}, {args.steps} steps, guidance 7.5, on {cold['adapter']}")
    print(_row("cold", cold))
    print(_row("warm", warm))
    if log.errors:
        print("page errors:", *log.errors, sep="\n  ")


if __name__ == "__main__":
    main()
