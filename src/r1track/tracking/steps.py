"""The pure steps of tracking a frame, around the model call: frames in, the user's first box
checked, an answer read back into the frame (or the reason it is not used), its confidence, and
the size damping of a new box. No state, no backend."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from r1track.backends.base import confidence_of
from r1track.errors import UserError, shorten
from r1track.geometry import (
    CropWindow,
    area_xyxy,
    clip_xyxy,
    is_valid_xywh,
    mirror_xyxy,
    smart_resize,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from r1track.prompts import parse_box
from r1track.tracking.types import Frame


def as_image(frame: Frame) -> Image.Image:
    """Accept a PIL image or an HxWx3 uint8 RGB array."""
    if isinstance(frame, Image.Image):
        return frame if frame.mode == "RGB" else frame.convert("RGB")
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise UserError(f"a frame must be an HxWx3 RGB array, got shape {array.shape}")
    return Image.fromarray(array.astype(np.uint8, copy=False), "RGB")


def grounding_image(frame: Image.Image, factor: int, min_pixels: int, max_pixels: int):
    """The frame as text initialisation gives it to the model: resized (bicubic) to the size the
    model's processor would resize it to (`geometry.smart_resize`), so that the processor leaves
    it alone and the answer's pixels are this image's. `data build --grounding-rate` makes its
    samples with this function too."""
    width, height = frame.size
    new_h, new_w = smart_resize(height, width, factor, min_pixels, max_pixels)
    if (new_w, new_h) == (width, height):
        return frame
    return frame.resize((new_w, new_h), Image.Resampling.BICUBIC)


def check_init_box(bbox: Sequence[float], frame_size: tuple[int, int]) -> np.ndarray:
    """Validate a user's initial `(x, y, w, h)` against the first frame; returns it as floats."""
    box = np.asarray(bbox, dtype=np.float64)
    if box.shape != (4,):
        raise UserError(f"a box needs 4 numbers x,y,w,h; got {len(box.ravel())}")
    if not is_valid_xywh(box):
        raise UserError(f"box {_fmt(box)} must have finite numbers and positive width and height")
    width, height = frame_size
    with np.errstate(over="ignore"):  # a huge box's corners and area overflow to inf
        corners = xywh_to_xyxy(box)
        inside = area_xyxy(clip_xyxy(corners, width, height))
        whole = float(box[2]) * float(box[3])
    if inside <= 0:
        raise UserError(f"box {_fmt(box)} lies entirely outside the {width}x{height} frame")
    # The target must be seen on the first frame: a box mostly outside it (a typo, 1e9) would
    # make a template of almost nothing and a search window too large to cut.
    if not inside >= 0.5 * whole:
        raise UserError(
            f"box {_fmt(box)} lies mostly outside the {width}x{height} frame "
            "(at least half of it must be inside)"
        )
    return box


def damp_size(
    previous: np.ndarray,
    answered: np.ndarray,
    scale_lr: float,
    frame_size: tuple[int, int],
    aspect_lr: float = 1.0,
) -> np.ndarray:
    """The answered box `(x, y, w, h)` with its size moved only `scale_lr` of the way (in log
    space) from the previous box's, about the answer's centre, clipped to the frame; of that
    move, the aspect (width / height) part takes only `aspect_lr` (0 keeps the previous aspect),
    the area's part all of it.

    The clip can only shrink the box; when that leaves less than a pixel, the answer is kept.
    """
    if scale_lr >= 1 and aspect_lr >= 1:
        return answered
    size = previous[2:] * (answered[2:] / previous[2:]) ** scale_lr
    if aspect_lr < 1:  # w * c and h / c keep the area; the log aspect moves by aspect_lr of it
        turn = (answered[2] / answered[3]) / (previous[2] / previous[3])
        c = turn ** (scale_lr * (aspect_lr - 1) / 2)
        size = size * np.array([c, 1 / c])
    centre = answered[:2] + answered[2:] / 2
    box = clip_xyxy(np.concatenate([centre - size / 2, centre + size / 2]), *frame_size)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return answered
    return xyxy_to_xywh(box)


def confidence(answer: str, missing: float | None = None) -> float | None:
    """An answer's confidence (`backends.base.Answer`), or `missing` when its backend gave none."""
    value = confidence_of(answer)
    return missing if value is None else value


def _fmt(box: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in box)


def read_answer(
    answer: str,
    window: CropWindow,
    frame_size: tuple[int, int],
    mirror: tuple[bool, bool] = (False, False),
) -> tuple[np.ndarray, bool, str | None]:
    """Answer in a crop mirrored by `mirror` -> (frame box xyxy, parsed?, fallback or None)."""
    parsed = parse_box(answer)
    if parsed.absent:
        return np.zeros(4), True, "absent"
    if not parsed.ok:
        return np.zeros(4), False, "unparsed"
    crop_box = mirror_xyxy(parsed.box, window.size, *mirror)
    if crop_box[2] <= crop_box[0] or crop_box[3] <= crop_box[1]:
        return np.zeros(4), True, "degenerate"
    crop_box = clip_xyxy(crop_box, window.size, window.size)
    if area_xyxy(crop_box) <= 0:
        return np.zeros(4), True, "outside_crop"
    frame_box = clip_xyxy(window.to_frame(crop_box), *frame_size)
    # A box under one pixel wide would shrink the next search window to nothing.
    if frame_box[2] - frame_box[0] < 1 or frame_box[3] - frame_box[1] < 1:
        return np.zeros(4), True, "outside_frame"
    return frame_box, True, None


def parse_xywh(text: str, label: str = "box") -> tuple[float, float, float, float]:
    """`x,y,w,h` typed by a user -> four finite floats; `UserError` naming `label` (a flag,
    or "box") otherwise."""
    parts = text.replace(" ", "").split(",")
    if "" in parts and len(parts) > 1:
        raise UserError(f"{label} {shorten(text)}: an empty field; expected X,Y,W,H")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UserError(f"{label} {shorten(text)}: expected four numbers X,Y,W,H") from None
    if len(values) != 4:
        got = len(values)
        raise UserError(f"{label} {shorten(text)}: expected four numbers X,Y,W,H, got {got}")
    if not all(math.isfinite(v) for v in values):
        raise UserError(f"{label} {shorten(text)}: expected four finite numbers X,Y,W,H")
    return values  # type: ignore[return-value]
