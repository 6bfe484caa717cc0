"""Kernel launches and work per call: what each compiled function asks of a GPU, by kind.

    python benchmarks/kernel_census.py [sd15 ...] [--dtype float16]

Counted in the module as `lowering(webgpu)` leaves it (no weight converted, nothing linked),
on any machine:

- launches: tvmjs runs each kernel call as one compute pass, so these are the passes the GPU
  profile of benchmarks/gpu.py times (with its kinds): a measure of launch overhead and of
  how much fusion there is;
- work (benchmarks/kernel_work.py): GFLOP, GB read from global memory by load instructions,
  their ratio (flops per byte: how well the schedules tile) and flops per invocation;
- memory access (benchmarks/memory_access.py), per warp instruction: the share of each
  global 32-byte sector touched that is used (coalescing), the bank passes workgroup-memory
  accesses take per pass their bytes need (bank conflicts; 1 is conflict-free), and the
  flops per workgroup-memory instruction and per bank pass (how much work each read from a
  tile feeds, through registers: a vec4 read is one instruction of 2 to 4 passes).

With `--matrix MxNxK-sS` (float16), the memory access of each GEMM kernel that has a
subgroup-matrix stand-in for those fragments (websd.matrix_kernels) is the stand-in's: its
staging and write-back, as its multiply is opaque to the count (so are its subgroup-matrix
loads, which leaves its flops per workgroup-memory access meaningless). Work is the library
kernel's: the same arithmetic on the same bytes.

Models are random-weight pipelines made from the configs in websd.testing.configs.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kernel_kinds import KINDS, OTHER, kernel_kind
from kernel_work import NOTHING, KernelWork, kernel_work
from memory_access import NO_ACCESS, MemoryAccess, memory_access

if TYPE_CHECKING:
    from websd.spec import MatrixConfig


@dataclass
class FunctionKernels:
    """One compiled function's kernel calls per call of it, by kind."""

    launches: Counter[str] = field(default_factory=Counter)
    work: dict[str, KernelWork] = field(default_factory=lambda: defaultdict(lambda: NOTHING))
    access: dict[str, MemoryAccess] = field(default_factory=lambda: defaultdict(lambda: NO_ACCESS))


def kernels(
    folder: Path, dtype: str, matrix: MatrixConfig | None = None
) -> dict[str, FunctionKernels]:
    """Compiled function name → its kernel calls, by kind; with `matrix`, the memory access
    of each GEMM kernel that has a subgroup-matrix stand-in for those fragments is its."""
    import tvm
    from tvm import relax

    from websd.assemble import assemble
    from websd.matrix_kernels import matrix_gemms
    from websd.passes.mixed_precision import float16_module
    from websd.passes.pipeline import lowering, prepare
    from websd.spec import BuildOptions, read_spec
    from websd.targets import WEBGPU, target

    model = assemble(read_spec(folder, BuildOptions(dtype=dtype)), progress=lambda _: None)
    module = float16_module(model) if dtype == "float16" else model.module
    functions = tvm.IRModule({name: module[name] for name in model.groups})
    webgpu = target(WEBGPU)
    with webgpu:
        prepared = prepare(functions)
        lowered = lowering(webgpu)(prepared)
    stand_ins = {}
    if matrix is not None:
        stand_ins = {
            var.name_hint: f for var, f in matrix_gemms(prepared, matrix).functions_items()
        }
    found = {}
    for name in model.groups:
        calls = FunctionKernels()
        for block in lowered[name].body.blocks:
            for binding in block.bindings:
                callee = getattr(binding.value, "op", None)
                if isinstance(callee, relax.GlobalVar) and isinstance(
                    lowered[callee], tvm.tirx.PrimFunc
                ):
                    kind = kernel_kind(callee.name_hint)
                    kernel = lowered[callee]
                    calls.launches[kind] += 1
                    calls.work[kind] += kernel_work(kernel)
                    calls.access[kind] += memory_access(stand_ins.get(callee.name_hint, kernel))
        found[name] = calls
    return found


def _work_cell(work: KernelWork) -> str:
    if not work.invocations:
        return "-"
    intensity = work.flops / work.global_bytes if work.global_bytes else 0.0
    return (
        f"{work.flops / 1e9:.1f} GF {work.global_bytes / 1e9:.2f} GB "
        f"{intensity:.1f} F/B {work.flops / work.invocations:.0f} F/inv"
    )


def _access_cell(access: MemoryAccess, work: KernelWork) -> str:
    if not access.global_requests:
        return "-"
    shared = "no wg mem"
    if access.shared_requests:
        per_access = work.flops / access.shared_requests
        per_pass = work.flops / access.shared_wavefronts
        shared = (
            f"{access.conflict_ways:.2f} ways, {per_access:.0f} F/wg access, "
            f"{per_pass:.0f} F/wg pass"
        )
    return f"{100 * access.sector_efficiency:.0f}% of sectors used, {shared}"


def main() -> None:
    from websd.spec import MatrixConfig
    from websd.testing.configs import CONFIGS
    from websd.testing.pipelines import save_random_pipeline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", nargs="*", default=["sd15"], choices=CONFIGS)
    parser.add_argument("--dtype", default="float16", choices=("float32", "float16"))
    parser.add_argument(
        "--matrix", type=MatrixConfig.parse, help="count GEMMs on these subgroup matrices"
    )
    args = parser.parse_args()
    label = args.dtype + (f", on {args.matrix.name} subgroup matrices" if args.matrix else "")
    kinds = [kind for kind, _ in KINDS] + [OTHER]
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.configs:
            folder = save_random_pipeline(CONFIGS[name], Path(scratch) / name, seed=0)
            found = kernels(folder, args.dtype, args.matrix)
            print(f"{name} ({label}): kernel launches per call")
            print(f"  {'function':<24} {'total':>6}" + "".join(f" {k:>18}" for k in kinds))
            for function, calls in found.items():
                cells = "".join(f" {calls.launches[k]:>18}" for k in kinds)
                print(f"  {function:<24} {sum(calls.launches.values()):>6}{cells}")
            print(f"{name} ({label}): work per call (GFLOP, GB read, flops/byte, flops/inv)")
            for function, calls in found.items():
                print(f"  {function}")
                total = sum(calls.work.values(), NOTHING)
                for kind in [*kinds, "total"]:
                    work = total if kind == "total" else calls.work[kind]
                    print(f"    {kind:<18} {_work_cell(work)}")
            print(f"{name} ({label}): memory access per warp instruction")
            for function, calls in found.items():
                print(f"  {function}")
                total = sum(calls.access.values(), NO_ACCESS)
                total_work = sum(calls.work.values(), NOTHING)
                for kind in [*kinds, "total"]:
                    access = total if kind == "total" else calls.access[kind]
                    work = total_work if kind == "total" else calls.work[kind]
                    print(f"    {kind:<18} {_access_cell(access, work)}")


if __name__ == "__main__":
    main()
