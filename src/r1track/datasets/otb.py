"""OTB-100: `root/<Seq>/img/0001.jpg...` and `groundtruth_rect.txt` (comma, tab or space).

Two sequences have two targets (`groundtruth_rect.1.txt`, `.2.txt`: Jogging-1/-2, Skating2-1/-2),
and a few annotate only a range of their frames (the benchmark's own frame ranges, below).
"""

from __future__ import annotations

from pathlib import Path

from r1track.datasets.base import DatasetError, Sequence, image_files, read_boxes

# First and last annotated frame (1-based, inclusive) where the ground truth covers fewer
# frames than the folder holds: the OTB benchmark's published ranges.
FRAME_RANGES = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
    "BlurCar1": (247, 988),
    "BlurCar3": (3, 359),
    "BlurCar4": (18, 397),
    "Tiger1": (6, 354),
}


def _sequence(name: str, folder: Path, gt_file: Path) -> Sequence:
    frames = image_files(folder / "img")
    boxes = read_boxes(gt_file)
    if len(boxes) != len(frames):
        if folder.name not in FRAME_RANGES:
            raise DatasetError(f"{gt_file}: {len(boxes)} boxes for {len(frames)} frames")
        first, last = FRAME_RANGES[folder.name]
        frames = frames[first - 1 : last]
        if len(frames) != len(boxes):
            raise DatasetError(f"{gt_file}: {len(boxes)} boxes for frames {first}-{last}")
    return Sequence(name, frames, boxes)


def load(root: str | Path, split: str = "test") -> list[Sequence]:
    root = Path(root)
    if split not in ("test", "all"):
        raise DatasetError(f"OTB has one split (test), got {split!r}")
    folders = sorted(p for p in root.iterdir() if (p / "img").is_dir())
    if not folders:
        raise DatasetError(f"{root}: no OTB sequences (<Seq>/img/) in it")
    sequences = []
    for folder in folders:
        multi = sorted(folder.glob("groundtruth_rect.[0-9].txt"))
        if multi:
            for gt in multi:
                sequences.append(_sequence(f"{folder.name}-{gt.suffixes[0][1:]}", folder, gt))
        else:
            sequences.append(_sequence(folder.name, folder, folder / "groundtruth_rect.txt"))
    return sequences
