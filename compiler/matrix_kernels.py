"""Subgroup-matrix kernels: the WGSL that stands in for a library's GEMM kernels on adapters
with `chromium-experimental-subgroup-matrix`.

`websd.schedules.matrix_gemm` leaves the multiply of each float16 GEMM kernel to placeholder
calls; this module writes them out as subgroup-matrix builtins, for one of the adapter's
fragment shapes (`MatrixConfig`). Each subgroup owns a block of the tile's fragments, each
accumulator a variable of its own (WGSL has no arrays of subgroup matrices), found by
`@builtin(subgroup_id)`: the builtins need offsets that WGSL's uniformity analysis can prove
uniform, which an index derived from `local_invocation_index` is not.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import tvm

from .schedules.matrix_gemm import MATRIX_GEMM_ATTR, MMA, STORE, MatrixGemm
from .spec import MatrixConfig

FEATURE = "chromium-experimental-subgroup-matrix"
ENABLE = "enable chromium_experimental_subgroup_matrix;"
SUBGROUP = "websd_subgroup"

_HEADER = re.compile(r"^// Function: (\w+)\n//-+\n", re.MULTILINE)
_INT = r"(\d+)i"
_MMA_CALL = re.compile(rf"^( *){MMA}\((\w+), (\w+)((?:, \d+i){{8}})\);$", re.MULTILINE)
_STORE_CALL = re.compile(rf"^( *){STORE}\((\w+), ([^,]+), {_INT}, {_INT}\);$", re.MULTILINE)
_ENTRY = re.compile(r"@compute @workgroup_size\([^)]*\)\nfn (\w+)\((.*?)\n\) \{\n", re.DOTALL)


class MatrixRewriteError(RuntimeError):
    """A kernel's placeholders are not as `websd.schedules.matrix_gemm` writes them."""


def kernel_sources(wgsl: str) -> dict[str, str]:
    """Each kernel's own WGSL, by entry point, from a webgpu module's `inspect_source()`
    (which heads each kernel's source with its name)."""
    headers = list(_HEADER.finditer(wgsl))
    sources: dict[str, str] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following is not None else len(wgsl)
        sources[header.group(1)] = wgsl[header.end() : end]
    return {name: code for name, code in sources.items() if code.strip()}


def matrix_kernels(wgsl: str, config: MatrixConfig) -> dict[str, str]:
    """The kernels of a module lowered with `MatrixGemm(config)` that multiply on subgroup
    matrices, by entry point, their placeholders written out."""
    return {
        name: _rewrite(code, config)
        for name, code in kernel_sources(wgsl).items()
        if f"{MMA}(" in code
    }


def _rewrite(code: str, config: MatrixConfig) -> str:
    calls = _MMA_CALL.findall(code)
    if not calls or len(set(call[1:] for call in calls)) != 1:
        raise MatrixRewriteError("expected one kind of multiply placeholder per kernel")
    _, a, b, numbers = calls[0]
    depth, frags_m, frags_n, columns, a_along_k, a_stride, b_along_k, b_stride = (
        int(number) for number in re.findall(_INT, numbers)
    )
    operands = (_Operand(a, bool(a_along_k), a_stride), _Operand(b, bool(b_along_k), b_stride))
    shape = _Shape(config, depth, frags_m, frags_n, columns, operands)
    entry = _ENTRY.search(code)
    if entry is None:
        raise MatrixRewriteError("found no compute entry point")
    params = f"{entry.group(2)},\n  @builtin(subgroup_id) {SUBGROUP} : u32"
    declarations = "".join(f"  {line}\n" for line in shape.declarations())
    code = (
        code[: entry.start(2)]
        + params
        + code[entry.end(2) : entry.end()]
        + declarations
        + code[entry.end() :]
    )
    code = _MMA_CALL.sub(lambda m: shape.multiply(m.group(1)), code)
    code = _STORE_CALL.sub(
        lambda m: shape.store(
            m.group(1), m.group(2), m.group(3), int(m.group(4)), along_rows=m.group(5) == "1"
        ),
        code,
    )
    if MMA in code or STORE in code:
        raise MatrixRewriteError("a placeholder is left that this rewrite does not know")
    return code.replace("enable f16;", f"enable f16;\n{ENABLE}", 1)


@dataclasses.dataclass(frozen=True)
class _Operand:
    """A staged tile of A or B in workgroup memory: `array`, laid out along k (a row of the
    tile every `stride` values) or along the tile's rows (a step of k every `stride`)."""

    array: str
    along_k: bool
    stride: int

    def offset(self, row: str, step: int) -> str:
        """Where the fragment at tile row `row` and step `step` of k starts."""
        if self.along_k:
            return f"({row}) * {self.stride}u + {step}u"
        return f"{step * self.stride}u + {row}"

    def load(self, kind: str, k_along_rows: bool) -> str:
        """A fragment's load from this tile, as a matrix of `kind` whose rows run along k
        where `k_along_rows` (a left matrix, A) and whose columns do otherwise (right, B)."""
        major = "row_major" if self.along_k == k_along_rows else "col_major"
        return f"subgroupMatrixLoad<{kind}, {major}>(&{self.array}, {{offset}}, {self.stride}u)"


