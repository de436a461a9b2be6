"""Boxes and square context crops: pure functions, numpy and Pillow only.

Coordinate conventions (used everywhere in the project):
- A frame box is `(x, y, w, h)` in frame pixels (top-left corner, size), as benchmarks store it.
- `xyxy` boxes are `(x1, y1, x2, y2)` with x2 = x + w: continuous coordinates where a pixel
  i covers [i, i+1). Model answers and crop boxes are xyxy.
- A crop is a square window of `side` frame pixels with top-left `(x0, y0)`, resized to
  `size x size`; crop pixel u maps to frame x0 + u / scale with scale = size / side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

BoxLike = Sequence[float] | np.ndarray


def xywh_to_xyxy(box: BoxLike) -> np.ndarray:
    """`(x, y, w, h)` -> `(x1, y1, x2, y2)`; works on `(..., 4)` arrays."""
    b = np.asarray(box, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(box: BoxLike) -> np.ndarray:
    """`(x1, y1, x2, y2)` -> `(x, y, w, h)`; works on `(..., 4)` arrays."""
    b = np.asarray(box, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def clip_xyxy(box: BoxLike, width: float, height: float) -> np.ndarray:
    """Clip an xyxy box to the rectangle [0, width] x [0, height] (may become empty)."""
    b = np.asarray(box, dtype=np.float64).copy()
    b[..., 0::2] = np.clip(b[..., 0::2], 0.0, width)
    b[..., 1::2] = np.clip(b[..., 1::2], 0.0, height)
    return b


def area_xyxy(box: BoxLike) -> np.ndarray | float:
    """Area of xyxy boxes; an inverted box has area 0."""
    b = np.asarray(box, dtype=np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def _inter_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lt = np.maximum(a[..., :2], b[..., :2])
    rb = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    return inter, area_xyxy(a) + area_xyxy(b) - inter


def _safe_ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    """num / den, and `empty` where den is 0 (two empty boxes: no NaN)."""
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), empty)


def iou_xyxy(a: BoxLike, b: BoxLike) -> np.ndarray | float:
    """Intersection over union of xyxy boxes (broadcasts over leading dimensions).

    Two empty boxes have IoU 0, never NaN.
    """
    inter, union = _inter_union(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return _safe_ratio(inter, union, 0.0)


def giou_xyxy(a: BoxLike, b: BoxLike) -> np.ndarray | float:
    """Generalised IoU (Rezatofighi et al. 2019): IoU - (hull - union) / hull, in [-1, 1]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    inter, union = _inter_union(a, b)
    hull = np.prod(
        np.clip(np.maximum(a[..., 2:], b[..., 2:]) - np.minimum(a[..., :2], b[..., :2]), 0, None),
        axis=-1,
    )
    return _safe_ratio(inter, union, 0.0) - _safe_ratio(hull - union, hull, 1.0)


def is_valid_xywh(box: BoxLike) -> bool:
    """Four finite numbers with positive width and height."""
    b = np.asarray(box, dtype=np.float64)
    return b.shape == (4,) and bool(np.all(np.isfinite(b))) and b[2] > 0 and b[3] > 0


@dataclass(frozen=True)
class CropWindow:
    """A square window of the frame, resized to `size x size` pixels."""

    x0: float
    """Left edge of the window in frame pixels (may be negative: the window is padded)."""
    y0: float
    """Top edge of the window in frame pixels."""
    side: float
    """Side of the window in frame pixels."""
    size: int
    """Side of the crop image in pixels."""

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return self.size / self.side

    def to_crop(self, box_xyxy: BoxLike) -> np.ndarray:
        """Map an xyxy frame box into crop pixels."""
        b = np.asarray(box_xyxy, dtype=np.float64)
        origin = np.array([self.x0, self.y0, self.x0, self.y0])
        return (b - origin) * self.scale

    def to_frame(self, box_xyxy: BoxLike) -> np.ndarray:
        """Map an xyxy box in crop pixels back into frame pixels."""
        b = np.asarray(box_xyxy, dtype=np.float64)
        origin = np.array([self.x0, self.y0, self.x0, self.y0])
        return b / self.scale + origin


