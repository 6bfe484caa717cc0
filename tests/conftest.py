"""Shared fixtures: tiny random-weight pipelines saved to disk, and their builds.

Builds go through a cache folder inside the checkout (tests/.artifacts, git-ignored), so a
fresh clone builds everything for real while repeated local runs reuse what did not change.
"""

from __future__ import annotations

import os
from pathlib import Path

import node_webgpu
import pytest
from artifacts import ARTIFACTS

os.environ.setdefault("WEBSD_CACHE_DIR", str(ARTIFACTS / "cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _saved_pipeline(name: str, factory: pytest.TempPathFactory) -> Path:
    from websd.testing.configs import CONFIGS
    from websd.testing.pipelines import save_random_pipeline

    return save_random_pipeline(CONFIGS[name], factory.mktemp(name), seed=0)


@pytest.fixture(scope="session")
def tiny_sd1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved_pipeline("tiny-sd1", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_sd2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved_pipeline("tiny-sd2", tmp_path_factory)


@pytest.fixture(scope="session")
def sd15(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SD 1.5 at full size, from its published configs, with random weights (4 GB on disk)."""
    return _saved_pipeline("sd15", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_sd1_build(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory):
    from websd.build import build_model
    from websd.progress import Reporter

    return build_model(tiny_sd1, tmp_path_factory.mktemp("build") / "tiny-sd1", report=Reporter())


@pytest.fixture(scope="session")
def tiny_sd1_fp16(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory):
    """tiny-sd1 with fp16 kernels and weights (`--dtype float16`), and GEMM kernels for the
    subgroup matrices of lavapipe (`--matrix 8x8x8-s8`)."""
    from node_webgpu import LAVAPIPE_MATRICES

    from websd.build import build_model
    from websd.spec import BuildOptions

    out = tmp_path_factory.mktemp("fp16") / "tiny-sd1"
    return build_model(tiny_sd1, out, BuildOptions(dtype="float16", matrix=(LAVAPIPE_MATRICES,)))


@pytest.fixture(scope="session")
def tiny_sd1_two_sizes_build(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory):
    """tiny-sd1 compiled for its own 64x64 and a wide 128x64, as the fixture site's `first`."""
    from websd.build import build_model
    from websd.spec import BuildOptions, ImageSize

    options = BuildOptions(sizes=(ImageSize(64, 64), ImageSize(128, 64)))
    return build_model(tiny_sd1, tmp_path_factory.mktemp("build") / "tiny-sd1-sizes", options)


@pytest.fixture(scope="session")
def tiny_sd2_build(tiny_sd2: Path, tmp_path_factory: pytest.TempPathFactory):
    from websd.build import build_model

    return build_model(tiny_sd2, tmp_path_factory.mktemp("build") / "tiny-sd2")


@pytest.fixture(scope="session")
def webgpu_package() -> Path:
    """npm webgpu (Dawn for node), installed once into the test artifacts."""
    return node_webgpu.webgpu_package()
