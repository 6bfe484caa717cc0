"""The websd MkDocs plugin: compile models during the build and embed live playgrounds.

Hooks, in build order:
- on_config: check every option and model, and compile (or take from the cache) before
  anything is written;
- on_page_markdown: turn ```websd blocks into playground elements;
- on_post_page: add the runtime's script and style to pages that hold a playground, only;
- on_post_build: copy the models and the runtime bundle into the site; check its size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from websd.build import build_model
from websd.errors import OptionError, WebsdError
from websd.manifest import size_names
from websd.models import default_model
from websd.models.shapes import GUIDANCE as SHAPES_GUIDANCE
from websd.progress import Reporter
from websd.spec import BuildOptions, ImageSize

from .config import DEFAULT_MODEL, ModelConfig, WebsdConfig
from .embeds import Embed, EmbedError, find_embeds, render, replace_embeds
from .publish import (
    ASSETS,
    GITHUB_PAGES_LIMIT,
    Build,
    PublishedModel,
    copy_model,
    copy_runtime_bundle,
    is_cross_origin,
    oversized_files,
    site_bytes,
)

log = logging.getLogger("mkdocs.plugins.websd")


class WebsdPlugin(BasePlugin[WebsdConfig]):
    supports_multiple_instances = False

    def __init__(self) -> None:
        self.models: dict[str, PublishedModel] = {}
        self.pages_with_playgrounds: set[str] = set()

    def load_config(self, options: dict[str, Any], config_file_path: str | None = None):
        """Unknown options are errors, not warnings: a typo must not silently do nothing."""
        errors, warnings = super().load_config(options, config_file_path)
        unknown = [w for w in warnings if "Unrecognised configuration name" in str(w[1])]
        errors.extend(
            (f"websd.{key}", f"{message} (see the configuration reference)")
            for key, message in unknown
        )
        return errors, [w for w in warnings if w not in unknown]

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        self.models = {}
        self.pages_with_playgrounds = set()
        if not self.config.enabled:
            return config
        base = Path(config.config_file_path or ".").parent
        models = self.config.models or [_default_model_config()]
        for model in models:
            self.models[model.name] = self._compile(model, base)
        return config

    def _compile(self, model: ModelConfig, base: Path) -> PublishedModel:
        """The model's build, and with fallback_float32 a float32 build of the same source."""
        source = model.source or _default_source(model.name)
        local = base / Path(source).expanduser()
        if local.exists():
            source = str(local.resolve())
        cache_dir = Path(self.config.cache_dir).expanduser() if self.config.cache_dir else None
        if cache_dir and not cache_dir.is_absolute():
            cache_dir = base / cache_dir
        build = self._build(model, source, model.dtype, cache_dir)
        fallback = None
        if model.fallback_float32 and build.manifest["dtype"] == "float16":
            fallback = self._build(model, source, "float32", cache_dir, " (float32 fallback)")
        elif model.fallback_float32:
            log.info(
                f"websd model {model.name!r}: small models build in float32, which runs on every "
                "WebGPU adapter; fallback_float32 has nothing to add"
            )
        playground = {
            "prompt": model.prompt,
            "steps": model.steps,
            "guidance": _guidance(model),
            "scheduler": model.scheduler,
        }
        published = PublishedModel(model.name, build, playground, fallback)
        limit = self.config.max_file_mb << 20
        too_big = oversized_files(published, limit)
        if too_big:
            listed = ", ".join(f"{name} ({size / 2**20:.0f} MiB)" for name, size in too_big)
            raise PluginError(
                f"websd model {model.name!r}: {listed} exceed the host's per-file limit "
                f"max_file_mb={self.config.max_file_mb}. Lower shard_mb, build with "
                "dtype: float16, or raise max_file_mb if your host allows larger files."
            )
        return published

    def _build(
        self,
        model: ModelConfig,
        source: str,
        dtype: str | None,
        cache_dir: Path | None,
        label: str = "",
    ) -> Build:
        try:
            options = BuildOptions(
                dtype=dtype,
                sizes=model.image_sizes(),
                shard_mb=self.config.shard_mb,
                # A float32 fallback is for adapters without shader-f16: it multiplies in fp32.
                matrix=() if dtype == "float32" else model.matrices(),
            )
            result = build_model(
                source,
                options=options,
                report=Reporter(lambda m: log.info(f"{model.name}{label}: {m}")),
                cache_dir=cache_dir,
            )
        except WebsdError as error:
            raise PluginError(f"websd model {model.name!r}{label}: {error}") from error
        return Build(result.folder, result.manifest)

    def on_page_markdown(
        self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Any
    ) -> str | None:
        if not self.config.enabled:
            return markdown
        try:
            embeds = find_embeds(markdown, page.file.src_uri)
        except EmbedError as error:
            raise PluginError(str(error)) from None
        if not embeds:
            return markdown
        default_name = next(iter(self.models))
        rendered = []
        for embed in embeds:
            name = embed.options.get("model", default_name)
            if name not in self.models:
                raise PluginError(
                    f"{page.file.src_uri}:{embed.line}: unknown websd model {name!r}; "
                    f"the plugin's models are: {', '.join(self.models)}"
                )
            _check_size(embed, self.models[name], f"{page.file.src_uri}:{embed.line}")
            url = get_relative_url(f"{ASSETS}/models/{name}/", page.url)
            rendered.append(render(embed, url.rstrip("/") + "/", self.models[name].playground))
        self.pages_with_playgrounds.add(page.file.src_uri)
        return replace_embeds(markdown, embeds, rendered)

    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str | None:
        if page.file.src_uri not in self.pages_with_playgrounds:
            return output
        assets = get_relative_url(ASSETS, page.url)
        tags = (
            f'<link rel="stylesheet" href="{assets}/websd.css">'
            f'<script type="module" src="{assets}/websd.js"></script>'
        )
        return output.replace("</head>", f"{tags}</head>", 1)

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        if not self.config.enabled:
            return
        site_dir = Path(config.site_dir)
        weights_url = self.config.weights_url
        weights_dir = site_dir.with_name(site_dir.name + "-weights")
        copy_runtime_bundle(site_dir)
        for model in self.models.values():
            copy_model(model, site_dir, weights_url, weights_dir)
        if weights_url:
            log.info(f"websd: upload {weights_dir} to {weights_url} (the weights, per model)")
            if is_cross_origin(weights_url):
                log.warning(
                    f"websd: weights_url {weights_url} is another origin: the site is no longer "
                    "self-contained, and that host must allow CORS requests from this site"
                )
        total = site_bytes(site_dir)  # every build of every model, fallbacks included
        if total > GITHUB_PAGES_LIMIT:
            remedies = "set weights_url to serve weights elsewhere, or build with dtype: float16"
            fallbacks = [name for name, model in self.models.items() if model.fallback]
            if fallbacks:
                remedies += f"; the float32 fallbacks ({', '.join(fallbacks)}) count too"
            log.warning(
                f"websd: the site is {total / 2**30:.2f} GiB, over GitHub Pages' 1 GB limit: "
                + remedies
            )


def _check_size(embed: Embed, model: PublishedModel, where: str) -> None:
    """An embed's `size` must be one its model is compiled for (the playground offers those)."""
    if "size" not in embed.options:
        return
    built = size_names(model.build.manifest)
    try:
        size = ImageSize.parse(embed.options["size"]).name
    except OptionError as error:
        raise PluginError(f"{where}: {error}") from None
    if size not in built:
        raise PluginError(
            f"{where}: model {model.name!r} is not compiled for {size}, only for "
            f"{', '.join(built)}: add it to the model's sizes in mkdocs.yml"
        )
    embed.options["size"] = size


def _default_model_config() -> ModelConfig:
    model = ModelConfig()
    model.load_dict({"name": DEFAULT_MODEL})
    model.validate()
    return model


def _guidance(model: ModelConfig) -> float:
    if model.guidance is not None:
        return model.guidance
    return SHAPES_GUIDANCE if model.name == DEFAULT_MODEL and not model.source else 7.5


def _default_source(name: str) -> str:
    if name != DEFAULT_MODEL:
        raise PluginError(f"websd model {name!r} needs a `source`: a diffusers folder or hub id")
    try:
        return str(default_model())
    except WebsdError as error:
        raise PluginError(f"websd model {name!r}: {error}") from error
