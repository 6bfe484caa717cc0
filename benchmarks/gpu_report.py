"""The GPU benchmark's report: what benchmarks/gpu.py measured, summarized and written as
text (gpu-report.txt) and JSON (gpu-report.json).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from kernel_kinds import KERNEL_SUFFIX, function_work, kernel_kind, kinds_work, profile_kinds
from text_table import table

FUNCTIONS = ("encode_text", "denoise", "decode_image")
TOP_KERNELS = 12


def whole_image_ms(medians: dict[str, float], steps: int) -> float | None:
    """A generation with classifier-free guidance: the prompt and the negative prompt encoded,
    `steps` guided UNet calls, one decode (scheduler arithmetic is negligible)."""
    if not all(f in medians for f in FUNCTIONS):
        return None
    return 2 * medians["encode_text"] + steps * medians["denoise"] + medians["decode_image"]


def summarize(library: dict[str, Any], torch_result: dict[str, Any] | None, steps: int) -> None:
    """Add medians, kinds, the whole-image estimate and the ratios to PyTorch to `library`."""
    functions = library.get("functions", {})
    medians = {name: statistics.median(f["ms"]) for name, f in functions.items() if f["ms"]}
    library["median_ms"] = medians
    profiled = {name: f["profile"] for name, f in functions.items() if "profile" in f}
    library["kinds_ms"] = {name: profile_kinds(profile) for name, profile in profiled.items()}
    library["kinds_work"] = {
        name: kinds_work(function_work(profile, library.get("kernel_work", {})))
        for name, profile in profiled.items()
    }
    library["whole_image_ms"] = whole_image_ms(medians, steps)
    if torch_result is not None and "denoise" in medians:
        library["denoise_over_torch"] = {
            dtype: medians["denoise"] / statistics.median(samples)
            for dtype, samples in torch_result["ms"].items()
        }


def output_differences(library: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Per function run in both, how far `library`'s sampled output lies from `reference`'s:
    the same library on its own kernels, with the same random weights and inputs. The
    largest difference where both are finite, beside the largest value; and the values
    that are not finite in each."""
    differences = {}
    for name, function in library.get("functions", {}).items():
        theirs = reference.get("functions", {}).get(name, {}).get("output")
        ours = function.get("output")
        if theirs is None or ours is None:
            continue
        pairs = [
            (a, b)
            for a, b in zip(ours["sample"], theirs["sample"], strict=True)
            if a is not None and b is not None
        ]
        differences[name] = {
            "max_abs_difference": max((abs(a - b) for a, b in pairs), default=0.0),
            "max_abs": max((abs(b) for _, b in pairs), default=0.0),
            "nonfinite": [ours["nonfinite"], theirs["nonfinite"]],
        }
    return differences


def _difference_lines(differences: dict[str, Any]) -> list[str]:
    """A run on subgroup matrices, its outputs beside the library's own kernels'."""
    cells = []
    for name, difference in differences.items():
        cell = f"{name} {difference['max_abs_difference']:.3g} of {difference['max_abs']:.3g}"
        ours, theirs = difference["nonfinite"]
        if ours or theirs:
            cell += f" ({ours} values not finite; {theirs} on its own kernels)"
        cells.append(cell)
    if not cells:
        return []
    return [f"  largest difference from its own kernels' outputs: {'; '.join(cells)}"]


def _trouble_lines(stage: dict[str, Any]) -> list[str]:
    """What went wrong in a node stage: cut at the deadline, failed, or GPU errors."""
    lines = [f"  {note.upper()}: {stage[note]}" for note in ("cut", "failed") if note in stage]
    if stage.get("errors"):
        lines.append(f"  GPU errors: {'; '.join(stage['errors'][:5])}")
    return lines


def _torch_lines(result: dict[str, Any] | None, reason: str) -> list[str]:
    if result is None:
        return [f"PyTorch: not run ({reason})"]
    if "failed" in result:
        return [f"PyTorch: failed: {result['failed']}"]
    shape = "×".join(str(d) for d in result["latents"])
    tf32 = f"; float32 {' and '.join(result['tf32'])} in TF32" if result["tf32"] else ""
    lines = [
        f"PyTorch {result['torch']}, diffusers {result['diffusers']} on {result['device']}: "
        f"UNet2DConditionModel in eager mode, latents {shape}{tf32}"
    ]
    rows = [["dtype", "median ms", "min ms", "calls"]]
    for dtype, samples in result["ms"].items():
        rows.append(
            [dtype, f"{statistics.median(samples):.1f}", f"{min(samples):.1f}", str(len(samples))]
        )
    return lines + table(rows)


