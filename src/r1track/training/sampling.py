"""Training pairs from tracking sequences: the R1-Track recipe, with its weaknesses fixed.

Recipe (R1-Track-5k/100k): frames drawn from one sequence; *each* image cropped around its own
ground-truth box with its own context factor U(2, 8) and its own centre jitter U(-0.2, 0.2) x crop
side in x and y; black padding; resized to the output size (OpenCV INTER_LINEAR, `resize`); the
template boxes of the prompt are the unclipped crop boxes truncated to integers, as R1-Track
wrote them; the answer is the search box in crop pixels, integers.

Fixed here: frames where the target is absent or fully covered never stand for a visible target
(they are used only as absent samples, below); template frames come before the search frame, within
`max_gap` frames; boxes are clipped to their crop, and a sample whose box is mostly outside a crop
is dropped and counted (not silently kept); every drop has a reason. The answer (search) box is
clipped to its crop and rounded: kept on purpose.

Absent samples (`absent_rate`, issue 19): a share of samples whose search crop shows no target and
whose answer is `prompts.ABSENT_ANSWER` (`Sample.solution` None). Each is one of two kinds, half
and half by a fair draw: a *hidden* frame (the target labelled absent or fully covered, e.g.
GOT-10k's absence 1 or cover 0), cropped around the target's last visible box before it; or a
*miss*, a visible frame whose search window (the usual size) is placed where it does not overlap
the target box at all (IoU 0), its centre inside the frame. A sequence with no hidden frame to
use gives a miss instead; a frame where no window can miss the target is dropped and counted.
Templates are cut as for ordinary samples, from visible frames before the search frame.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from r1track.datasets.base import Sequence
from r1track.errors import ConfigError, check_at_least, check_choice, check_in_range, check_share
from r1track.geometry import (
    RESIZE_METHODS,
    CropWindow,
    area_xyxy,
    clip_xyxy,
    coord_tint,
    crop_image,
    xywh_to_xyxy,
)


@dataclass(frozen=True)
class SamplingConfig:
    """How one training sample is drawn and cropped."""

    sizes: tuple[int, ...] = (336,)
    """Crop sizes; each sample picks one at random (all images of a sample share it)."""
    images: int = 2
    """2 (template + search) or 3 (two templates + search)."""
    context_range: tuple[float, float] = (2.0, 8.0)
    """Each image's context factor is drawn from U(low, high)."""
    jitter: float = 0.2
    """Each crop's centre moves by U(-jitter, jitter) x its side, in x and in y."""
    template_jitter: float | None = None
    """Jitter of template crops; None: `jitter`. A box-free prompt (`nano`) needs 0: the prompt
    then does not say where the target is, so it must be at the template's centre, as it is in
    tracking (the tracker centres the template on the given box)."""
    template_context: float | None = None
    """Context factor of template crops; None: drawn from `context_range` like the search crop's.
    Fixed at the tracker's template factor with a wide `context_range`, the search crops show the
    target at sizes the prompt does not give, so the answer's size must be read from the image (a
    tracker's crop is cut around its last answer, whose size is off whenever the target grew)."""
    max_gap: int = 100
    """Templates are at most this many frames before the search frame."""
    coord_tint: float = 0.0
    """Blend this much of the coordinate ramp into every crop (`geometry.coord_tint`; 0: off)."""
    min_inside: float = 0.5
    """Drop a sample if less than this fraction of a box's area lies inside its crop."""
    max_attempts: int = 50
    """Draws per sample before giving up on it (each failed draw is counted by reason)."""
    resize: str = "cv2"
    """How crops are resampled (`geometry.RESIZE_METHODS`): `cv2` as R1-Track's released data,
    `pil` as r1track-nano's (Pillow's antialiased BILINEAR)."""
    absent_rate: float = 0.0
    """Probability that a sample is an absent one (no target in its search crop, answer
    `ABSENT_ANSWER`): half from hidden frames, half from crops that miss the target (module
    docstring). 0: none, and the same samples as before the setting existed."""
    paste_rate: float = 0.0
    """Probability that a tracking sample gets another sequence's target pasted into its search
    crop, and in half of those that sequence's template and the pasted box as its answer
    (`training.paste`): only the template says which object to answer. 0: none, and builds stay
    as they were."""
    grounding_rate: float = 0.0
    """Probability that a sample is a text-grounding one (`training.grounding`: a whole frame, the
    description's prompt, the box in that image). 0: none, and builds stay as they were."""
    grounding_factor: int = 28
    """Grounding images: both sides multiples of this (the model's patch x merge size: Qwen's
    28, r1track-nano's 112)."""
    grounding_pixels: int = 28 * 28 * 1280
    """Grounding images: at most this many pixels (the tracker's `grounding_max_pixels`)."""
    grounding_windows: int = 0
    """Grounding samples in windows (the tracker's `grounding_windows`): one of the frame's
    windows (`tracking.redetect.grounding_windows`, at `template_context`, which it needs) at the
    crop size, answered with the target's box in it where it is near the search crop centred on
    the target, the absent answer where it is far from it (`training.grounding`). 0: the whole
    frame (`grounding_factor`, `grounding_pixels`)."""

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ConfigError("sizes", "must name at least one crop size")
        bad = [s for s in self.sizes if s < 28 or s % 28]
        if bad:
            raise ConfigError(
                "sizes", f"must be multiples of 28 (Qwen keeps them unresized), got {bad}"
            )
        if self.images not in (2, 3):
            raise ConfigError("images", f"must be 2 or 3, got {self.images}")
        try:
            low, high = self.context_range
            ordered = 1 <= low <= high
        except (TypeError, ValueError):
            ordered = False
        if not ordered:
            raise ConfigError(
                "context_range", f"must be LOW,HIGH with 1 <= LOW <= HIGH, got {self.context_range}"
            )
        check_in_range("jitter", self.jitter, 0, 0.5)
        if self.template_jitter is not None:  # None: `jitter`
            check_in_range("template_jitter", self.template_jitter, 0, 0.5)
        if self.template_context is not None:  # None: drawn from `context_range`
            check_at_least("template_context", self.template_context, 1)
        check_at_least("max_gap", self.max_gap, 1)
        check_in_range("coord_tint", self.coord_tint, 0, 1)
        check_choice("resize", self.resize, RESIZE_METHODS)
        check_in_range("absent_rate", self.absent_rate, 0, 1)
        check_share("paste_rate", self.paste_rate)
        check_share("grounding_rate", self.grounding_rate)  # 1: a grounding-only dataset
        check_at_least("grounding_factor", self.grounding_factor, 14)
        check_at_least("grounding_pixels", self.grounding_pixels, self.grounding_factor**2)
        check_at_least("grounding_windows", self.grounding_windows, 0)
        if self.grounding_windows and self.template_context is None:
            raise ConfigError(
                "grounding_windows",
                "cuts windows at the tracker's context: give --template-context",
            )


