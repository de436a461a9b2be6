"""Boxes, square context crops and the pixels a model is given: pure functions, numpy and
Pillow only.

Coordinate conventions (used everywhere in the project):
- A frame box is `(x, y, w, h)` in frame pixels (top-left corner, size), as benchmarks store it.
- `xyxy` boxes are `(x1, y1, x2, y2)` with x2 = x + w: continuous coordinates where a pixel
  i covers [i, i+1). Model answers and crop boxes are xyxy.
- A crop is a square window of `side` frame pixels with top-left `(x0, y0)`, resized to
  `size x size`; crop pixel u maps to frame x0 + u / scale with scale = size / side.

Resampling (`RESIZE_METHODS`): `cv2` is what R1-Track's checkpoints saw, OpenCV's
`cv2.resize(..., INTER_LINEAR)` (no antialiasing when shrinking), re-implemented here in numpy so
that OpenCV is not a dependency; `pil` is Pillow's BILINEAR, which widens its filter when
shrinking (an antialiased, blurrier crop), what r1track-nano was trained on.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

BoxLike = Sequence[float] | np.ndarray

RESIZE_METHODS = ("cv2", "pil")
"""How crops are resampled: `cv2` (OpenCV INTER_LINEAR, as R1-Track) or `pil` (Pillow BILINEAR)."""
IMAGE_FORMATS = ("jpeg", "png")
"""How images reach the model: `jpeg` (JPEG quality 95, as R1-Track in training and at
inference) or `png` (lossless: exactly the pixels cut)."""
JPEG_QUALITY = 95
"""OpenCV's default JPEG quality (`cv2.imwrite`, `cv2.imencode`), which R1-Track used."""
JPEG_SUBSAMPLING = "4:2:0"
"""OpenCV's default chroma subsampling; with it and `JPEG_QUALITY`, Pillow writes the same bytes
as `cv2.imencode(".jpg", ...)` (both use libjpeg-turbo)."""
_COEF_BITS = 11
"""OpenCV's fixed-point precision of bilinear weights on uint8 images (INTER_RESIZE_COEF_BITS)."""


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


def crop_image(frame: Image.Image, window: CropWindow, resize: str = "cv2") -> Image.Image:
    """Cut `window` out of `frame` and resize it to `window.size`; outside the frame is black.

    `resize` (`RESIZE_METHODS`): `cv2` gives the pixels of R1-Track's crop, `cv2.resize(padded
    window, INTER_LINEAR)` of the window padded with black; `pil`, Pillow's antialiased BILINEAR.
    Neither builds the padded window, so a huge window over a small frame costs no more memory
    than the crop itself.
    """
    if resize not in RESIZE_METHODS:
        raise ValueError(f"unknown resize {resize!r}; expected one of {', '.join(RESIZE_METHODS)}")
    if frame.mode != "RGB":
        frame = frame.convert("RGB")
    if resize == "cv2":
        return Image.fromarray(_crop_linear(frame, window), "RGB")
    return _crop_pil(frame, window)


def _crop_pil(frame: Image.Image, window: CropWindow) -> Image.Image:
    """`crop_image` with Pillow's BILINEAR: only the part of the window inside the frame is
    resampled, onto the whole crop pixels it covers."""
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
    patch = frame.resize((dx1 - dx0, dy1 - dy0), Image.Resampling.BILINEAR, box=src)
    out.paste(patch, (dx0, dy0))
    return out


def _linear_taps(dst: int, src: int, clamp_weights: bool):
    """OpenCV's INTER_LINEAR taps for one axis: each output pixel's two source indices and their
    fixed-point weights (summing to 2**11), from the half-pixel-centre position
    `(i + 0.5) * src / dst - 0.5`, computed in float32 as OpenCV does. Past the edges the index
    is clamped; OpenCV also zeroes the fraction there along x (`clamp_weights`), not along y."""
    scale = 1.0 / (dst / src)  # OpenCV: scale_x = 1 / inv_scale_x, in double
    pos = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first.astype(np.float32)).astype(np.float32)
    if clamp_weights:
        low = first < 0
        frac[low], first[low] = 0, 0
        high = first >= src - 1
        frac[high], first[high] = 0, src - 1
    one = np.float32(1 << _COEF_BITS)
    w0 = np.rint((np.float32(1) - frac) * one).astype(np.int32)
    w1 = np.rint(frac * one).astype(np.int32)
    return np.clip(first, 0, src - 1), np.clip(first + 1, 0, src - 1), w0, w1