def library_name(library: dict[str, Any]) -> str:
    """`model dtype`, and the subgroup matrices its GEMMs ran on, if any."""
    matrix = library.get("matrix")
    return f"{library['model']} {library['dtype']}" + (
        f" on subgroup matrices {matrix['config']}" if matrix is not None else ""
    )


def _library_lines(library: dict[str, Any]) -> list[str]:
    title = f"WebGPU {library_name(library)}"
    if "skipped" in library:
        return [f"{title}: skipped ({library['skipped']})"]
    if "skipped" in library.get("matrix", {}):
        return [f"{title}: not run, {library['matrix']['skipped']}"]
    adapter = library.get("adapter", {})
    lines = [
        f"{title}: model.wasm {library['wasm_bytes'] / 2**20:.1f} MiB built from "
        f"{library['built_from']}, on {adapter.get('vendor', '?')} "
        f"{adapter.get('architecture', '')} ({adapter.get('description', '?')})"
    ]
    if "subgroup_sizes" in adapter:
        low, high = adapter["subgroup_sizes"]
        lines.append(
            f"  subgroups of {low} to {high}; experimental features: "
            f"{', '.join(adapter['experimental_features']) or 'none'}; subgroup matrices: "
            f"{', '.join(adapter['subgroup_matrix_configs']) or 'none'}"
        )
    lines += _trouble_lines(library)
    if "matrix" in library:
        lines.append(f"  {library['matrix']['kernels']} GEMM kernels on subgroup matrices")
        lines += _difference_lines(library.get("outputs_vs_library", {}))
    if "compile_s" in library:
        lines.append(
            f"  pipelines compiled in {library['compile_s']:.1f} s, "
            f"random weights uploaded in {library.get('weights_s', 0):.1f} s"
        )
    functions = library.get("functions", {})
    rows = [
        [
            "function",
            "median ms",
            "min ms",
            "calls",
            "encode ms",
            "submits",
            "groups made",
            "one submit ms",
            "its encode ms",
            "new groups ms",
            "its encode ms",
            "GPU ms",
            "GPU span ms",
            "passes",
        ]
    ]
    for name, f in functions.items():
        profile = f.get("profile")
        gpu = (
            [
                f"{sum(k['ns'] for k in profile['kernels'].values()) / 1e6:.1f}",
                f"{profile['span_ns'] / 1e6:.1f}",
                str(profile["passes"]),
            ]
            if profile
            else ["-", "-", "-"]
        )
        rows.append(
            [
                name,
                f"{statistics.median(f['ms']):.1f}",
                f"{min(f['ms']):.1f}",
                str(len(f["ms"])),
                f"{statistics.median(f['encode_ms']):.1f}",
                str(f["submits"]),
                str(f["bind_groups"][-1]),
                f"{statistics.median(f['one_submit_ms']):.1f}",
                f"{statistics.median(f['one_submit_encode_ms']):.1f}",
                f"{statistics.median(f['new_bind_groups_ms']):.1f}",
                f"{statistics.median(f['new_bind_groups_encode_ms']):.1f}",
                *gpu,
            ]
        )
    if len(rows) > 1:
        lines += table(rows)
        lines.append(
            "  (ms per call: wall time from the first dispatch encoded to the GPU done, with "
            "the library's submits every few dozen kernels and its bind groups reused, as pages "
            "run it; encode ms: median CPU time recording and submitting the call's dispatches; "
            "submits: command buffers per call; groups made: bind groups that the last call "
            "had to make, finding none made before for those buffers; one submit ms: the same "
            "calls, in turn, with every dispatch submitted at the end, as tvmjs alone does, so "
            "that the GPU waits for all of the encoding, which is then the CPU's cost alone (its "
            "encode ms); new groups: those calls again with a new bind group for every "
            "dispatch, as tvmjs alone makes them; GPU ms: sum of the compute passes' timestamps "
            "in one call; span: first pass start to last end)"
        )
    kinds = library.get("kinds_ms", {})
    if kinds:
        names = list(kinds)
        rows = [["GPU ms by kind", *names]]
        for kind in next(iter(kinds.values())):
            cells = []
            for name in names:
                total = sum(kinds[name].values()) or 1.0
                cells.append(f"{kinds[name][kind]:.1f} ({100 * kinds[name][kind] / total:.0f}%)")
            rows.append([kind, *cells])
        lines += table(rows)
        lines += _rate_lines(kinds, library.get("kinds_work", {}))
    for name, f in functions.items():
        if "profile" not in f:
            continue
        kernels = f["profile"]["kernels"]
        total = sum(k["ns"] for k in kernels.values()) or 1
        top = sorted(kernels.items(), key=lambda item: -item[1]["ns"])[:TOP_KERNELS]
        lines.append(
            f"  top kernels of {name} ({len(kernels)} kernels, {f['profile']['passes']} passes):"
        )
        work = function_work(f["profile"], library.get("kernel_work", {}))
        rows = [["kernel", "kind", "calls", "GPU ms", "share", "µs/call", "TFLOP/s", "GB/s"]]
        for kernel, k in top:
            entry = work[KERNEL_SUFFIX.sub("", kernel)]
            rows.append(
                [
                    kernel,
                    kernel_kind(kernel),
                    str(k["calls"]),
                    f"{k['ns'] / 1e6:.2f}",
                    f"{100 * k['ns'] / total:.1f}%",
                    f"{k['ns'] / 1e3 / k['calls']:.0f}",
                    *_rates(entry["flops"], entry["global_bytes"], entry["ns"] / 1e6),
                ]
            )
        lines += table(rows, indent="    ")
    if any(f.get("profile") for f in functions.values()):
        lines.append(
            "    (TFLOP/s and GB/s, of global memory read by load instructions, are the whole "
            "kernel function's where it launches more than one kernel)"
        )
    return lines