def usable_frames(seq: Sequence) -> np.ndarray:
    """Indices of frames with a finite, non-empty box and a visible target."""
    b = seq.boxes
    ok = np.all(np.isfinite(b), axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)
    if seq.visible is not None:
        ok &= seq.visible
    return np.flatnonzero(ok)


def hidden_frames(seq: Sequence) -> np.ndarray:
    """Indices of frames where the dataset says the target is not visible (absent or fully
    covered); none where it does not say."""
    if seq.visible is None:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(~np.asarray(seq.visible, dtype=bool))


def draw_frames(
    usable: np.ndarray, rng: np.random.Generator, images: int, max_gap: int
) -> list[int] | None:
    """Template frame(s) then the search frame: increasing, all usable, within `max_gap`."""
    if len(usable) < images:
        return None
    search = int(rng.choice(usable[images - 1 :]))
    earlier = usable[(usable < search) & (usable >= search - max_gap)]
    if len(earlier) < images - 1:
        return None
    templates = sorted(int(t) for t in rng.choice(earlier, size=images - 1, replace=False))
    return [*templates, search]


def jittered_window(
    box_xywh, size: int, rng: np.random.Generator, config: SamplingConfig, template: bool = False
):
    """A square crop window around a box with a random context factor and centre jitter (the
    template context and jitter for a template crop, where set)."""
    x, y, w, h = (float(v) for v in box_xywh)
    if template and config.template_context is not None:
        factor = config.template_context
    else:
        factor = rng.uniform(*config.context_range)
    side = max(1, math.ceil(math.sqrt(w * h) * factor))
    jitter = config.jitter
    if template and config.template_jitter is not None:
        jitter = config.template_jitter
    dx, dy = rng.uniform(-jitter, jitter, size=2) * side
    x0 = round(x + w / 2 + dx - side / 2)
    y0 = round(y + h / 2 + dy - side / 2)
    return CropWindow(x0=x0, y0=y0, side=side, size=size)


