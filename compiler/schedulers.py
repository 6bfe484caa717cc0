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
    """A diffusers scheduler built from the pipeline's scheduler config, as `from_config` does."""
    import diffusers

    if name not in _DIFFUSERS_CLASSES:
        raise OptionError(f"unknown scheduler {name!r}: use one of {', '.join(SCHEDULERS)}")
    return getattr(diffusers, _DIFFUSERS_CLASSES[name]).from_config(config, **_FIXED.get(name, {}))
