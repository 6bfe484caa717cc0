"""The scheduler names websd offers, mapped to diffusers' classes (the native reference loop).

The TypeScript runtime implements the same five in runtime_ts/src/schedulers/, checked
against these classes.
"""

from __future__ import annotations

from typing import Any

from .errors import OptionError
from .spec import SCHEDULERS

# Settings a name implies, whatever the pipeline's own scheduler config says.
_FIXED = {"dpm++2m": {"algorithm_type": "dpmsolver++", "solver_order": 2}}
_DIFFUSERS_CLASSES = {
    "dpm++2m": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "lcm": "LCMScheduler",
}
assert set(_DIFFUSERS_CLASSES) == set(SCHEDULERS)


def diffusers_scheduler(name: str, config: dict[str, Any]) -> Any:
    """A diffusers scheduler built from the manifest's scheduler config, as `from_config` does.

    The manifest writes null for a non-finite number (DPM's `lambda_min_clipped: -inf`) and for
    an unset option: both are the values diffusers fills in for a missing key, so nulls are left
    out here (diffusers would take a null `lambda_min_clipped` literally and fail)."""
    import diffusers

    if name not in _DIFFUSERS_CLASSES:
        raise OptionError(f"unknown scheduler {name!r}: use one of {', '.join(SCHEDULERS)}")
    given = {key: value for key, value in config.items() if value is not None}
    return getattr(diffusers, _DIFFUSERS_CLASSES[name]).from_config(given, **_FIXED.get(name, {}))