def crop_with_box(
    frame: Image.Image,
    box_xywh,
    size: int,
    rng: np.random.Generator,
    config: SamplingConfig,
    around=None,
    template: bool = False,
) -> tuple[Image.Image, np.ndarray, np.ndarray] | None:
    """Crop around a box (or around the box `around`, e.g. a tracker's last answer); returns
    (crop, box in crop pixels clipped to the crop, the same unclipped) or None if the box is
    mostly outside the crop."""
    window = jittered_window(box_xywh if around is None else around, size, rng, config, template)
    full = window.to_crop(xywh_to_xyxy(box_xywh))
    clipped = clip_xyxy(full, size, size)
    if area_xyxy(clipped) < config.min_inside * area_xyxy(full):
        return None
    return crop_image(frame, window, config.resize), clipped, full


@dataclass
class Sample:
    """One training sample before it becomes a dataset row."""

    sequence: str
    frames: list[int]
    size: int
    images: list[Image.Image]
    template_boxes: list[list[int]]
    """Template boxes in their crops' pixels, unclipped, truncated to integers (what the 5k and
    100k prompts show, as R1-Track wrote them)."""
    solution: list[int] | None
    """Search box in search-crop pixels, integers `[x1, y1, x2, y2]`; None: the target is not in
    the search crop (an absent sample)."""
    prompt: str | None = None
    """The task text when it is not the tracking prompt (a grounding sample's)."""


def _int_box(box: np.ndarray) -> list[int]:
    return [round(float(v)) for v in box]


def _template_box(box: np.ndarray) -> list[int]:
    """A template box as R1-Track's prompts hold it: truncated toward zero (`int()`)."""
    return [int(float(v)) for v in box]