def _number(value: float) -> str:
    """Three significant digits, without an exponent from 100 up."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _rates(flops: int, global_bytes: int, ms: float) -> list[str]:
    """TFLOP/s and GB/s read, as cells; '-' where there is none or it took no time."""
    return [
        _number(amount / ms / scale) if amount and ms else "-"
        for amount, scale in ((flops, 1e9), (global_bytes, 1e6))
    ]


def _rate_lines(kinds_ms: dict[str, Any], kinds_work: dict[str, Any]) -> list[str]:
    """Per function and kind, the work of one call and the rate the GPU did it at."""
    names = [name for name in kinds_ms if name in kinds_work]
    if not names:
        return []
    rows = [["work by kind", *names]]
    for kind in kinds_ms[names[0]]:
        cells = []
        for name in names:
            work, ms = kinds_work[name][kind], kinds_ms[name][kind]
            tflops, gbs = _rates(work["flops"], work["global_bytes"], ms)
            cells.append(f"{_number(work['flops'] / 1e9)} GFLOP, {tflops} TFLOP/s, {gbs} GB/s")
        rows.append([kind, *cells])
    return table(rows)


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The numbers that matter, last, so that the end of the output holds them."""
    steps = report["settings"]["steps"]
    torch_ms = (report["torch"] or {}).get("ms", {})
    rows = [["library", *FUNCTIONS, "whole image", *(f"denoise/PyTorch {d}" for d in torch_ms)]]
    for library in report["webgpu"]:
        medians = library.get("median_ms", {})
        ratios = library.get("denoise_over_torch", {})
        whole = library.get("whole_image_ms")
        image = "×".join(str(side) for side in reversed(library["image"]))
        rows.append(
            [
                library_name(library),
                *(f"{medians[f]:.1f}" if f in medians else "-" for f in FUNCTIONS),
                f"{whole / 1000:.2f} s at {image}" if whole is not None else "-",
                *(f"{ratios[d]:.1f}×" if d in ratios else "-" for d in torch_ms),
            ]
        )
    lines = [
        f"Summary: median ms per call; whole image = 2 × encode_text + {steps} × denoise"
        " + decode_image (prompt and negative prompt, guided steps, one decode)"
    ]
    lines += table(rows) if len(rows) > 1 else ["  no WebGPU library ran"]
    if torch_ms:
        times = ", ".join(f"{d} {statistics.median(t):.1f} ms" for d, t in torch_ms.items())
        lines.append(f"  PyTorch UNet (batch 2) on {report['torch']['device']}: {times}")
    gemm = _matrix_summary(report.get("matrix_gemm"), (report["torch"] or {}).get("gemm_ms", {}))
    if gemm is not None:
        lines.append(gemm)
    return lines


