"""Reference trackers without a model, to put a model's scores in context.

`NoMotionTracker` returns the first box on every frame: the score a tracker gets for not moving.
`ClassicTracker` runs one of OpenCV's classic single-object trackers (CSRT, KCF, MIL; the
`classic` extra, OpenCV's contrib build): what a user picks instead of a model on a CPU. Both fit
`TrackerLike` (`start` / `step_many`), so `run_eval` runs them like a model, with the same result
layout, resume and report (`r1track eval --baseline no-motion|csrt|kcf|mil`). A classic tracker
that reports failure on a frame keeps its last box (GOT-10k's convention for a tracker that
gives none), says `visible: false` and `fallback: "failed"`, and goes on from there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from r1track.errors import R1TrackError, UserError
from r1track.tracking.steps import as_image, check_init_box
from r1track.tracking.types import Box, Frame, FrameResult, as_box

CLASSIC = {"csrt": "TrackerCSRT", "kcf": "TrackerKCF", "mil": "TrackerMIL"}
"""The classic baselines: name -> OpenCV class (`cv2.<class>.create()`)."""
BASELINES = ("no-motion", *CLASSIC)


@dataclass
class StillState:
    """A no-motion track: its box and how many frames it has seen."""

    box: Box
    frame_index: int = 0


class NoMotionTracker:
    """Answers the initial box on every frame."""

    def start(
        self,
        frame: Frame,
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> tuple[StillState, FrameResult]:
        t0 = time.perf_counter()
        if bbox is None:
            raise UserError("the no-motion baseline starts from a box only (use --init bbox)")
        frame = as_image(frame)
        box = check_init_box(bbox, frame.size)
        state = StillState(as_box(box))
        first = FrameResult(index=0, box=state.box)
        first.seconds = time.perf_counter() - t0
        return state, first

    def step_many(self, states: Sequence[StillState], frames: Sequence[Frame]) -> list[FrameResult]:
        if len(states) != len(frames):
            raise ValueError(f"{len(states)} tracks but {len(frames)} frames")
        results = []
        for state in states:
            t0 = time.perf_counter()
            state.frame_index += 1
            result = FrameResult(index=state.frame_index, box=state.box)
            result.seconds = time.perf_counter() - t0
            results.append(result)
        return results


@dataclass
class ClassicState:
    """A classic track: OpenCV's tracker object, the last box, frames seen."""

    tracker: Any
    box: Box
    frame_index: int = 0


class ClassicTracker:
    """One of OpenCV's classic trackers (`CLASSIC`), one object per track, run on the CPU."""

    def __init__(self, name: str):
        self.name = name
        self._cv2 = _opencv(name)

    def start(
        self,
        frame: Frame,
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> tuple[ClassicState, FrameResult]:
        t0 = time.perf_counter()
        if bbox is None:
            raise UserError(f"the {self.name} baseline starts from a box only (use --init bbox)")
        frame = as_image(frame)
        box = check_init_box(bbox, frame.size)
        tracker = getattr(self._cv2, CLASSIC[self.name]).create()
        try:
            tracker.init(_bgr(frame), _pixel_rect(box, frame.size))
        except self._cv2.error as exc:
            raise R1TrackError(f"OpenCV's {self.name} could not start: {exc}") from None
        state = ClassicState(tracker, as_box(box))
        first = FrameResult(index=0, box=state.box)
        first.seconds = time.perf_counter() - t0
        return state, first

    def step_many(
        self, states: Sequence[ClassicState], frames: Sequence[Frame]
    ) -> list[FrameResult]:
        if len(states) != len(frames):
            raise ValueError(f"{len(states)} tracks but {len(frames)} frames")
        results = []
        for state, frame in zip(states, frames, strict=True):
            t0 = time.perf_counter()
            state.frame_index += 1
            try:
                found, rect = state.tracker.update(_bgr(as_image(frame)))
            except self._cv2.error:  # e.g. KCF on a box that shrank to nothing
                found, rect = False, None
            if found and rect[2] > 0 and rect[3] > 0:
                state.box = as_box(rect)
            result = FrameResult(index=state.frame_index, box=state.box)
            if not (found and rect[2] > 0 and rect[3] > 0):
                result.fallback, result.visible = "failed", False
            result.seconds = time.perf_counter() - t0
            results.append(result)
        return results


def _opencv(name: str):
    """`cv2` with the class the baseline needs, or one line saying how to get it."""
    hint = "pip install 'r1track[classic]' (OpenCV's contrib build, opencv-contrib-python-headless)"
    try:
        import cv2
    except ImportError:
        raise UserError(f"--baseline {name} needs OpenCV: {hint}") from None
    if not hasattr(cv2, CLASSIC[name]):
        raise UserError(
            f"--baseline {name} needs OpenCV's contrib modules (this OpenCV {cv2.__version__} "
            f"has no {CLASSIC[name]}): {hint}"
        )
    return cv2


def _bgr(frame) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(frame)[..., ::-1])


MIN_SIDE = 8
"""OpenCV's trackers start on at least this many pixels a side (MIL's `init` never returns on a
box of ~20 square pixels, CSRT's raises on 1x1): a smaller first box grows about its centre."""


def _pixel_rect(box, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A float `(x, y, w, h)` as the whole-pixel rectangle OpenCV's trackers take: inside the
    frame, at least `MIN_SIDE` a side (or the frame's side, if smaller).

    >>> _pixel_rect((10.4, 20.6, 30.2, 40.0), (640, 480)), _pixel_rect((100, 50, 1, 2), (640, 480))
    ((10, 21, 31, 40), (96, 47, 8, 8))
    """
    width, height = frame_size
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(width, round(box[0] + box[2])), min(height, round(box[1] + box[3]))
    x0, x1 = _at_least(x0, x1, min(MIN_SIDE, width), width)
    y0, y1 = _at_least(y0, y1, min(MIN_SIDE, height), height)
    return (x0, y0, x1 - x0, y1 - y0)


def _at_least(low: int, high: int, side: int, extent: int) -> tuple[int, int]:
    """`[low, high)` grown about its centre to `side`, kept inside `[0, extent)`."""
    if high - low >= side:
        return low, high
    low = round((low + high) / 2 - side / 2)
    low = min(max(0, low), extent - side)
    return low, low + side


def load_baseline(name: str) -> NoMotionTracker | ClassicTracker:
    if name == "no-motion":
        return NoMotionTracker()
    if name in CLASSIC:
        return ClassicTracker(name)
    raise UserError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
