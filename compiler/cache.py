"""A content-keyed cache of slow build products, with all-or-nothing entries.

An entry is built in a temporary sibling folder and renamed into place, so a killed build
leaves no half entry: the next run either finds the whole entry or builds it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    """`$WEBSD_CACHE_DIR`, else the user cache dir (e.g. ~/.cache/websd)."""
    configured = os.environ.get("WEBSD_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("websd"))


def digest_json(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(root: Path, files: Iterable[Path]) -> str:
    """Digest of files' relative paths and contents.

    Contents are hashed once per (path, size, mtime): a warm build of a multi-GB
    checkpoint must not re-read every byte.
    """
    memo_path = cache_root() / "file-digests.json"
    try:
        memo: dict[str, str] = json.loads(memo_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        memo = {}
    entries = []
    for path in sorted(files):
        stat = path.stat()
        stamp = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if stamp not in memo:
            memo[stamp] = file_sha256(path)
        entries.append((str(path.relative_to(root)), memo[stamp]))
    memo_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo_path.with_name(f".{memo_path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(memo))
    os.replace(tmp, memo_path)
    return digest_json(entries)


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `final` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
