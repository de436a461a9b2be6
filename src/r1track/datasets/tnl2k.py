"""TNL2K: `root/<seq>/imgs/...`, `groundtruth.txt` (x,y,w,h) and `language.txt` (a sentence).

`root` is the folder that holds the sequence folders (e.g. the test subset's folder).
"""

from __future__ import annotations

from pathlib import Path

from r1track.datasets.base import DatasetError, Sequence, image_files, read_boxes, read_text


def load(root: str | Path, split: str = "test") -> list[Sequence]:
    root = Path(root)
    if split not in ("test", "train"):
        raise DatasetError(f"TNL2K split must be test or train, got {split!r}")
    folders = sorted(p for p in root.iterdir() if (p / "imgs").is_dir())
    if not folders:
        raise DatasetError(f"{root}: no TNL2K sequences (<seq>/imgs/) in it")
    sequences = []
    for folder in folders:
        frames = image_files(folder / "imgs")
        boxes = read_boxes(folder / "groundtruth.txt", expected=len(frames))
        description = read_text(folder / "language.txt")
        sequences.append(Sequence(folder.name, frames, boxes, description=description))
    return sequences
