"""Errors a user can act on. The CLI and the MkDocs plugin print them without a traceback."""


class WebsdError(Exception):
    """Base: the message names what is wrong and how to fix it."""


class ModelSourceError(WebsdError):
    """The model path or hub id does not lead to a diffusers Stable Diffusion pipeline."""


class UnsupportedModelError(WebsdError):
    """A real pipeline, but of an architecture websd cannot compile yet."""


class OptionError(WebsdError):
    """A build or generation option is out of range or unknown."""


class ToolchainError(WebsdError):
    """A tool the build needs (emcc, Chromium) is missing or failed."""
