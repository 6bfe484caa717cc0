"""Build cost: seconds per stage, artifact bytes and peak memory, cold and warm.

    python benchmarks/build.py [tiny-sd1 sd15 ...] [--dtype float16]

Each build runs in a fresh process (so peak RSS is its own) against an empty cache (cold),
then again against the filled cache (warm). Models are random-weight pipelines made from
the configs in websd.testing.configs: the published SD configs at full size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import json, resource, sys
from pathlib import Path
from websd.build import build_model
from websd.progress import Reporter
from websd.spec import BuildOptions

def peak_gib():
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return max(u.ru_maxrss for u in usage) / 2**20

class PeakPerStage(Reporter):
    # Records the peak RSS as each stage ends.

    def __init__(self):
        super().__init__(lambda message: None)
        self.peaks = {}

    def __call__(self, message):
        for name in self.seconds:
            self.peaks.setdefault(name, peak_gib())

report = PeakPerStage()
result = build_model(sys.argv[1], None, BuildOptions(dtype=sys.argv[2]), report, Path(sys.argv[3]))
print(json.dumps({
    "stages": report.seconds,
    "peaks": report.peaks,
    "cached": result.cached,
    "wasm_bytes": result.manifest["library"]["bytes"],
    "weight_bytes": result.manifest["weights"]["bytes"],
    "webgpu": result.manifest["webgpu"],
    "peak_rss_gib": peak_gib(),
}))
"""


def _build(folder: Path, dtype: str, cache: Path) -> dict:
    """One build in a child process; `cache` holds compiled models only (cold when empty):
    the runtime bitcode stays in the user cache, built once, as on any machine's second build."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), dtype, str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["total_s"] = time.perf_counter() - start
    return result


def main() -> None:
    from websd.testing.configs import CONFIGS
    from websd.testing.pipelines import save_random_pipeline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", nargs="*", default=["tiny-sd1", "sd15"], choices=CONFIGS)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.configs:
            folder = save_random_pipeline(CONFIGS[name], Path(scratch) / name, seed=0)
            cache = Path(scratch) / f"cache-{name}"
            cold = _build(folder, args.dtype, cache)
            warm = _build(folder, args.dtype, cache)
            print(f"{name} ({args.dtype})")
            for stage, seconds in cold["stages"].items():
                peak = cold["peaks"].get(stage, 0.0)
                print(f"  {stage:<16} {seconds:8.1f} s   peak RSS so far {peak:5.2f} GiB")
            peak = cold["peak_rss_gib"]
            print(f"  {'cold total':<16} {cold['total_s']:8.1f} s   peak RSS {peak:.2f} GiB")
            print(f"  {'warm total':<16} {warm['total_s']:8.1f} s   (cache hit: {warm['cached']})")
            print(f"  .wasm            {cold['wasm_bytes'] / 2**20:8.1f} MiB")
            print(f"  weights          {cold['weight_bytes'] / 2**20:8.1f} MiB")
            gpu = cold["webgpu"]
            print(f"  largest binding  {gpu['largest_binding_bytes'] / 2**20:8.1f} MiB")
            print(f"  largest buffer   {gpu['largest_buffer_bytes'] / 2**20:8.1f} MiB")
            print(f"  peak GPU memory  {gpu['peak_bytes'] / 2**30:8.2f} GiB")


if __name__ == "__main__":
    main()