def crop_window(box_xywh: BoxLike, factor: float, size: int) -> CropWindow:
    """The R1-Track context window: a square of side ceil(sqrt(w*h) * factor) centred on the box.

    The window's corner is rounded to whole frame pixels so that crops are pixel-aligned.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"box must be finite with positive size, got {tuple(box_xywh)}")
    side = max(1, math.ceil(math.sqrt(w * h) * factor))
    cx, cy = x + w / 2, y + h / 2
    return CropWindow(x0=round(cx - side / 2), y0=round(cy - side / 2), side=side, size=size)


def crop_image(frame: Image.Image, window: CropWindow) -> Image.Image:
    """Cut `window` out of `frame` and resize it to `window.size`; outside the frame is black.

    Only the part of the window inside the frame is resampled, so a huge window over a small
    frame costs no more memory than the crop itself.
    """
    width, height = frame.size
    s = window.scale
    out = Image.new("RGB", (window.size, window.size))
    # Visible part of the window, in frame pixels, then its place in the crop (whole pixels).
    ix0, iy0 = max(0.0, window.x0), max(0.0, window.y0)
    ix1, iy1 = min(width, window.x0 + window.side), min(height, window.y0 + window.side)
    if ix1 <= ix0 or iy1 <= iy0:
        return out
    dx0, dy0 = round((ix0 - window.x0) * s), round((iy0 - window.y0) * s)
    dx1, dy1 = round((ix1 - window.x0) * s), round((iy1 - window.y0) * s)
    if dx1 <= dx0 or dy1 <= dy0:
        return out
    # The source rectangle that maps exactly onto those whole crop pixels.
    src = (
        max(0.0, window.x0 + dx0 / s),
        max(0.0, window.y0 + dy0 / s),
        min(float(width), window.x0 + dx1 / s),
        min(float(height), window.y0 + dy1 / s),
    )
    if frame.mode != "RGB":
        frame = frame.convert("RGB")
    patch = frame.resize((dx1 - dx0, dy1 - dy0), Image.Resampling.BILINEAR, box=src)
    out.paste(patch, (dx0, dy0))
    return out


def mirror_image(image: Image.Image, flip_x: bool, flip_y: bool) -> Image.Image:
    """The image mirrored left-right (`flip_x`) and / or top-bottom (`flip_y`)."""
    if flip_x:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if flip_y:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return image


def mirror_xyxy(box: BoxLike, size: float, flip_x: bool, flip_y: bool) -> np.ndarray:
    """An xyxy box in a `size x size` crop, mirrored as `mirror_image` mirrors the crop.

    Its own inverse: mirroring twice gives the box back.
    """
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)
    if flip_x:
        x1, x2 = size - x2, size - x1
    if flip_y:
        y1, y2 = size - y2, size - y1
    return np.array([x1, y1, x2, y2])


def consensus_xyxy(boxes: BoxLike, agree_iou: float = 0.5) -> tuple[int, np.ndarray]:
    """Robust combination of several answers for one target: `(medoid index, combined box)`.

    The medoid is the box with the largest summed IoU with the others (ties: the first); the
    combined box is the mean of the boxes that overlap the medoid by at least `agree_iou`. One
    answer that jumped to a look-alike is outvoted by the others rather than averaged in.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0:
        raise ValueError("consensus of no boxes")
    overlap = np.asarray(iou_xyxy(b[:, None, :], b[None, :, :]))
    medoid = int(np.argmax(overlap.sum(axis=1)))
    agree = overlap[medoid] >= agree_iou
    agree[medoid] = True
    return medoid, b[agree].mean(axis=0)


def coord_tint(image: Image.Image, strength: float) -> Image.Image:
    """Blend a fixed coordinate ramp into an image (CoordConv through the pixels).

    pixel' = (1 - strength) * pixel + strength * ramp, where the ramp's red channel grows from 0
    at the left edge to 255 at the right, its green channel from top to bottom, and blue is 128.
    A model whose visual tokens carry no absolute position (Qwen2.5-VL's vision tower has only
    relative, rotary positions) can then read where a patch is from its colour. `strength` 0
    returns the image unchanged. Checkpoints trained with it record it in their settings.
    """
    if strength == 0:
        return image
    if not 0 < strength < 1:
        raise ValueError(f"coord tint strength must be in [0, 1), got {strength}")
    width, height = image.size
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    ramp = np.empty_like(pixels)
    ramp[..., 0] = (np.arange(width, dtype=np.float32) + 0.5) * (255.0 / width)
    ramp[..., 1] = ((np.arange(height, dtype=np.float32) + 0.5) * (255.0 / height))[:, None]
    ramp[..., 2] = 128.0
    mixed = (1 - strength) * pixels + strength * ramp
    return Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = 56 * 56,
    max_pixels: int = 28 * 28 * 1280,
) -> tuple[int, int]:
    """The size Qwen2-VL / Qwen2.5-VL processors resize an image to: both sides multiples of
    `factor`, the pixel count within [min_pixels, max_pixels], the aspect ratio kept as closely
    as possible. Grounding answers are in pixels of this resized image, not of the original.
    """
    if min(height, width) <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}x{height} exceeds 200, which Qwen-VL rejects")
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > max_pixels:
        shrink = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / shrink / factor) * factor)
        w = max(factor, math.floor(width / shrink / factor) * factor)
    elif h * w < min_pixels:
        grow = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * grow / factor) * factor
        w = math.ceil(width * grow / factor) * factor
    return h, w
