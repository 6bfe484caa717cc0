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


def import_module(
    module: torch.nn.Module, example_args: tuple, *, functionalize: bool
) -> ImportedPart:
    """Export `module` with torch.export and translate it.

    `functionalize=True` runs torch.export's functionalization with no decompositions (CLIP
    needs it: its `aten.to.device` has no translation, the `aten._to_copy` it becomes has).
    Nothing is decomposed, so that every op reaches the translator whole: a linear layer
    stays one 3-D matmul whose bias, activation and residual add fuse into its kernel (core
    ATen's `addmm` on 2-D views puts a reshape between them, which ends each fusion), group
    norm reaches its fused kernel, and scaled-dot-product attention stays one
    `R.nn.attention` for the fused attention kernel; its decomposition would also make
    boolean tensors that WGSL cannot store (FINDINGS.md).
    """
    with torch.no_grad():
        program = torch.export.export(module.eval(), example_args)
    if functionalize:
        program = program.run_decompositions({})
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
