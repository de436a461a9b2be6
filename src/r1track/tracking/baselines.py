"""Reference trackers without a model, to put a model's scores in context.

`NoMotionTracker` returns the first box on every frame: the score a tracker gets for not moving.
It fits `TrackerLike` (`start` / `step_many`), so `run_eval` runs it like a model
(`r1track eval --baseline no-motion`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from r1track.errors import UserError
from r1track.tracking.steps import as_image, check_init_box
from r1track.tracking.types import Box, Frame, FrameResult, as_box

BASELINES = ("no-motion",)


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


def load_baseline(name: str) -> NoMotionTracker:
    if name != "no-motion":
        raise UserError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    return NoMotionTracker()
