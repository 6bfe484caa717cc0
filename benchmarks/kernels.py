"""Kernel launches per call: how many WebGPU dispatches each compiled function makes, by kind.

    python benchmarks/kernels.py [sd15 ...] [--dtype float16]

Counted in the module as `lowering(webgpu)` leaves it (no weight converted, nothing linked).
tvmjs runs each kernel call as one compute pass, so these are the passes the GPU profile of
benchmarks/gpu.py times, counted on any machine: a measure of launch overhead and of how
much fusion there is, with the kinds of benchmarks/gpu.py. Models are random-weight
pipelines made from the configs in websd.testing.configs.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

from gpu import KINDS, OTHER, kernel_kind


def launches(folder: Path, dtype: str) -> dict[str, Counter[str]]:
    """Compiled function name → kernel calls per call of it, by kind."""
    import tvm
    from tvm import relax

    from websd.assemble import assemble
    from websd.passes.mixed_precision import float16_module
    from websd.passes.pipeline import lowering, prepare
    from websd.spec import BuildOptions, read_spec
    from websd.targets import WEBGPU, target

    model = assemble(read_spec(folder, BuildOptions(dtype=dtype)), progress=lambda _: None)
    module = float16_module(model) if dtype == "float16" else model.module
    functions = tvm.IRModule({name: module[name] for name in model.groups})
    webgpu = target(WEBGPU)
    with webgpu:
        lowered = lowering(webgpu)(prepare(functions))
    counts = {}
    for name in model.groups:
        kinds: Counter[str] = Counter()
        for block in lowered[name].body.blocks:
            for binding in block.bindings:
                callee = getattr(binding.value, "op", None)
                if isinstance(callee, relax.GlobalVar) and isinstance(
                    lowered[callee], tvm.tirx.PrimFunc
                ):
                    kinds[kernel_kind(callee.name_hint)] += 1
        counts[name] = kinds
    return counts


def main() -> None:
    from websd.testing.configs import CONFIGS
    from websd.testing.pipelines import save_random_pipeline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", nargs="*", default=["sd15"], choices=CONFIGS)
    parser.add_argument("--dtype", default="float16", choices=("float32", "float16"))
    args = parser.parse_args()
    kinds = [kind for kind, _ in KINDS] + [OTHER]
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.configs:
            folder = save_random_pipeline(CONFIGS[name], Path(scratch) / name, seed=0)
            print(f"{name} ({args.dtype}): kernel launches per call")
            print(f"  {'function':<24} {'total':>6}" + "".join(f" {k:>18}" for k in kinds))
            for function, counts in launches(folder, args.dtype).items():
                cells = "".join(f" {counts[k]:>18}" for k in kinds)
                print(f"  {function:<24} {sum(counts.values()):>6}{cells}")


if __name__ == "__main__":
    main()
