"""TrackingNet: `root/<SPLIT>/frames/<seq>/0.jpg...` and `root/<SPLIT>/anno/<seq>.txt`.

Splits: `test` (the TEST chunk: only the first box is given) and `train_0` ... `train_11`.
"""

from __future__ import annotations

from pathlib import Path

from r1track.datasets.base import (
    DatasetError,
    Sequence,
    groundtruth_with_unknown,
    image_files,
    read_boxes,
)


def _chunk(split: str) -> str:
    if split == "test":
        return "TEST"
    if split.startswith("train_") and split[6:].isdigit() and 0 <= int(split[6:]) <= 11:
        return f"TRAIN_{int(split[6:])}"
    raise DatasetError(f"TrackingNet split must be test or train_0 ... train_11, got {split!r}")


def load(root: str | Path, split: str) -> list[Sequence]:
    chunk = Path(root) / _chunk(split)
    anno_dir = chunk / "anno"
    if not anno_dir.is_dir():
        raise DatasetError(f"{anno_dir}: missing (TrackingNet annotations)")
    sequences = []
    for anno in sorted(anno_dir.glob("*.txt")):
        frames = image_files(chunk / "frames" / anno.stem)
        if split == "test":
            boxes = groundtruth_with_unknown(read_boxes(anno), len(frames))
        else:
            boxes = read_boxes(anno, expected=len(frames))
        sequences.append(Sequence(anno.stem, frames, boxes))
    if not sequences:
        raise DatasetError(f"{anno_dir}: no annotation files")
    return sequences
