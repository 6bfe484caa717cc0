"""torch.export → Relax, with weights detached so they ship beside the library, not inside it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import tvm
from tvm import relax
from tvm.relax.frontend import detach_params
from tvm.relax.frontend.torch import from_exported_program


@dataclass
class ImportedPart:
    """One Relax function and the weights it takes after its `num_input` real inputs."""

    function: relax.Function
    param_names: list[str]
    params: list[np.ndarray]


def import_module(module: torch.nn.Module, example_args: tuple, *, decompose: bool) -> ImportedPart:
    """Export `module` with torch.export and translate it.

    `decompose=False` keeps scaled-dot-product attention as one `R.nn.attention`; its
    default decomposition makes boolean tensors that WGSL cannot store (FINDINGS.md).
    """
    with torch.no_grad():
        program = torch.export.export(module.eval(), example_args)
    mod = from_exported_program(
        program,
        keep_params_as_input=True,
        unwrap_unit_return_tuple=True,
        run_ep_decomposition=decompose,
    )
    mod, weights = detach_params(mod)
    function = mod["main"].without_attr("global_symbol")
    num_input = int(function.attrs["num_input"])
    every = dict(zip((v.name for v in function.params[num_input:]), weights["main"], strict=True))
    # Weights the exported path never reads (the VAE's encoder, CLIP's pooler) would
    # otherwise be shipped to every browser.
    function = relax.transform.RemoveUnusedParameters()(tvm.IRModule({"main": function}))["main"]
    names = [var.name for var in function.params[num_input:]]
    return ImportedPart(function, names, [every[name].numpy() for name in names])
