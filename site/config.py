"""The typed configuration of the websd MkDocs plugin (`plugins: - websd: ...` in mkdocs.yml)."""

from __future__ import annotations

from mkdocs.config import base
from mkdocs.config import config_options as c

from websd.errors import OptionError
from websd.spec import (
    DEFAULT_SCHEDULER,
    DTYPES,
    SCHEDULERS,
    BuildOptions,
    ImageSize,
    MatrixConfig,
)

DEFAULT_MODEL = "shapes"


class ModelConfig(base.Config):
    """One model the site publishes; embeds name it by `name`."""

    name = c.Type(str)
    source = c.Optional(c.Type(str))
    """A diffusers pipeline folder (relative to mkdocs.yml) or a hub id; `shapes` needs none."""
    dtype = c.Optional(c.Choice(DTYPES))
    """Unset: float16 for full-size models (a native image of 512 px or more), else float32."""
    fallback_float32 = c.Type(bool, default=False)
    """For a float16 model: also publish a float32 build, for browsers without shader-f16."""
    sizes = c.ListOfItems(c.Type(str), default=[])
    """Image sizes to compile, as WIDTHxHEIGHT (`512x768`), the first the default; a
    playground offers each. Empty: the model's own size."""
    subgroup_matrices = c.ListOfItems(c.Type(str), default=[])
    """Subgroup matrices (tensor cores) to write the float16 GEMM kernels for, as
    MxNxK-sSUBGROUP (`16x16x16-s32`: NVIDIA's): a reader's browser uses them where its GPU
    offers them (Chrome: with --enable-unsafe-webgpu). Empty: the library's kernels only."""
    steps = c.Type(int, default=20)
    guidance = c.Optional(c.Type((int, float)))
    """Unset: 5 for the built-in shapes model, SD's usual 7.5 for any other."""
    scheduler = c.Choice(SCHEDULERS, default=DEFAULT_SCHEDULER)
    prompt = c.Type(str, default="")
    """The prompt a playground of this model starts with, unless its embed gives one."""

    def image_sizes(self) -> tuple[ImageSize, ...]:
        return tuple(ImageSize.parse(size) for size in self.sizes)

    def matrices(self) -> tuple[MatrixConfig, ...]:
        return tuple(MatrixConfig.parse(text) for text in self.subgroup_matrices)

    def validate(self) -> tuple[base.ConfigErrors, base.ConfigWarnings]:
        """Sizes and matrices must parse; a fallback for a model that is float32 already would
        do nothing."""
        failed, warnings = super().validate()
        if not failed:
            try:
                BuildOptions(sizes=self.image_sizes())
            except OptionError as error:
                failed.append(("sizes", base.ValidationError(str(error))))
            try:
                BuildOptions(matrix=self.matrices())
            except OptionError as error:
                failed.append(("subgroup_matrices", base.ValidationError(str(error))))
        if not failed and self.fallback_float32 and self.dtype == "float32":
            failed.append(
                (
                    "fallback_float32",
                    base.ValidationError(
                        "a float32 fallback is for float16 models; this one is float32, which "
                        "runs on every WebGPU adapter: remove fallback_float32"
                    ),
                )
            )
        return failed, warnings


class WebsdConfig(base.Config):
    enabled = c.Type(bool, default=True)
    """Turn the plugin off (e.g. `enabled: !ENV [WEBSD, true]`) for quick text-only builds."""
    models = c.ListOfItems(c.SubConfig(ModelConfig), default=[])
    """Models to compile and publish; empty means the default `shapes` model."""
    shard_mb = c.Type(int, default=24)
    """Largest weight shard in MiB, below every CDN's per-file limit."""
    max_file_mb = c.Type(int, default=100)
    """The host's per-file limit in MiB (GitHub Pages: 100); a larger artifact fails the build."""
    weights_url = c.Optional(c.Type(str))
    """Serve weights from this base URL, not the site: for sites over the host's size limit."""
    cache_dir = c.Optional(c.Type(str))
    """Where compiled models are cached (default: the user cache dir, or $WEBSD_CACHE_DIR)."""
