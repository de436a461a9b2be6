"""The one `Sequence` type every benchmark reader yields, and strict readers for its files.

A malformed dataset is an error that names the file and line: a silent skip would change the
benchmark's numbers without anyone knowing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from r1track.errors import UserError
from r1track.video import list_images, read_images


class DatasetError(UserError):
    """A dataset file is missing or malformed (the message names the file and line)."""


@dataclass
class Sequence:
    """One tracking sequence: frames on disk, read lazily, and what is known about them."""

    name: str
    """Sequence name as the benchmark spells it (also the result file's name)."""
    frame_files: list[Path]
    """Frame image files in order."""
    boxes: np.ndarray
    """Ground truth `(N, 4)` x,y,w,h; rows unknown to us (test splits) are NaN."""
    visible: np.ndarray | None = None
    """`(N,)` bool: target visible in the frame, where the dataset says (None: unknown)."""
    description: str | None = None
    """Natural-language description of the target, where the dataset has one."""
    attributes: dict = field(default_factory=dict)
    """Dataset-specific extras (GOT-10k: cover, absence, cut_by_image, resolution, meta)."""

    def __len__(self) -> int:
        return len(self.frame_files)

    @property
    def init_box(self) -> np.ndarray:
        return self.boxes[0]

    @property
    def has_groundtruth(self) -> bool:
        """Whether boxes beyond the first frame are known (False on test splits)."""
        return len(self.boxes) > 1 and bool(np.isfinite(self.boxes[1:]).any())

    def frames(self) -> Iterator[Image.Image]:
        """The frames as RGB images, opened one at a time."""
        return read_images(self.frame_files, DatasetError)


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder in numeric order; DatasetError if the folder has none."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: frame folder missing")
    files = list_images(folder)
    if not files:
        raise DatasetError(f"{folder}: no frames in it")
    return files


_SEPARATORS = re.compile(r"[,\s]+")


def read_boxes(path: Path, expected: int | None = None, allow_nan: bool = True) -> np.ndarray:
    """Read `x,y,w,h` lines (comma, tab or space separated) into an `(N, 4)` array.

    `NaN` entries are kept (some datasets mark unknown boxes so); anything else that is not four
    numbers is an error naming the line. With `expected`, the number of lines must match.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p for p in _SEPARATORS.split(line.strip()) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise DatasetError(f"{path}:{number}: not numbers: {line.strip()!r}") from None
        if len(values) != 4:
            raise DatasetError(f"{path}:{number}: expected 4 numbers x,y,w,h, got {len(values)}")
        if not allow_nan and not np.all(np.isfinite(values)):
            raise DatasetError(f"{path}:{number}: box is not finite: {line.strip()!r}")
        rows.append(values)
    if not rows:
        raise DatasetError(f"{path}: no boxes in it")
    if expected is not None and len(rows) != expected:
        raise DatasetError(f"{path}: {len(rows)} boxes for {expected} frames")
    return np.asarray(rows, dtype=np.float64)


def read_labels(path: Path, expected: int, kind: type = int) -> np.ndarray:
    """Read one number per line (or comma-separated on one line), `expected` of them."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    values = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for part in (p for p in _SEPARATORS.split(line.strip()) if p):
            try:
                values.append(kind(float(part)) if kind is int else kind(part))
            except ValueError:
                raise DatasetError(f"{path}:{number}: not a number: {part!r}") from None
    if len(values) != expected:
        raise DatasetError(f"{path}: {len(values)} labels for {expected} frames")
    return np.asarray(values)


def read_text(path: Path) -> str | None:
    """A one-line description file, stripped; None if the file does not exist."""
    if not path.is_file():
        return None
    text = " ".join(path.read_text(errors="replace").split())
    return text or None


def read_list(path: Path) -> list[str]:
    """A list file of sequence names, one per line."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (the list of sequences of this split)")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"{path}: empty")
    return names


def groundtruth_with_unknown(first: np.ndarray, length: int) -> np.ndarray:
    """Test splits give only the first box: the rest are NaN (unknown)."""
    boxes = np.full((length, 4), np.nan)
    boxes[0] = first[0]
    return boxes
