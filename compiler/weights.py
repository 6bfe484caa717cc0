"""Weights in the tvmjs tensor-cache format, sharded for CDNs, with a digest per shard."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tvm.contrib import tvmjs

from .cache import file_sha256

TENSOR_CACHE_NAME = "tensor-cache.json"


def write_weights(
    weights: Mapping[str, np.ndarray], out_dir: Path, shard_mb: int
) -> dict[str, Any]:
    """Write `tensor-cache.json` plus shards of at most `shard_mb` MiB; return the manifest entry.

    A single tensor larger than the cap gets a shard of its own, as tvmjs requires a tensor
    to lie in one shard; the manifest records every shard's size so that hosts with a
    per-file limit can be checked before publishing.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        tvmjs.dump_tensor_cache(
            dict(weights),
            str(out_dir),
            encode_format="raw",
            shard_cap_mb=shard_mb,
            show_progress=False,
        )
    index = json.loads((out_dir / TENSOR_CACHE_NAME).read_text())
    shards = [
        {
            "path": record["dataPath"],
            "bytes": record["nbytes"],
            "sha256": file_sha256(out_dir / record["dataPath"]),
        }
        for record in index["records"]
    ]
    return {
        "format": "tvmjs-tensor-cache",
        "index": TENSOR_CACHE_NAME,
        "shards": shards,
        "bytes": sum(shard["bytes"] for shard in shards),
    }


def verify_shards(folder: Path, entry: Mapping[str, Any]) -> None:
    """Fail on a missing, truncated or corrupt shard, naming it (the browser checks the same)."""
    for shard in entry["shards"]:
        path = folder / shard["path"]
        if not path.is_file():
            raise FileNotFoundError(f"weight shard {path} is missing: rebuild the model")
        if file_sha256(path) != shard["sha256"]:
            raise ValueError(
                f"weight shard {path} is corrupt (sha256 does not match the manifest): "
                "rebuild the model or copy the artifact folder again"
            )
