"""The tracking loop: start from a box or a sentence, then one model call per frame.

Shape of the API (after SAM 2's video predictor): a `Tracker` holds a backend and a config;
`start` makes a small `TrackState` from the first frame; `step` / `step_many` advance one or
several tracks by one frame; `track` is a generator over a frame source.

Per frame: square search crop around the last box -> model sees (template crop, search crop,
text) -> the answer box (crop pixels) is mapped back to the frame and clipped. An unusable answer
(no box, degenerate, outside the crop or frame) keeps the last *frame-space* box and is counted:
the reference keeps the old *crop-space* box instead and reuses it in a new crop, which drifts.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from PIL import Image

from r1track.backends.base import Backend, GenerationRequest
from r1track.errors import R1TrackError, UserError, shorten
from r1track.geometry import (
    IMAGE_FORMATS,
    RESIZE_METHODS,
    CropWindow,
    area_xyxy,
    as_sent,
    clip_xyxy,
    consensus_xyxy,
    coord_tint,
    crop_image,
    crop_window,
    is_valid_xywh,
    mirror_image,
    mirror_xyxy,
    smart_resize,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from r1track.prompts import (
    GROUNDING_MAX_NEW_TOKENS,
    LAYOUTS,
    MAX_NEW_TOKENS,
    PROMPT_VARIANTS,
    STOP_STRINGS,
    Layout,
    PromptVariant,
    grounding_prompt,
    parse_box,
    tracking_prompt,
)

# Why a frame's answer was not used (FrameResult.fallback).
FALLBACK_REASONS = ("unparsed", "degenerate", "outside_crop", "outside_frame")
# Test-time views (TrackerConfig.views): (mirror left-right, mirror top-bottom) of both crops.
VIEW_MIRRORS = ((False, False), (True, False), (False, True), (True, True))


class GroundingError(R1TrackError):
    """Text initialisation failed: the model gave no usable box for the description."""


class SettingError(UserError):
    """A `TrackerConfig` value out of range: `field` names the setting and `rule` says what is
    wrong with it, so that the command line can name its flag instead of the field."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field.replace('_', ' ')} {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class TrackerConfig:
    """How crops are cut and which prompt the model gets. Defaults are R1-Track's."""

    crop_size: int = 336
    """Side of the template and search crops in pixels; a multiple of 28 so Qwen keeps it."""
    template_factor: float = 4.0
    """Template crop side = ceil(sqrt(w*h) * template_factor) around the first box."""
    search_factor: float = 4.0
    """Search crop side = ceil(sqrt(w*h) * search_factor) around the last box."""
    prompt: PromptVariant = "5k"
    """Task text the checkpoint was trained on: `5k`, `5k-oneline` or `100k` (R1-Track), `nano`
    (r1track-nano)."""
    think: bool = False
    """Ask for `<think>...</think><answer>...</answer>` (think checkpoints)."""
    layout: Layout = "r1track"
    """Where the images, the task text and the think instruction go in the user turn
    (`r1track.prompts.LAYOUTS`). `r1track` (images, then the text) is what r1track-nano and
    checkpoints trained by `r1track train` before layouts existed saw; the released R1-Track
    checkpoints get theirs from `r1track.models.KNOWN_CHECKPOINTS` (docs/fidelity.md)."""
    max_new_tokens: int | None = None
    """Answer budget; default 64 without thinking, 512 with."""
    grounding_max_pixels: int = 28 * 28 * 1280
    """Text init: the first frame is resized to at most this many pixels before grounding."""
    coord_tint: float = 0.0
    """Blend this much of a coordinate ramp into every image sent (`geometry.coord_tint`); only
    for checkpoints trained that way (r1track-nano), 0 (off) for R1-Track's."""
    scale_lr: float = 1.0
    """Share of the answer's size change the track takes each frame, in log space: the new side
    is `old * (answered / old) ** scale_lr` (the centre always follows the answer). 1 takes the
    answer as is (R1-Track); below 1 damps size drift that compounds through the crops, as
    Siamese trackers do (SiamFC's scale_lr)."""
    views: int = 1
    """Test-time views per frame, 1-4: the crops as cut, mirrored left-right, top-bottom, both
    (template and search mirrored alike). Each view's answer is mirrored back and mapped to the
    frame; the track takes the consensus (`geometry.consensus_xyxy`: the mean of the answers
    that agree with the most agreed-upon one), so one view that jumped to a look-alike is
    outvoted. Costs `views` model calls per frame."""
    resize: str = "cv2"
    """How crops are resampled (`geometry.RESIZE_METHODS`): `cv2`, OpenCV's INTER_LINEAR without
    antialiasing, as R1-Track's checkpoints were trained and evaluated; `pil`, Pillow's
    antialiased BILINEAR (r1track-nano, and datasets built with `data build --resize pil`)."""
    image_format: str = "jpeg"
    """How the crops reach the model (`geometry.IMAGE_FORMATS`): `jpeg`, through JPEG quality 95
    as R1-Track's were (training crops were JPEG files, inference sent JPEG data URLs): the `hf`
    backend gets the decoded JPEG, the `openai` backend sends those JPEG bytes; `png`, lossless:
    exactly the pixels cut (r1track-nano)."""

    def __post_init__(self) -> None:
        if self.crop_size < 28:
            raise SettingError("crop_size", f"must be at least 28 pixels, got {self.crop_size}")
        for name in ("template_factor", "search_factor"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise SettingError(name, f"must be positive, got {value}")
        if self.prompt not in PROMPT_VARIANTS:
            expected = ", ".join(PROMPT_VARIANTS)
            raise SettingError("prompt", f"{self.prompt!r} is unknown; expected one of {expected}")
        if self.layout not in LAYOUTS:
            expected = ", ".join(LAYOUTS)
            raise SettingError("layout", f"{self.layout!r} is unknown; expected one of {expected}")
        if not 0 <= self.coord_tint < 1:
            raise SettingError("coord_tint", f"must be in [0, 1), got {self.coord_tint}")
        if not 0 <= self.scale_lr <= 1:
            raise SettingError("scale_lr", f"must be in [0, 1], got {self.scale_lr}")
        if self.views not in range(1, len(VIEW_MIRRORS) + 1):
            raise SettingError("views", f"must be 1 to {len(VIEW_MIRRORS)}, got {self.views}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise SettingError("max_new_tokens", f"must be positive, got {self.max_new_tokens}")
        if self.resize not in RESIZE_METHODS:
            expected = ", ".join(RESIZE_METHODS)
            raise SettingError("resize", f"{self.resize!r} is unknown; expected one of {expected}")
        if self.image_format not in IMAGE_FORMATS:
            expected = ", ".join(IMAGE_FORMATS)
            raise SettingError(
                "image_format", f"{self.image_format!r} is unknown; expected one of {expected}"
            )

    @classmethod
    def for_checkpoint(
        cls, model: str | None = None, served: bool = False, **overrides
    ) -> TrackerConfig:
        """The settings to track with `model` (a checkpoint directory, a Hub id, or a bundled
        name such as `nano`): each override that is not None, else the checkpoint's
        `r1track_tracker.json`, else the settings of a released checkpoint it is (or is a local
        copy of, `r1track.models.known_checkpoint`), else R1-Track's defaults. Overrides are
        fields, or `context` (both crop factors). `served`: `model` is a served model's name
        (only a released id is recognised, no file is read).

        A model that is neither released nor carries a settings file gets the defaults for what
        an override does not set; `guessed_settings` says so in one line."""
        from r1track.models import known_checkpoint, read_settings, resolve_model

        unknown = sorted(set(overrides) - {f.name for f in fields(cls)} - {"context"})
        if unknown:
            raise TypeError(f"unknown tracker setting {unknown[0]!r}")
        given = {k: v for k, v in overrides.items() if v is not None}
        known = known_checkpoint(model) if model else None
        settings = read_settings(resolve_model(model)) if model and not served else {}
        return cls(**_factors({**(known or {}), **settings, **given}))

    @property
    def answer_tokens(self) -> int:
        return self.max_new_tokens or MAX_NEW_TOKENS[self.think]


def _factors(chosen: dict) -> dict:
    """`context` (a settings file's key and an override) as the two crop factors it sets."""
    context = chosen.pop("context", None)
    if context is not None:
        chosen.setdefault("template_factor", context)
        chosen.setdefault("search_factor", context)
    return chosen


def guessed_settings(model: str | None, served: bool = False, **overrides) -> str | None:
    """The note for a model whose prompt, think mode or layout r1track can only guess (neither a
    released checkpoint nor one with `r1track_tracker.json`, and no override for all three):
    one line naming what it gets. None when nothing is guessed. Arguments as `for_checkpoint`."""
    from r1track.models import known_checkpoint, read_settings, resolve_model

    if not model or known_checkpoint(model) is not None:
        return None
    if not served and read_settings(resolve_model(model)):
        return None
    if all(overrides.get(k) is not None for k in ("prompt", "think", "layout")):
        return None
    config = TrackerConfig.for_checkpoint(model, served, **overrides)
    think = "--think" if config.think else "--no-think"
    return (
        f"r1track: note: model {shorten(model)} is not a released R1-Track checkpoint and has no "
        f"r1track_tracker.json; tracking with --prompt {config.prompt} {think} "
        f"--layout {config.layout} (flags change them)"
    )


_NOTICED: set[str] = set()


def notice_guessed_settings(model: str | None, served: bool = False, **overrides) -> None:
    """Print `guessed_settings`' line on stderr, once per model in a process (an unknown
    checkpoint used to get the 5k text silently; a wrong guess degrades a fine-tuned model)."""
    line = guessed_settings(model, served, **overrides)
    if line is not None and model not in _NOTICED:
        _NOTICED.add(str(model))
        print(line, file=sys.stderr)


@dataclass
class FrameResult:
    """What the tracker did on one frame."""

    index: int
    """Frame index, 0 = the initial frame."""
    box: tuple[float, float, float, float]
    """Target box `(x, y, w, h)` in frame pixels."""
    answer: str | None = None
    """The model's raw answer (the grounding answer on frame 0 with text init)."""
    parsed: bool | None = None
    """Whether a box could be read from the answer; None on frame 0 with box init."""
    fallback: str | None = None
    """Why the answer was not used (one of FALLBACK_REASONS), or None."""
    model_seconds: float = 0.0
    """Time spent in the backend for this frame (a batch's time is shared equally)."""
    seconds: float = 0.0
    """Time of the whole step for this frame: crop, encode, model, parse."""

    def record(self) -> dict:
        """A JSON-ready dict (one line of track.jsonl)."""
        rec = asdict(self)
        rec["box"] = [round(float(v), 4) for v in self.box]
        rec["model_seconds"] = round(self.model_seconds, 6)
        rec["seconds"] = round(self.seconds, 6)
        return rec


@dataclass
class TrackState:
    """Everything one track carries between frames."""

    template: Image.Image
    """Template crop from the first frame; identical for every frame of the track."""
    prompt: str
    """Task text, fixed per track (it holds the template box); the request's layout adds the
    think instruction."""
    box: np.ndarray
    """Last frame-space box `(x, y, w, h)`; the fallback for unusable answers."""
    frame_index: int = 0
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies the track's template to the backend (prefix reuse)."""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FALLBACK_REASONS, 0))
    """How many frames fell back, by reason."""
    mirrored: tuple[tuple[Image.Image, str], ...] = ()
    """(template, prompt) of each further test-time view (`VIEW_MIRRORS[1:]`), when views > 1."""


def as_image(frame: Image.Image | np.ndarray) -> Image.Image:
    """Accept a PIL image or an HxWx3 uint8 RGB array."""
    if isinstance(frame, Image.Image):
        return frame if frame.mode == "RGB" else frame.convert("RGB")
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise UserError(f"a frame must be an HxWx3 RGB array, got shape {array.shape}")
    return Image.fromarray(array.astype(np.uint8, copy=False), "RGB")


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
    previous: np.ndarray, answered: np.ndarray, scale_lr: float, frame_size: tuple[int, int]
) -> np.ndarray:
    """The answered box `(x, y, w, h)` with its size moved only `scale_lr` of the way (in log
    space) from the previous box's, about the answer's centre, clipped to the frame.

    The clip can only shrink the box; when that leaves less than a pixel, the answer is kept.
    """
    if scale_lr >= 1:
        return answered
    size = previous[2:] * (answered[2:] / previous[2:]) ** scale_lr
    centre = answered[:2] + answered[2:] / 2
    box = clip_xyxy(np.concatenate([centre - size / 2, centre + size / 2]), *frame_size)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return answered
    return xyxy_to_xywh(box)


def _fmt(box: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in box)


class Tracker:
    """Single-object tracking with a multimodal LLM behind a `Backend`.

    Without a `config`, the tracker uses the settings of the backend's checkpoint (its
    `r1track_tracker.json`, when the backend has a `checkpoint` directory), else R1-Track's
    defaults; `TrackerConfig.for_checkpoint(model, **overrides)` changes some of them.
    """

    def __init__(self, backend: Backend, config: TrackerConfig | None = None):
        self.backend = backend
        if config is None:
            checkpoint = getattr(backend, "checkpoint", None)
            config = TrackerConfig.for_checkpoint(checkpoint)
            notice_guessed_settings(checkpoint)
        self.config = config
        limits = backend.pixel_limits
        size = self.config.crop_size
        if smart_resize(size, size, limits.factor, limits.min_pixels, limits.max_pixels) != (
            size,
            size,
        ):
            raise SettingError(
                "crop_size",
                f"{size} would be resized by the model's processor (sides must be "
                f"multiples of {limits.factor}, area within [{limits.min_pixels}, "
                f"{limits.max_pixels}] pixels); the answer's coordinates would not match the crop",
            )

    # -- starting a track ---------------------------------------------------------------------

    def start(
        self,
        frame: Image.Image | np.ndarray,
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> tuple[TrackState, FrameResult]:
        """Start a track on its first frame from a box `(x, y, w, h)` or a description."""
        t0 = time.perf_counter()
        frame = as_image(frame)
        if (bbox is None) == (text is None):
            raise UserError("give exactly one of a box or a text description to start a track")
        answer, model_seconds = None, 0.0
        if bbox is not None:
            box = check_init_box(bbox, frame.size)
        else:
            box, answer, model_seconds = self.ground(frame, str(text))
        cfg = self.config
        window = crop_window(box, cfg.template_factor, cfg.crop_size)
        # Unclipped, as R1-Track wrote it (a box longer than the window runs past the crop).
        template_box = window.to_crop(xywh_to_xyxy(box))
        template = crop_image(frame, window, cfg.resize)
        state = TrackState(
            template=self._seen(template),
            prompt=tracking_prompt(template_box, cfg.prompt),
            box=box,
            mirrored=tuple(
                (
                    self._seen(mirror_image(template, *flips)),
                    tracking_prompt(mirror_xyxy(template_box, cfg.crop_size, *flips), cfg.prompt),
                )
                for flips in VIEW_MIRRORS[1 : cfg.views]
            ),
        )
        result = FrameResult(
            index=0,
            box=tuple(float(v) for v in box),  # type: ignore[arg-type]
            answer=answer,
            parsed=None if text is None else True,
            model_seconds=model_seconds,
            seconds=time.perf_counter() - t0,
        )
        return state, result

    def _seen(self, crop: Image.Image) -> Image.Image:
        """A crop as the model is given it: coordinate tint (if any), then the image format."""
        return as_sent(coord_tint(crop, self.config.coord_tint), self.config.image_format)

    def ground(self, frame: Image.Image, text: str) -> tuple[np.ndarray, str, float]:
        """Find the described target on a frame: `(box xywh, raw answer, model seconds)`.

        Qwen2.5-VL answers in pixels of the image as its processor resized it. We resize the
        frame ourselves to exactly that size first (so the processor leaves it alone), then
        scale the answer back to the original frame.
        """
        frame = as_image(frame)
        width, height = frame.size
        limits = self.backend.pixel_limits
        max_pixels = min(limits.max_pixels, self.config.grounding_max_pixels)
        new_h, new_w = smart_resize(height, width, limits.factor, limits.min_pixels, max_pixels)
        image = (
            frame
            if (new_w, new_h) == (width, height)
            else frame.resize((new_w, new_h), Image.Resampling.BICUBIC)
        )
        image = coord_tint(image, self.config.coord_tint)
        request = GenerationRequest((image,), grounding_prompt(text), GROUNDING_MAX_NEW_TOKENS)
        t0 = time.perf_counter()
        answer = self.backend.generate([request])[0]
        model_seconds = time.perf_counter() - t0
        parsed = parse_box(answer)
        if not parsed.ok:
            raise GroundingError(
                f"the model found no box for {shorten(text)} on the first frame "
                f"({parsed.error}; answer: {answer[:120]!r})"
            )
        scale = np.array([width / new_w, height / new_h] * 2)
        box = clip_xyxy(np.asarray(parsed.box) * scale, width, height)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            raise GroundingError(
                f"the model's box for {shorten(text)} has no area inside the frame "
                f"(answer: {answer[:120]!r})"
            )
        return xyxy_to_xywh(box), answer, model_seconds

    # -- advancing tracks ---------------------------------------------------------------------

    def step(self, state: TrackState, frame: Image.Image | np.ndarray) -> FrameResult:
        """Advance one track by one frame."""
        return self.step_many([state], [frame])[0]

    def step_many(
        self, states: Sequence[TrackState], frames: Sequence[Image.Image | np.ndarray]
    ) -> list[FrameResult]:
        """Advance several tracks by one frame each with one batched backend call."""
        if len(states) != len(frames):
            raise ValueError(f"{len(states)} tracks but {len(frames)} frames")
        t0 = time.perf_counter()
        cfg = self.config
        images = [as_image(f) for f in frames]
        windows, requests = [], []
        for state, frame in zip(states, images, strict=True):
            window = crop_window(state.box, cfg.search_factor, cfg.crop_size)
            windows.append(window)
            search = crop_image(frame, window, cfg.resize)
            views = ((state.template, state.prompt), *state.mirrored)[: cfg.views]
            for v, (template, prompt) in enumerate(views):
                seen = self._seen(mirror_image(search, *VIEW_MIRRORS[v]))
                requests.append(
                    GenerationRequest(
                        (template, seen),
                        prompt,
                        cfg.answer_tokens,
                        stop=STOP_STRINGS[cfg.think],
                        prefix_key=state.key if v == 0 else f"{state.key}:{v}",
                        think=cfg.think,
                        layout=cfg.layout,
                    )
                )
        t_model = time.perf_counter()
        answers = self.backend.generate(requests)
        model_seconds = (time.perf_counter() - t_model) / len(states)
        results = []
        for i, (state, frame, window) in enumerate(zip(states, images, windows, strict=True)):
            own = answers[i * cfg.views : (i + 1) * cfg.views]
            reads = [
                self._read_answer(answer, window, frame.size, VIEW_MIRRORS[v])
                for v, answer in enumerate(own)
            ]
            usable = [v for v, (_, _, fallback) in enumerate(reads) if fallback is None]
            state.frame_index += 1
            if usable:
                medoid, combined = consensus_xyxy([reads[v][0] for v in usable])
                chosen = usable[medoid]
                state.box = damp_size(state.box, xyxy_to_xywh(combined), cfg.scale_lr, frame.size)
            else:
                chosen = 0
                state.counts[reads[0][2]] += 1
            results.append(
                FrameResult(
                    index=state.frame_index,
                    box=tuple(float(v) for v in state.box),  # type: ignore[arg-type]
                    answer=own[chosen],
                    parsed=reads[chosen][1],
                    fallback=reads[chosen][2],
                    model_seconds=model_seconds,
                )
            )
        per_frame = (time.perf_counter() - t0) / len(states)
        for result in results:
            result.seconds = per_frame
        return results

    def _read_answer(
        self,
        answer: str,
        window: CropWindow,
        frame_size: tuple[int, int],
        mirror: tuple[bool, bool] = (False, False),
    ) -> tuple[np.ndarray, bool, str | None]:
        """Answer in a crop mirrored by `mirror` -> (frame box xyxy, parsed?, fallback or None)."""
        parsed = parse_box(answer)
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

    # -- whole videos -------------------------------------------------------------------------

    def track(
        self,
        frames: Iterable[Image.Image | np.ndarray],
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> Iterator[FrameResult]:
        """Track through `frames`, yielding one result per frame (the first is the init box).

        Frames are consumed one at a time, so memory does not grow with the video's length.
        """
        iterator = iter(frames)
        first = next(iterator, None)
        if first is None:
            raise UserError("the video has no frames")
        state, result = self.start(first, bbox=bbox, text=text)
        yield result
        for frame in iterator:
            yield self.step(state, frame)
