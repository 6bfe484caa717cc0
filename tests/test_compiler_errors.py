"""Bad input fails early with a message that names the problem, and writes nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from websd.build import build_model
from websd.errors import ModelSourceError, OptionError, UnsupportedModelError
from websd.spec import BuildOptions, ImageSize, MatrixConfig


def _copy_with_index(source, target, **changes):
    shutil.copytree(source, target)
    index = json.loads((target / "model_index.json").read_text())
    (target / "model_index.json").write_text(json.dumps(index | changes))
    return target


def test_missing_path(tmp_path):
    with pytest.raises(ModelSourceError, match="no such folder"):
        build_model(tmp_path / "nowhere", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(ModelSourceError, match="not a diffusers pipeline folder"):
        build_model(tmp_path / "notes", tmp_path / "out")


def test_pipeline_without_a_unet(tiny_sd1, tmp_path):
    folder = _copy_with_index(tiny_sd1, tmp_path / "m")
    index = json.loads((folder / "model_index.json").read_text())
    del index["unet"]
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelSourceError, match="has no unet"):
        build_model(folder, tmp_path / "out")


def test_sdxl_is_named_as_unsupported(tiny_sd1, tmp_path):
    folder = _copy_with_index(
        tiny_sd1,
        tmp_path / "xl",
        _class_name="StableDiffusionXLPipeline",
        text_encoder_2=["transformers", "CLIPTextModelWithProjection"],
    )
    with pytest.raises(UnsupportedModelError, match="two text encoders"):
        build_model(folder, tmp_path / "out")


def test_inpainting_unet_is_named_as_unsupported(tiny_sd1, tmp_path):
    folder = _copy_with_index(tiny_sd1, tmp_path / "inpaint")
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps(config | {"in_channels": 9}))
    with pytest.raises(UnsupportedModelError, match="9 input channels"):
        build_model(folder, tmp_path / "out")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dtype": "float8"}, "unknown dtype 'float8'"),
        ({"sizes": (ImageSize(4096, 64),)}, "4096x64: width 4096 is out of range"),
        ({"sizes": (ImageSize(64, 72),)}, "64x72: height 72 is out of range"),
        ({"sizes": (ImageSize(64, 64), ImageSize(64, 64))}, "repeat a size"),
        ({"shard_mb": 0}, "shard size 0 MiB is out of range"),
        ({"matrix": (MatrixConfig(8, 8, 8, 8),) * 2}, "subgroup matrices repeat"),
        # tiny-sd1 builds in float32 unless asked: its image is under 512 px.
        ({"matrix": (MatrixConfig(8, 8, 8, 8),)}, "multiply float16, and this build is float32"),
    ],
)
def test_bad_options(tiny_sd1, tmp_path, options, message):
    with pytest.raises(OptionError, match=message):
        build_model(tiny_sd1, tmp_path / "out", BuildOptions(**options))


@pytest.mark.parametrize("text", ["512", "512x", "x512", "512*512", "-64x64"])
def test_size_names_must_be_width_x_height(text):
    with pytest.raises(OptionError, match="is not WIDTHxHEIGHT"):
        ImageSize.parse(text)


@pytest.mark.parametrize("text", ["16x16x16", "16x16-s32", "16x16x16-32", "axbxc-s4"])
def test_subgroup_matrices_are_m_x_n_x_k_and_a_subgroup_size(text):
    with pytest.raises(OptionError, match="are not MxNxK-sSUBGROUP"):
        MatrixConfig.parse(text)
    assert MatrixConfig.parse("16x8x16-s32") == MatrixConfig(16, 8, 16, 32)


def test_unknown_scheduler():
    from websd.schedulers import diffusers_scheduler

    with pytest.raises(OptionError, match="unknown scheduler 'heun'"):
        diffusers_scheduler("heun", {})


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    from websd.cli import main

    assert main(["build", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "websd: error:" in capsys.readouterr().err


def test_cli_rejects_unknown_scheduler(capsys):
    from websd.cli import main

    with pytest.raises(SystemExit):
        main(["generate", "--prompt", "x", "--scheduler", "heun"])
    assert "invalid choice: 'heun'" in capsys.readouterr().err


def test_out_dir_that_is_not_an_artifact_folder_is_left_alone(tiny_sd1_build, tiny_sd1, tmp_path):
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "index.md").write_text("keep me")
    with pytest.raises(OptionError, match="not a websd artifact folder"):
        build_model(tiny_sd1, precious)
    assert (precious / "index.md").read_text() == "keep me"


def test_default_model_without_weights_says_how_to_train_them(tmp_path, monkeypatch):
    from websd.models import default_model, shapes

    monkeypatch.setattr(shapes, "pipeline_path", lambda: tmp_path / "pipeline")
    with pytest.raises(ModelSourceError, match=r"python -m websd.models.shapes.train"):
        default_model()
