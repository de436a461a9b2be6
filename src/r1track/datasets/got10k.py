"""GOT-10k: `root/{train,val,test}/list.txt` and one folder per sequence.

Each folder: `00000001.jpg`..., `groundtruth.txt` (`x,y,w,h` per frame; on test only the first),
and on train/val `absence.label`, `cover.label` (0..8, 0 = invisible), `cut_by_image.label` and
`meta_info.ini` (`[METAINFO]`, then `key: value` lines; `resolution: (W, H)` is used in scoring).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np

from r1track.datasets.base import (
    DatasetError,
    Sequence,
    groundtruth_with_unknown,
    image_files,
    read_boxes,
    read_labels,
    read_list,
    read_text,
)

SPLITS = ("train", "val", "test")


def read_meta(path: Path) -> dict[str, str]:
    """Parse meta_info.ini: a `[METAINFO]` header, then `key: value` lines."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    lines = path.read_text(errors="replace").splitlines()
    if not lines or lines[0].strip() != "[METAINFO]":
        raise DatasetError(f"{path}:1: expected the header [METAINFO]")
    meta = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if ": " not in line:
            raise DatasetError(f"{path}:{number}: expected 'key: value', got {line.strip()!r}")
        key, value = line.split(": ", 1)
        meta[key.strip()] = value.strip()
    return meta


def parse_resolution(meta: dict[str, str], path: Path) -> tuple[int, int]:
    try:
        width, height = ast.literal_eval(meta["resolution"])
        return int(width), int(height)
    except (KeyError, ValueError, SyntaxError, TypeError):
        raise DatasetError(f"{path}: no valid 'resolution: (W, H)' line") from None


def load_sequence(folder: Path, split: str) -> Sequence:
    frames = image_files(folder)
    n = len(frames)
    if split == "test":
        boxes = groundtruth_with_unknown(read_boxes(folder / "groundtruth.txt"), n)
        return Sequence(
            folder.name, frames, boxes, description=read_text(folder / "description.txt")
        )
    boxes = read_boxes(folder / "groundtruth.txt", expected=n)
    cover = read_labels(folder / "cover.label", n)
    absence = read_labels(folder / "absence.label", n)
    cut = read_labels(folder / "cut_by_image.label", n)
    meta = read_meta(folder / "meta_info.ini")
    attributes = {
        "cover": cover,
        "absence": absence,
        "cut_by_image": cut,
        "resolution": parse_resolution(meta, folder / "meta_info.ini"),
        "meta": meta,
    }
    return Sequence(
        folder.name,
        frames,
        boxes,
        visible=(cover > 0) & (absence == 0),
        # GOT-10k has no language annotation; our synthetic sequences add description.txt.
        description=read_text(folder / "description.txt"),
        attributes=attributes,
    )


def load(root: str | Path, split: str) -> list[Sequence]:
    """All sequences of a GOT-10k split, in list.txt order."""
    if split not in SPLITS:
        raise DatasetError(f"GOT-10k split must be one of {', '.join(SPLITS)}, got {split!r}")
    base = Path(root) / split
    return [load_sequence(base / name, split) for name in read_list(base / "list.txt")]


def write_sequence(
    folder: Path,
    frames: Seq,
    boxes: np.ndarray,
    cover: Seq[int] | None = None,
    absence: Seq[int] | None = None,
    cut_by_image: Seq[int] | None = None,
    meta: dict[str, str] | None = None,
    test: bool = False,
    description: str | None = None,
) -> None:
    """Write one sequence in the GOT-10k layout (frames are PIL images). `description`, where
    given, goes to `description.txt` (our addition to the layout, read back as
    `Sequence.description`, for text initialisation)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        frame.save(folder / f"{i:08d}.jpg", quality=95)
    if description is not None:
        (folder / "description.txt").write_text(f"{description}\n")
    lines = [",".join(f"{v:.4f}" for v in box) for box in (boxes[:1] if test else boxes)]
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    if test:
        return
    n = len(boxes)
    for name, values in (
        ("cover", cover if cover is not None else [8] * n),
        ("absence", absence if absence is not None else [0] * n),
        ("cut_by_image", cut_by_image if cut_by_image is not None else [0] * n),
    ):
        (folder / f"{name}.label").write_text("\n".join(str(int(v)) for v in values) + "\n")
    width, height = frames[0].size
    info = {"resolution": f"({width}, {height})", **(meta or {})}
    (folder / "meta_info.ini").write_text(
        "[METAINFO]\n" + "\n".join(f"{k}: {v}" for k, v in info.items()) + "\n"
    )
