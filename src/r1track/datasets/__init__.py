"""Benchmark readers: every dataset yields the same `Sequence` type."""

from __future__ import annotations

from pathlib import Path

from r1track.datasets import got10k, lasot, otb, tnl2k, trackingnet
from r1track.datasets.base import DatasetError, Sequence
from r1track.errors import UserError

LOADERS = {
    "got10k": got10k.load,
    "lasot": lasot.load,
    "trackingnet": trackingnet.load,
    "otb": otb.load,
    "tnl2k": tnl2k.load,
}


def load_dataset(name: str, root: str | Path, split: str) -> list[Sequence]:
    """Read a benchmark's sequences (frames are opened lazily, when iterated)."""
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}")
    if not Path(root).is_dir():
        raise UserError(f"{root}: no such dataset folder")
    return LOADERS[name](root, split)


__all__ = ["LOADERS", "DatasetError", "Sequence", "load_dataset"]