class _Shape:
    """One kernel's fragments: a subgroup's `frags_m × frags_n` accumulators, at row
    `subgroup / columns` and column `subgroup % columns` of the workgroup's grid of subgroups,
    over tiles `depth` deep along k."""

    def __init__(
        self,
        config: MatrixConfig,
        depth: int,
        frags_m: int,
        frags_n: int,
        columns: int,
        operands: tuple[_Operand, _Operand],
    ) -> None:
        if depth % config.k:
            raise MatrixRewriteError(f"a tile {depth} deep is no whole number of {config.k}")
        self.config = config
        self.depth = depth
        self.frags_m = frags_m
        self.frags_n = frags_n
        self.columns = columns
        self.operands = operands

    def accumulator(self, i: int, j: int) -> str:
        return f"websd_acc_{i}_{j}"

    def declarations(self) -> list[str]:
        result = f"subgroup_matrix_result<f32, {self.config.n}, {self.config.m}>"
        return [
            f"var {self.accumulator(i, j)} = {result}();"
            for i in range(self.frags_m)
            for j in range(self.frags_n)
        ]

    def multiply(self, indent: str) -> str:
        """One step of k: A's tile by B's, into each of the subgroup's accumulators; between
        barriers, as the staging that precedes and follows it writes what it reads."""
        m, n, k = self.config.m, self.config.n, self.config.k
        a, b = self.operands
        left = a.load(f"subgroup_matrix_left<f16, {k}, {m}>", k_along_rows=True)
        right = b.load(f"subgroup_matrix_right<f16, {n}, {k}>", k_along_rows=False)
        lines = [
            "workgroupBarrier();",
            "{",
            f"  let websd_row = ({SUBGROUP} / {self.columns}u) * {self.frags_m * m}u;",
            f"  let websd_column = ({SUBGROUP} % {self.columns}u) * {self.frags_n * n}u;",
        ]
        for step in range(0, self.depth, k):
            for i in range(self.frags_m):
                offset = a.offset(f"websd_row + {i * m}u", step)
                lines.append(f"  let websd_a_{step}_{i} = {left.format(offset=offset)};")
            for j in range(self.frags_n):
                offset = b.offset(f"websd_column + {j * n}u", step)
                lines.append(f"  let websd_b_{step}_{j} = {right.format(offset=offset)};")
            for i in range(self.frags_m):
                for j in range(self.frags_n):
                    acc = self.accumulator(i, j)
                    lines.append(
                        f"  {acc} = subgroupMatrixMultiplyAccumulate"
                        f"(websd_a_{step}_{i}, websd_b_{step}_{j}, {acc});"
                    )
        lines += ["}", "workgroupBarrier();"]
        return "\n".join(indent + line for line in lines)

    def store(self, indent: str, c: str, round_: str, frags_n: int, along_rows: bool) -> str:
        """The subgroup's accumulator number `round_` into its part of `c` (column-major
        where the output is contiguous `along_rows` of C), once the previous round's
        write-back has read it, and before this one's does."""
        if frags_n != self.frags_n:
            raise MatrixRewriteError(f"stores take {frags_n} fragments a row, not {self.frags_n}")
        size = self.config.m * self.config.n
        major, stride = ("col_major", self.config.m) if along_rows else ("row_major", self.config.n)
        lines = ["workgroupBarrier();", f"switch ({round_}) {{"]
        for i in range(self.frags_m):
            for j in range(self.frags_n):
                lines.append(
                    f"  case {i * self.frags_n + j}i: {{ subgroupMatrixStore<{major}>"
                    f"(&{c}, {SUBGROUP} * {size}u, {self.accumulator(i, j)}, {stride}u); }}"
                )
        lines += ["  default: {}", "}", "workgroupBarrier();"]
        return "\n".join(indent + line for line in lines)


def matrix_gemms(module: tvm.IRModule, config: MatrixConfig) -> tvm.IRModule:
    """The GEMM kernels of a prepared Relax module (`websd.passes.pipeline.prepare`) that
    multiply on `config`'s subgroup matrices, scheduled with their placeholders: fused as the
    library's are, so that each bears the name of the library kernel it stands in for."""
    from tvm.s_tir import dlight

    from .passes.pipeline import fusion
    from .targets import WEBGPU, target

    webgpu = target(WEBGPU)
    with webgpu:
        scheduled = dlight.ApplyDefaultSchedule(MatrixGemm(config))(fusion(webgpu)(module))
    return tvm.IRModule(
        {
            var: function.with_attr("global_symbol", var.name_hint)
            for var, function in scheduled.functions_items()
            if isinstance(function, tvm.tirx.PrimFunc) and function.attrs.get(MATRIX_GEMM_ATTR)
        }
    )


def build_matrix_kernels(module: tvm.IRModule, config: MatrixConfig) -> dict[str, Any]:
    """The runtime's `MatrixKernels` for a prepared Relax module: each subgroup-matrix
    kernel's WGSL by entry point, and the matrices it is written for. Only these kernels are
    compiled, and as kernels alone (no host code)."""
    from .compile import wgsl_source
    from .targets import WEBGPU, target

    kernels = matrix_gemms(module, config)
    sources = wgsl_source(tvm.compile(kernels, target=target(WEBGPU))) if kernels.functions else ""
    return {"config": dataclasses.asdict(config), "kernels": matrix_kernels(sources, config)}
