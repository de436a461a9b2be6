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
SPLITS = {
    "got10k": ("val", "test", "train"),  # val first: test has no ground truth beyond frame 0
    "lasot": ("test", "train", "all"),
    "trackingnet": ("test", "train_0 ... train_11"),
    "otb": ("test", "all"),  # one split: "all" is the same sequences
    "tnl2k": ("test", "train"),
}
"""Each loader's accepted splits, the one a benchmark is evaluated on by default first."""
DEFAULT_SPLITS = {name: splits[0] for name, splits in SPLITS.items()}


def split_help() -> str:
    """`--split` help text: each dataset's splits, its default marked."""
    return "; ".join(
        f"{name}: {SPLITS[name][0]} (default), {', '.join(SPLITS[name][1:])}"
        for name in sorted(LOADERS)
    )


def resolve_split(name: str, split: str | None) -> str:
    """The split to read: the one given, else the dataset's default (`DEFAULT_SPLITS`)."""
    if split is not None:
        return split
    if name not in DEFAULT_SPLITS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}")
    return DEFAULT_SPLITS[name]


def load_dataset(name: str, root: str | Path, split: str | None = None) -> list[Sequence]:
    """Read a benchmark's sequences (frames are opened lazily, when iterated); `split=None`
    reads the dataset's default split."""
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}")
    if not Path(root).is_dir():
        raise UserError(f"{root}: no such dataset folder")
    return LOADERS[name](root, resolve_split(name, split))


__all__ = [
    "DEFAULT_SPLITS",
    "LOADERS",
    "SPLITS",
    "DatasetError",
    "Sequence",
    "load_dataset",
    "resolve_split",
    "split_help",
]
