"""websd: compile a diffusers Stable Diffusion pipeline into a WebGPU model library."""

__version__ = "0.1.0"
