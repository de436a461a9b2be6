"""LaSOT: `root/<class>/<class>-<n>/` with `img/`, `groundtruth.txt`, `full_occlusion.txt`,
`out_of_view.txt` (per-frame 0/1, comma separated) and `nlp.txt` (a sentence about the target).

Splits: `test` and `train` read `root/testing_set.txt` / `root/training_set.txt` (one sequence
name per line, as distributed with the dataset); `all` takes every sequence found.
"""

from __future__ import annotations

from pathlib import Path

from r1track.datasets.base import (
    DatasetError,
    Sequence,
    image_files,
    read_boxes,
    read_labels,
    read_list,
    read_text,
)

SPLIT_LISTS = {"test": "testing_set.txt", "train": "training_set.txt"}


def load_sequence(folder: Path) -> Sequence:
    frames = image_files(folder / "img")
    n = len(frames)
    boxes = read_boxes(folder / "groundtruth.txt", expected=n)
    occluded = read_labels(folder / "full_occlusion.txt", n)
    out_of_view = read_labels(folder / "out_of_view.txt", n)
    return Sequence(
        folder.name,
        frames,
        boxes,
        visible=(occluded == 0) & (out_of_view == 0),
        description=read_text(folder / "nlp.txt"),
        attributes={"full_occlusion": occluded, "out_of_view": out_of_view},
    )


def load(root: str | Path, split: str) -> list[Sequence]:
    root = Path(root)
    if split == "all":
        folders = sorted(p for c in root.iterdir() if c.is_dir() for p in c.iterdir() if p.is_dir())
        if not folders:
            raise DatasetError(f"{root}: no LaSOT sequences (<class>/<class>-<n>/) in it")
        return [load_sequence(f) for f in folders]
    if split not in SPLIT_LISTS:
        raise DatasetError(f"LaSOT split must be test, train or all, got {split!r}")
    names = read_list(root / SPLIT_LISTS[split])
    return [load_sequence(root / name.rsplit("-", 1)[0] / name) for name in names]
