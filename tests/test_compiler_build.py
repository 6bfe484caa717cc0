"""`websd build` writes a complete, self-checking artifact folder."""

from __future__ import annotations

import json
import re

from websd.cache import file_sha256


def test_artifact_folder_is_complete(tiny_sd1_build):
    folder, manifest = tiny_sd1_build.folder, tiny_sd1_build.manifest
    assert (folder / "model.wasm").read_bytes()[:4] == b"\0asm"
    assert manifest["library"]["sha256"] == file_sha256(folder / "model.wasm")
    assert (folder / "native" / "model.so").is_file()
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    assert tokenizer["model"]["type"] == "BPE"
    index = json.loads((folder / "tensor-cache.json").read_text())
    assert [r["dataPath"] for r in index["records"]] == [
        s["path"] for s in manifest["weights"]["shards"]
    ]
    for shard in manifest["weights"]["shards"]:
        assert file_sha256(folder / shard["path"]) == shard["sha256"]


def test_manifest_describes_the_model(tiny_sd1_build):
    manifest = tiny_sd1_build.manifest
    assert manifest["format"] == "websd-model" and manifest["format_version"] == 3
    assert manifest["sizes"] == [
        {
            "width": 64,
            "height": 64,
            "latent": {"height": 8, "width": 8},
            "functions": {
                "denoise": "denoise_64x64",
                "denoise_cond": "denoise_cond_64x64",
                "decode_image": "decode_image_64x64",
            },
        }
    ]
    assert manifest["latent_channels"] == 4
    assert manifest["prediction_type"] == "epsilon"
    assert manifest["scheduler"]["_class_name"] == "PNDMScheduler"
    assert manifest["vae_scaling_factor"] == 0.18215
    assert set(manifest["functions"]) == {
        "encode_text",
        "denoise_64x64",
        "denoise_cond_64x64",
        "decode_image_64x64",
    }
    denoise = manifest["functions"]["denoise_64x64"]
    assert [i["name"] for i in denoise["inputs"]] == [
        "latents",
        "timestep",
        "text_embeds",
        "guidance_scale",
    ]
    assert denoise["inputs"][2]["shape"] == [2, 77, 32]
    assert manifest["functions"]["decode_image_64x64"]["output"]["shape"] == [64, 64]
    assert set(manifest["params"]) == {"text_encoder", "unet", "vae"}
    assert manifest["text"]["max_length"] == 77
    assert re.fullmatch(r"[0-9a-f]{32}", manifest["content_hash"])


def test_shards_respect_the_cap(tiny_sd1, tmp_path):
    from websd.build import build_model
    from websd.spec import BuildOptions

    manifest = build_model(tiny_sd1, tmp_path / "out", BuildOptions(shard_mb=1)).manifest
    shards = manifest["weights"]["shards"]
    assert len(shards) > 1
    largest_tensor = 1000 * 32 * 4  # the token embedding
    assert all(s["bytes"] <= max(1 << 20, largest_tensor) for s in shards)


def test_wgsl_holds_no_8bit_types(tiny_sd1_build):
    wgsl = (tiny_sd1_build.folder / "model.wgsl").read_text()
    assert "@compute" in wgsl
    assert not re.search(r"\b[iu]8\b", wgsl)
