"""The types tracks are made of, shared by the tracker, the loop, baselines and every caller.

Boxes cross module borders in one form, `Box`: `(x, y, w, h)` in frame pixels as a tuple of
floats (the form benchmark files use). Inside the tracker a box is a numpy array and crops use
corners `(x1, y1, x2, y2)`; those conversions happen at its edges (`r1track.geometry`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import numpy as np
from PIL import Image

from r1track.geometry import CropWindow
from r1track.tracking.appearance import Look

Box = tuple[float, float, float, float]
"""`(x, y, w, h)` in frame pixels."""

FALLBACK_REASONS = (
    "unparsed",
    "degenerate",
    "outside_crop",
    "outside_frame",
    "unconfident",
    "absent",
    "disagreed",
    "unlike",
    "failed",
)
"""Why a frame's answer was not used (`FrameResult.fallback`); `unconfident`: a usable answer
below `TrackerConfig.min_confidence`; `absent`: the model said the target is not there
(`prompts.ABSENT_ANSWER`); `disagreed`: fewer test-time views agreed than
`TrackerConfig.min_agreement` asks; `unlike`: the box looks less like the target than
`TrackerConfig.min_likeness` asks; `failed`: a classic baseline (`tracking/baselines.py`) reported
that it lost the target."""


def as_box(values: Iterable[float]) -> Box:
    """Any four numbers as a `Box`."""
    box = tuple(float(v) for v in values)
    if len(box) != 4:
        raise ValueError(f"a box has 4 numbers, got {len(box)}")
    return box  # type: ignore[return-value]


@dataclass
class FrameResult:
    """What the tracker did on one frame."""

    index: int
    """Frame index, 0 = the initial frame."""
    box: Box
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
    visible: bool = True
    """Whether the tracker found the target on this frame (False: it holds the last box)."""
    confidence: float | None = None
    """The taken answer's confidence (`backends.base.answer_confidence`), when the backend
    gives one."""
    redetected: bool = False
    """The box came from re-detection (a wider crop or a whole-frame tile), not the search crop."""
    likeness: float | None = None
    """How much the answer's box looks like the first frame's target (`tracking/appearance.py`),
    when `TrackerConfig.min_likeness` is on."""

    def record(self) -> dict:
        """A JSON-ready dict (one line of track.jsonl)."""
        rec = asdict(self)
        rec["box"] = [round(float(v), 4) for v in self.box]
        rec["model_seconds"] = round(self.model_seconds, 6)
        rec["seconds"] = round(self.seconds, 6)
        if self.likeness is None:  # the setting is off: records as they were before it
            del rec["likeness"]
        else:
            rec["likeness"] = round(self.likeness, 4)
        return rec

    @classmethod
    def from_record(cls, record: dict) -> FrameResult:
        """The result a track.jsonl line holds (`record`'s inverse, to its rounding); keys that
        are not fields (of a later or earlier version) are passed over."""
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in record.items() if k in known and k != "box"}
        return cls(**given, box=as_box(record["box"]))


@dataclass
class AnswerCounts:
    """How a track's model answers went: the one place fallbacks and answers are counted."""

    answers: int = 0
    """Frames after the first (each got an answer, or a baseline's box)."""
    unparsed: int = 0
    """Answers no box could be read from."""
    by_reason: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FALLBACK_REASONS, 0))
    """Frames that kept the previous box, by reason (`FALLBACK_REASONS`)."""
    redetected: int = 0
    """Frames whose box came from re-detection."""

    @property
    def fallbacks(self) -> int:
        return sum(self.by_reason.values())

    def add(self, result: FrameResult) -> None:
        if result.index == 0:
            return
        self.answers += 1
        self.unparsed += result.parsed is False
        if result.fallback is not None:
            self.by_reason[result.fallback] += 1
        self.redetected += result.redetected

    def __add__(self, other: AnswerCounts) -> AnswerCounts:
        by_reason = {k: self.by_reason[k] + other.by_reason[k] for k in FALLBACK_REASONS}
        return AnswerCounts(
            self.answers + other.answers,
            self.unparsed + other.unparsed,
            by_reason,
            self.redetected + other.redetected,
        )

    @classmethod
    def of(cls, results: Iterable[FrameResult]) -> AnswerCounts:
        counts = cls()
        for result in results:
            counts.add(result)
        return counts


@dataclass
class WindowCandidates:
    """What `Tracker.ground_candidates` read in each grounding window of a first frame."""

    windows: list[CropWindow]
    boxes: list[np.ndarray]  # frame xyxy per window (zeros where the answer was not usable)
    presence: list[float]  # 1 - the probability the model gave the absent answer
    usable: list[bool]  # the answer was a box with area inside the window and the frame
    answers: list[str]  # as the backend gave them (`Answer`s carry their confidence)
    model_seconds: float


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
    lost: int = 0
    """Frames in a row the target was not found on (0: found on the last frame)."""
    template_box: np.ndarray | None = None
    """The first template's box in its crop (xyxy, unclipped), for the two-template prompt."""
    memory: tuple[Image.Image, str, int] | None = None
    """Template memory: (second template as sent, two-template prompt, frame index it is from)."""
    appearance: Look | None = None
    """The first frame's target as `appearance.describe` sees it, when `min_likeness` is on."""
    mirrored: tuple[tuple[Image.Image, str], ...] = ()
    """(template, prompt) of each further test-time view (`VIEW_MIRRORS[1:]`), when views > 1."""


Frame = Image.Image | np.ndarray
"""A frame as trackers take it: a PIL image or an HxWx3 uint8 RGB array."""


class TrackerLike(Protocol):
    """What the tracking loop (and so `eval`) needs of a tracker: start a track on its first
    frame, advance several tracks by one frame each. The state is the tracker's own (a
    `TrackState` for `Tracker`); the loop only hands it back. `Tracker` and the baselines fit."""

    def start(
        self, frame: Frame, bbox: Sequence[float] | None = None, text: str | None = None
    ) -> tuple[Any, FrameResult]: ...

    def step_many(self, states: Sequence[Any], frames: Sequence[Frame]) -> list[FrameResult]: ...
