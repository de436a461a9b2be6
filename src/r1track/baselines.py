"""Reference trackers without a model, to put a model's scores in context.

`NoMotionTracker` returns the first box on every frame: the score a tracker gets for not moving.
It has the `start` / `step_many` interface of `Tracker`, so `run_eval` runs it like a model
(`r1track eval --baseline no-motion`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from PIL import Image

from r1track.errors import UserError
from r1track.tracker import FrameResult, TrackState, as_image, check_init_box

BASELINES = ("no-motion",)


class NoMotionTracker:
    """Answers the initial box on every frame."""

    def start(
        self,
        frame: Image.Image | np.ndarray,
        bbox: Sequence[float] | None = None,
        text: str | None = None,
    ) -> tuple[TrackState, FrameResult]:
        t0 = time.perf_counter()
        if bbox is None:
            raise UserError("the no-motion baseline starts from a box only (use --init bbox)")
        frame = as_image(frame)
        box = check_init_box(bbox, frame.size)
        state = TrackState(template=frame, prompt="", box=box)
        first = FrameResult(index=0, box=tuple(float(v) for v in box))  # type: ignore[arg-type]
        first.seconds = time.perf_counter() - t0
        return state, first

    def step_many(
        self, states: Sequence[TrackState], frames: Sequence[Image.Image | np.ndarray]
    ) -> list[FrameResult]:
        if len(states) != len(frames):
            raise ValueError(f"{len(states)} tracks but {len(frames)} frames")
        results = []
        for state in states:
            t0 = time.perf_counter()
            state.frame_index += 1
            box = tuple(float(v) for v in state.box)
            result = FrameResult(index=state.frame_index, box=box)  # type: ignore[arg-type]
            result.seconds = time.perf_counter() - t0
            results.append(result)
        return results


def load_baseline(name: str) -> NoMotionTracker:
    if name != "no-motion":
        raise UserError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    return NoMotionTracker()
