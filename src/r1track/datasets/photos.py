"""Photographs as the appearance of `data synth` scenes (`--photos DIR`).

A folder of photographs (any depth; .jpg, .jpeg, .png, .webp) is read once, each image scaled so
that its shorter side is `SHORT_SIDE` pixels, in the sorted order of the files' paths relative to
the folder: with the same files a seed draws the same scenes. `PhotoSet.digest` names the set (a
hash of every file's relative path and bytes), and `data synth` records it in the split's
`photos.txt`, so a dataset says which photographs it was made from.

Backgrounds are regions of one photograph, targets and look-alikes patches cut from them: a
tracker trained on such scenes has to follow real textures, not the generator's patterns.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from r1track.errors import UserError

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SHORT_SIDE = 480
"""Every photograph is scaled to this shorter side when it is read (scenes are 256 x 192 by
default, so a background region keeps detail while the set stays small in memory)."""
MIN_SIDE = 64


class PhotoSet:
    """The photographs of a folder, as float32 RGB arrays, with helpers to cut regions."""

    def __init__(self, folder: str | Path):
        root = Path(folder)
        if not root.is_dir():
            raise UserError(f"--photos {str(folder)!r} is not a folder")
        files = sorted(
            (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        if not files:
            raise UserError(f"--photos {str(folder)!r} has no {'/'.join(SUFFIXES)} files")
        digest = hashlib.sha256()
        self.names: list[str] = []
        self.images: list[np.ndarray] = []
        for path in files:
            data = path.read_bytes()
            name = path.relative_to(root).as_posix()
            try:
                with Image.open(io.BytesIO(data)) as image:  # the bytes the digest names, read once
                    rgb = image.convert("RGB")
            except (OSError, ValueError) as exc:
                raise UserError(f"--photos: {name} is not a readable image ({exc})") from exc
            if min(rgb.size) < MIN_SIDE:
                size = f"{rgb.width}x{rgb.height}"
                raise UserError(f"--photos: {name} is {size}, under {MIN_SIDE} px")
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
            self.names.append(name)
            self.images.append(np.asarray(_short_side(rgb, SHORT_SIDE), np.float32))
        self.digest = digest.hexdigest()

    def __len__(self) -> int:
        return len(self.images)

    def pick(self, rng: np.random.Generator) -> int:
        """The index of a photograph, uniformly."""
        return int(rng.integers(len(self.images)))

    def region(self, rng, index: int, width: int, height: int, zoom: float) -> np.ndarray:
        """A `width` x `height` array from photograph `index`: a random region `zoom` times that
        size (at most the whole photograph), resized."""
        photo = self.images[index]
        H, W = photo.shape[:2]
        w = int(min(W, max(2, round(width * zoom))))
        h = int(min(H, max(2, round(height * zoom))))
        x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        cut = photo[y : y + h, x : x + w]
        if (w, h) == (width, height):
            return cut.copy()
        image = Image.fromarray(cut.astype(np.uint8)).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        return np.asarray(image, np.float32)

    def record(self) -> str:
        """What `data synth` writes to `photos.txt`: the set's digest, then one name per line."""
        return f"digest {self.digest}\n" + "".join(f"{n}\n" for n in self.names)


def _short_side(image: Image.Image, side: int) -> Image.Image:
    scale = side / min(image.size)
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)