def _linear(pixels: np.ndarray, rows, cols, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resampling with OpenCV's uint8 fixed-point arithmetic (its x86 SIMD path: the
    horizontal pass is exact, the vertical one rounds as `VResizeLinearVec_32s8u`). `rows` and
    `cols` are `_linear_taps` whose indices are positions in `pixels`; outside it is black. The
    horizontal pass runs once per distinct source row (an upscale reads each row twice)."""
    r0, r1, b0, b1 = rows
    c0, c1, a0, a1 = cols
    height, width = pixels.shape[:2]
    used, where = np.unique(np.concatenate([r0, r1]), return_inverse=True)
    source = pixels[np.clip(used, 0, height - 1)]
    extra = (slice(None),) + (None,) * (pixels.ndim - 2)
    across = None
    for c, weight in ((c0, a0), (c1, a1)):
        part = source[:, np.clip(c, 0, width - 1)].astype(np.int32)
        outside = (c < 0) | (c >= width)
        if outside.any():
            part[:, outside] = 0
        part *= weight[extra]
        across = part if across is None else across + part
    off = (used < 0) | (used >= height)
    if off.any():
        across[off] = 0
    across >>= 4
    column = (slice(None), None) + (None,) * (pixels.ndim - 2)
    top = across[where[:out_h]] * b0[column]
    top >>= 16
    bottom = across[where[out_h:]] * b1[column]
    bottom >>= 16
    top += bottom
    top += 2
    top >>= 2
    return np.clip(top, 0, 255).astype(np.uint8)


def resize_linear(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """`cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)` for uint8 HxW or
    HxWxC arrays, without OpenCV: no antialiasing when shrinking. Measured bit-exact against
    opencv-python-headless 5.0 on x86 (tests/test_geometry.py checks it within 1 grey level)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 HxW or HxWxC array, got {pixels.dtype} {pixels.shape}")
    if min(pixels.shape[:2]) < 1 or width < 1 or height < 1:
        raise ValueError(f"cannot resize {pixels.shape[:2]} to {height}x{width}")
    src_h, src_w = pixels.shape[:2]
    rows = _linear_taps(height, src_h, clamp_weights=False)
    cols = _linear_taps(width, src_w, clamp_weights=True)
    return _linear(pixels, rows, cols, height, width)


def _crop_linear(frame: Image.Image, window: CropWindow) -> np.ndarray:
    """`crop_image` with `cv2`: `resize_linear` of the window padded with black, computed from
    the frame pixels its taps reach (the taps over the window, shifted by its corner)."""
    x0, y0, side = round(window.x0), round(window.y0), round(window.side)
    if (x0, y0, side) != (window.x0, window.y0, window.side) or side < 1:
        raise ValueError(f"a cv2 crop needs a window of whole pixels, got {window}")
    rows = list(_linear_taps(window.size, side, clamp_weights=False))
    cols = list(_linear_taps(window.size, side, clamp_weights=True))
    # Only the frame's part under the taps is read: cut it out first (a small array).
    width, height = frame.size
    ry = np.concatenate(rows[:2]) + y0
    cx = np.concatenate(cols[:2]) + x0
    ry, cx = ry[(ry >= 0) & (ry < height)], cx[(cx >= 0) & (cx < width)]
    if len(ry) == 0 or len(cx) == 0:
        return np.zeros((window.size, window.size, 3), np.uint8)
    left, top = int(cx.min()), int(ry.min())
    patch = np.asarray(frame.crop((left, top, int(cx.max()) + 1, int(ry.max()) + 1)))
    rows[0], rows[1] = rows[0] + (y0 - top), rows[1] + (y0 - top)
    cols[0], cols[1] = cols[0] + (x0 - left), cols[1] + (x0 - left)
    return _linear(patch, rows, cols, window.size, window.size)


def jpeg_bytes(image: Image.Image) -> bytes:
    """The image as R1-Track's `cv2.imencode(".jpg")` / `cv2.imwrite` stored it: JPEG quality 95,
    4:2:0 chroma (OpenCV's defaults; Pillow writes the same bytes from the same pixels)."""
    buf = io.BytesIO()
    image.convert("RGB").save(
        buf, format="JPEG", quality=JPEG_QUALITY, subsampling=JPEG_SUBSAMPLING
    )
    return buf.getvalue()


def as_sent(image: Image.Image, image_format: str) -> Image.Image:
    """The image the model is given: `png` returns it unchanged (lossless); `jpeg` returns its
    JPEG decode (`jpeg_bytes`), which remembers the bytes (`sent_jpeg`) so that a server is sent
    those very bytes and decodes the same pixels as an in-process model."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"unknown image format {image_format!r}; expected one of {', '.join(IMAGE_FORMATS)}"
        )
    if image_format == "png":
        return image
    data = jpeg_bytes(image)
    with Image.open(io.BytesIO(data)) as encoded:
        decoded = encoded.convert("RGB")
    decoded._r1track_jpeg = data  # type: ignore[attr-defined]
    return decoded


def sent_jpeg(image: Image.Image) -> bytes | None:
    """The JPEG bytes `as_sent` decoded `image` from, or None. Only the object `as_sent` returned
    carries them: a copy, a mirror or any other new image made from it does not."""
    return getattr(image, "_r1track_jpeg", None)


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
    medoid, combined, _ = consensus_agreement_xyxy(boxes, agree_iou)
    return medoid, combined


def consensus_agreement_xyxy(boxes: BoxLike, agree_iou: float = 0.5) -> tuple[int, np.ndarray, int]:
    """`consensus_xyxy`'s medoid and combined box, and how many boxes agree with the medoid
    (itself included): the boxes that were averaged.

    >>> consensus_agreement_xyxy([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]])[2]
    2
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0:
        raise ValueError("consensus of no boxes")
    overlap = np.asarray(iou_xyxy(b[:, None, :], b[None, :, :]))
    medoid = int(np.argmax(overlap.sum(axis=1)))
    agree = overlap[medoid] >= agree_iou
    agree[medoid] = True
    return medoid, b[agree].mean(axis=0), int(agree.sum())


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
