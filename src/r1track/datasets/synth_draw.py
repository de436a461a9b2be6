"""Drawing for `data synth` (`synth.py`): textures, shapes, sprites, pasting with ownership
labels, occluder regions, the cluttered background. Pure numpy on a random generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SHAPES = ("box", "ellipse", "diamond")


def pattern_tile(rng, pattern: str, colour, size: int = 48) -> np.ndarray:
    base = np.array(colour, dtype=np.float32)
    other = np.clip(base * rng.uniform(0.2, 0.5) + rng.uniform(0, 60), 0, 255)
    tile = np.empty((size, size, 3), np.float32)
    ys, xs = np.mgrid[0:size, 0:size]
    period = int(rng.integers(6, 14))
    if pattern == "striped":
        mask = ((xs + ys * rng.choice([0, 1])) // period) % 2 == 0
    elif pattern == "checkered":
        mask = ((xs // period) + (ys // period)) % 2 == 0
    elif pattern == "dotted":
        mask = ((xs % period - period / 2) ** 2 + (ys % period - period / 2) ** 2) > (
            period / 3
        ) ** 2
    else:
        mask = np.ones((size, size), bool)
    tile[mask], tile[~mask] = base, other
    return tile


def shape_mask(shape: str, w: int, h: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    u, v = (xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1
    if shape == "ellipse":
        return u**2 + v**2 <= 1
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1
    return np.ones((h, w), bool)


@dataclass
class Sprite:
    tile: np.ndarray
    shape: str
    x: float
    y: float
    vx: float
    vy: float
    w: float
    h: float

    def render(self, scale: float, aspect: float):
        """(pixels, mask, x0, y0) of the sprite at its current place and size."""
        w = max(4, round(self.w * scale * aspect))
        h = max(4, round(self.h * scale / aspect))
        pixels = np.asarray(
            Image.fromarray(self.tile.astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR),
            np.float32,
        )
        return pixels, shape_mask(self.shape, w, h), round(self.x - w / 2), round(self.y - h / 2)


def paste(canvas, pixels, mask, x0, y0, owner=None, label=0):
    """Draw a sprite (clipped to the canvas); optionally mark its pixels in `owner`."""
    H, W = canvas.shape[:2]
    h, w = mask.shape
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sub = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    region = canvas[cy0:cy1, cx0:cx1]
    region[sub] = pixels[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][sub]
    if owner is not None:
        owner[cy0:cy1, cx0:cx1][sub] = label


def occluder_regions(occluders, i: int, width: int, height: int):
    """(region, colour) of each occluding bar on frame `i`: `canvas[region] = colour` draws it."""
    regions = []
    for vertical, thick, pos, speed, colour in occluders:
        p = pos + speed * i
        if vertical:
            a = int(p * width)
            regions.append(((slice(None), slice(max(0, a), max(0, a + thick))), colour))
        else:
            a = int(p * height)
            regions.append(((slice(max(0, a), max(0, a + thick)), slice(None)), colour))
    return regions


def draw_background(rng, width: int, height: int, clutter: float) -> np.ndarray:
    """A textured canvas twice the frame size (the camera pans over it)."""
    H, W = 2 * height, 2 * width
    ys, xs = np.mgrid[0:H, 0:W]
    canvas = np.stack(
        [
            110
            + 50
            * np.sin(xs / rng.uniform(30, 90) + rng.uniform(0, 6))
            * np.cos(ys / rng.uniform(30, 90)),
            110 + 50 * np.sin(ys / rng.uniform(30, 90) + rng.uniform(0, 6)),
            110 + 50 * np.cos((xs + ys) / rng.uniform(40, 120)),
        ],
        axis=-1,
    ).astype(np.float32)
    block = int(rng.integers(4, 12))
    noise = rng.normal(0, 40 * clutter, size=(H // block + 1, W // block + 1, 3))
    canvas += np.kron(noise, np.ones((block, block, 1)))[:H, :W]
    for _ in range(int(clutter * 40)):  # clutter shapes in random colours
        w, h = (int(v) for v in rng.integers(6, max(8, min(W, H) // 6), size=2))
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = rng.integers(0, 256, size=3).astype(np.float32)
        canvas[y : y + h, x : x + w][shape_mask(shape, w, h)] = colour
    return np.clip(canvas, 0, 255)


def photo_tile(rng, photos, index: int, w: float, h: float) -> np.ndarray:
    """A patch of photograph `index` with the aspect of a `w` x `h` sprite, at twice its size so
    that resizing keeps detail; the region spans 0.5-3x that size of the photograph."""
    width, height = max(4, round(2 * w)), max(4, round(2 * h))
    return photos.region(rng, index, width, height, rng.uniform(0.5, 3.0))


def photo_background(rng, photos, width: int, height: int, clutter: float) -> np.ndarray:
    """A canvas twice the frame size cut from one photograph, with `clutter * 20` patches of other
    photographs pasted on it in the generator's shapes (objects that are not the target)."""
    H, W = 2 * height, 2 * width
    canvas = photos.region(rng, photos.pick(rng), W, H, rng.uniform(0.6, 1.5))
    for _ in range(int(clutter * 20)):
        w, h = (int(v) for v in rng.integers(8, max(10, min(W, H) // 5), size=2))
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        patch = photos.region(rng, photos.pick(rng), w, h, rng.uniform(0.5, 3.0))
        mask = shape_mask(shape, w, h)
        canvas[y : y + h, x : x + w][mask] = patch[mask]
    return canvas