def _as_sample(
    seq: Sequence,
    frames: list[int],
    size: int,
    cuts: list[tuple[Image.Image, np.ndarray | None, np.ndarray | None]],
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """Crops and their boxes (templates, then search; the search box None for an absent sample)
    -> a Sample with integer boxes and tinted crops, or None (counted) when a box collapses when
    rounded to whole pixels."""
    boxes = [_template_box(full) for _, _, full in cuts[:-1]]
    if cuts[-1][1] is not None:
        boxes.append(_int_box(cuts[-1][1]))
    if any(b[2] <= b[0] or b[3] <= b[1] for b in boxes):
        drops["box_degenerate_after_rounding"] += 1
        return None
    crops = [coord_tint(crop, config.coord_tint) for crop, _, _ in cuts]
    templates = boxes[: len(cuts) - 1]
    solution = boxes[-1] if cuts[-1][1] is not None else None
    return Sample(seq.name, frames, size, crops, templates, solution)


def read_frame(seq: Sequence, index: int) -> Image.Image:
    with Image.open(seq.frame_files[index]) as raw:
        return raw.convert("RGB")


def _cut(seq: Sequence, frames: list[int], count: int, size: int, rng, config: SamplingConfig):
    """`crop_with_box` of the first `count` of `frames` around their boxes, in order (all but
    the last are templates), or None as soon as one box is mostly outside its crop."""
    cuts = []
    for i, index in enumerate(frames[:count]):
        template = i < len(frames) - 1
        out = crop_with_box(
            read_frame(seq, index), seq.boxes[index], size, rng, config, template=template
        )
        if out is None:
            return None
        cuts.append(out)
    return cuts


def draw_tracked_sample(
    sequences: list[Sequence],
    usable: list[np.ndarray],
    tracked: list[np.ndarray],
    rng: np.random.Generator,
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """A pair as a tracker sees it (on-policy): the template is frame 0 around its box, the
    search crop of frame t is centred on the tracker's own box of frame t - 1 (`tracked[k]`, one
    `x, y, w, h` row per frame); both with the context and jitter of `config`."""
    for _ in range(config.max_attempts):
        k = int(rng.integers(len(sequences)))
        later = usable[k][usable[k] >= 1]
        if len(later) == 0:
            drops["too_few_usable_frames"] += 1
            continue
        t = int(rng.choice(later))
        size = int(rng.choice(config.sizes))
        seq = sequences[k]
        template = crop_with_box(read_frame(seq, 0), seq.boxes[0], size, rng, config, template=True)
        search = crop_with_box(
            read_frame(seq, t), seq.boxes[t], size, rng, config, around=tracked[k][t - 1]
        )
        if template is None or search is None:
            drops["box_mostly_outside_crop"] += 1  # mostly: the tracker had lost the target
            continue
        sample = _as_sample(seq, [0, t], size, [template, search], config, drops)
        if sample is not None:
            return sample
    drops["gave_up"] += 1
    return None


def draw_sample(
    sequences: list[Sequence],
    usable: list[np.ndarray],
    rng: np.random.Generator,
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """Draw until one valid sample comes out (counting every rejected draw in `drops`)."""
    for _ in range(config.max_attempts):
        k = int(rng.integers(len(sequences)))
        frames = draw_frames(usable[k], rng, config.images, config.max_gap)
        if frames is None:
            drops["too_few_usable_frames"] += 1
            continue
        size = int(rng.choice(config.sizes))
        seq = sequences[k]
        cuts = _cut(seq, frames, len(frames), size, rng, config)
        if cuts is None:
            drops["box_mostly_outside_crop"] += 1
            continue
        sample = _as_sample(seq, frames, size, cuts, config, drops)
        if sample is not None:
            return sample
    drops["gave_up"] += 1
    return None


def missing_window(
    box_xywh, frame_size: tuple[int, int], size: int, rng: np.random.Generator, config
) -> CropWindow | None:
    """A search window of the usual side (a context factor drawn as for any search crop) that
    does not overlap the box (IoU 0; touching is allowed), with its centre inside the frame
    (`frame_size` W, H): a side of the box (left, right, above, below) drawn among those with
    room, then a position on it. None when no side has room."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = max(1, math.ceil(math.sqrt(w * h) * rng.uniform(*config.context_range)))
    width, height = frame_size
    half = side / 2
    # (axis, low, high) of the window's corner on that axis; the other axis is free in the frame
    ranges = [
        (0, -half, x - side),  # left of the box
        (0, x + w, width - half),  # right of it
        (1, -half, y - side),  # above it
        (1, y + h, height - half),  # below it
    ]
    room = [r for r in ranges if math.floor(r[2]) >= math.ceil(r[1])]
    if not room:
        return None
    axis, low, high = room[int(rng.integers(len(room)))]
    free = (width, height)[1 - axis]
    along = int(rng.integers(math.ceil(low), math.floor(high) + 1))
    across = int(rng.integers(math.ceil(-half), math.floor(free - half) + 1))
    x0, y0 = (along, across) if axis == 0 else (across, along)
    return CropWindow(x0=x0, y0=y0, side=side, size=size)


def draw_absent_sample(
    sequences: list[Sequence],
    usable: list[np.ndarray],
    hidden: list[np.ndarray],
    rng: np.random.Generator,
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """An absent sample (module docstring): templates as for any sample, a search crop with no
    target in it, solution None. `hidden[k]`: `hidden_frames` of sequence k."""
    for _ in range(config.max_attempts):
        k = int(rng.integers(len(sequences)))
        seq = sequences[k]
        want_hidden = rng.random() < 0.5
        # hidden frames with enough visible frames before them (within max_gap) for templates
        candidates = [
            t
            for t in (hidden[k] if want_hidden else ())
            if np.count_nonzero((usable[k] < t) & (usable[k] >= t - config.max_gap))
            >= config.images - 1
        ]
        size = int(rng.choice(config.sizes))
        if candidates:
            search = int(rng.choice(candidates))
            earlier = usable[k][(usable[k] < search) & (usable[k] >= search - config.max_gap)]
            picked = rng.choice(earlier, size=config.images - 1, replace=False)
            frames = [*sorted(int(t) for t in picked), search]
            last_seen = seq.boxes[int(earlier[-1])]  # the last visible box before the frame
            window = jittered_window(last_seen, size, rng, config)
        else:  # a miss (or a sequence with no hidden frame to use)
            frames = draw_frames(usable[k], rng, config.images, config.max_gap)
            if frames is None:
                drops["too_few_usable_frames"] += 1
                continue
            frame = read_frame(seq, frames[-1])
            window = missing_window(seq.boxes[frames[-1]], frame.size, size, rng, config)
            if window is None:
                drops["absent_no_window_misses_target"] += 1
                continue
        cuts = _cut(seq, frames, len(frames) - 1, size, rng, config)  # the templates
        if cuts is None:
            drops["box_mostly_outside_crop"] += 1
            continue
        search_crop = crop_image(read_frame(seq, frames[-1]), window, config.resize)
        sample = _as_sample(seq, frames, size, [*cuts, (search_crop, None, None)], config, drops)
        if sample is not None:
            return sample
    drops["gave_up"] += 1
    return None
