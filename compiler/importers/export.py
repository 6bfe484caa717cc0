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

    `decompose=True` lowers to core ATen first (CLIP needs it: its `aten.to.device` has no
    translation), except scaled-dot-product attention, which always stays one
    `R.nn.attention` for the fused kernel; its decomposition would also make boolean tensors
    that WGSL cannot store (FINDINGS.md). UNet and VAE stay undecomposed so that group norm
    reaches its fused kernel whole.
    """
    with torch.no_grad():
        program = torch.export.export(module.eval(), example_args)
    if decompose:
        program = program.run_decompositions(_keeping_attention())
    mod = from_exported_program(
        program,
        keep_params_as_input=True,
        unwrap_unit_return_tuple=True,
        run_ep_decomposition=False,
    )
    mod, _ = detach_params(mod)  # the translator's copies of the weights, dropped at once
    function = mod["main"].without_attr("global_symbol")
    num_input = int(function.attrs["num_input"])
    # Weights the exported path never reads (the VAE's encoder, CLIP's pooler) would
    # otherwise be shipped to every browser.
    function = relax.transform.RemoveUnusedParameters()(tvm.IRModule({"main": function}))["main"]
    tensors = _module_tensors(program)
    params = function.params[num_input:]
    return ImportedPart(function, [v.name for v in params], [tensors[v.name] for v in params])


def _module_tensors(program: torch.export.ExportedProgram) -> dict[str, np.ndarray]:
    """Each weight placeholder's tensor in the torch module itself, as a numpy view: no copy,
    so a full-size import holds the model's weights once (the siblings that import the same
    UNet share them), not once per import and per conversion."""
    sources = program.state_dict | program.constants
    return {
        spec.arg.name: sources[spec.target].detach().numpy()
        for spec in program.graph_signature.input_specs
        if spec.target is not None
    }


def _keeping_attention() -> dict:
    table = torch.export.default_decompositions()
    table.pop(torch.ops.aten.scaled_dot_product_attention.default, None)
    return table