def report_text(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = [
        f"websd GPU benchmark, {report['date']}: median of up to {settings['iterations']} calls "
        f"after {settings['warmup']} warm-up (at most {settings['budget_s']:.0f} s of calls per "
        "function), then one profiled call",
        "",
        *_torch_lines(report["torch"], report["torch_note"]),
    ]
    if "matrix_gemm" in report:
        gemm_ms = (report["torch"] or {}).get("gemm_ms", {})
        lines += ["", *_matrix_lines(report["matrix_gemm"], gemm_ms)]
    for library in report["webgpu"]:
        lines += ["", *_library_lines(library)]
    lines += ["", *_summary_lines(report)]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu-report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "gpu-report.txt").write_text(report_text(report))


def _gemm_timings(result: dict[str, Any], torch_ms: dict[str, list[float]]) -> list[dict]:
    """Each subgroup-matrix GEMM shape's median ms and TFLOP/s, and PyTorch's where it ran."""
    timings = []
    for measured in result["shapes"]:
        m, n, k = measured["m"], measured["n"], measured["k"]
        ms = statistics.median(measured["ms"])
        samples = torch_ms.get(f"{m}x{n}x{k}")
        theirs = statistics.median(samples) if samples else None
        flops = 2 * m * n * k
        timings.append(
            {
                "shape": f"{m}×{n}×{k}",
                "ms": ms,
                "tflops": flops / (ms * 1e9),
                "torch_ms": theirs,
                "torch_tflops": flops / (theirs * 1e9) if theirs else None,
                "error": measured["relative_error"],
            }
        )
    return timings


def _matrix_lines(result: dict[str, Any] | None, torch_ms: dict[str, list[float]]) -> list[str]:
    """The subgroup-matrix stage's section of the report."""
    title = "Subgroup-matrix GEMM (tensor cores, Dawn's chromium-experimental-subgroup-matrix)"
    if result is None:
        return [f"{title}: not run (out of time)"]
    if "skipped" in result:
        return [f"{title}: skipped on {result.get('adapter', '?')}: {result['skipped']}"]
    tile = "×".join(str(d) for d in result.get("tile", []))
    lines = [
        f"{title} on {result.get('adapter', '?')}: {result.get('config', '?')} fragments, "
        f"subgroups of {result['subgroup_sizes'][0]}, {tile} tiles per workgroup"
    ]
    lines += _trouble_lines(result)
    rows = [["M×N×K", "median ms", "TFLOP/s", "PyTorch ms", "PyTorch TFLOP/s", "ratio", "error"]]
    for t in _gemm_timings(result, torch_ms):
        theirs = t["torch_ms"]
        rows.append(
            [
                t["shape"],
                f"{t['ms']:.3f}",
                f"{t['tflops']:.3g}",
                *(
                    [
                        f"{theirs:.3f}",
                        f"{t['torch_tflops']:.3g}",
                        f"{t['ms'] / theirs:.2f}×",
                    ]
                    if theirs is not None
                    else ["-", "-", "-"]
                ),
                f"{t['error']:.1g}",
            ]
        )
    if len(rows) > 1:
        lines += [
            *table(rows),
            "  (float16 operands, summed in the fragments' result type; ms: median wall time "
            "per GEMM of submits of repeated dispatches; ratio: ms over PyTorch's float16 "
            "torch.matmul on the same device; error: the largest of sampled products' "
            "|error| / max(1, |sum|))",
        ]
    return lines


def _matrix_summary(result: dict[str, Any] | None, torch_ms: dict[str, list[float]]) -> str | None:
    """One line for the report's summary: each shape's TFLOP/s, and its time over PyTorch's."""
    if not result or not result.get("shapes"):
        return None
    cells = []
    for t in _gemm_timings(result, torch_ms):
        cell = f"{t['shape']} {t['tflops']:.3g} TFLOP/s"
        if t["torch_ms"] is not None:
            cell += f" ({t['ms'] / t['torch_ms']:.2f}× PyTorch's ms)"
        cells.append(cell)
    return f"  subgroup-matrix GEMM ({result['config']}): {'; '.join(cells)}"
