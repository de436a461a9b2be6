"""Weights digests: how an evaluation run tells a retrained model at the same path from the one
it started with."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
DIGEST_FULL_BYTES = 1 << 30
DIGEST_WINDOWS = 64
DIGEST_WINDOW = 1 << 20


def weights_digest(model: str) -> str | None:
    """A short digest of a local checkpoint directory's weight and config files, so that an
    evaluation run can tell a retrained (or re-bundled) model at the same path from the one it
    started with. None when `model` is not a local directory (a hub id, a served model's name).
    Files up to 1 GiB are hashed whole; larger ones by their size and 64 windows of 1 MiB spread
    over them (catches a retrained or swapped checkpoint, not every edit to a few tensors)."""
    path = Path(model)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if not file.is_file() or file.suffix not in (*WEIGHT_SUFFIXES, ".json"):
            continue
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}\n".encode())
        with file.open("rb") as f:
            if size <= DIGEST_FULL_BYTES:
                for block in iter(lambda: f.read(1 << 24), b""):
                    digest.update(block)
                continue
            step = (size - DIGEST_WINDOW) // (DIGEST_WINDOWS - 1)
            for i in range(DIGEST_WINDOWS):
                f.seek(i * step)
                digest.update(f.read(DIGEST_WINDOW))
    return digest.hexdigest()[:16]
