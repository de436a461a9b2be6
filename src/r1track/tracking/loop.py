"""The one tracking loop: any number of tracks advanced in lockstep, one event at a time.

Every caller drives its tracks through `run_tracks` and only decides what to do with what it
yields: `Tracker.track` (one video, in the library), `r1track track` (writes boxes, records and
an overlay), the evaluation runner (N sequences per batched model call, results to files), the
got10k toolkit adapter and the benchmarks. The shape is SAM 2's video predictor: start from a
prompt on the first frame, then iterate a generator.

Per round: tracks start until `batch` are active (a track starts on its first frame: a box or a
text description); each active track reads its next frame; all that have one advance together
in one `step_many` call. What happens is yielded as `TrackEvent`s: a frame's result, a track's
end (frames ran out), or a track's failure (an `R1TrackError` on start, on reading a frame, or
in the model call; the other tracks go on). Events come in the order things happen, so a
consumer can write a finished track's files before the next one starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from r1track.errors import BackendError, R1TrackError
from r1track.tracking.types import Frame, FrameResult, TrackerLike

MAX_BACKEND_FAILURES = 3
"""Tracks in a row that may fail on the backend (server down, timeouts) before the loop stops."""


@dataclass(eq=False)
class TrackJob:
    """One track to run: its frames and how it starts (exactly one of `bbox`, `text`)."""

    frames: Iterable[Frame]
    """The track's frames, first frame first; read one at a time."""
    bbox: Sequence[float] | None = None
    """Initial box `(x, y, w, h)` on the first frame."""
    text: str | None = None
    """Or a description of the target, grounded on the first frame."""
    name: str = ""
    """The caller's name for it (a sequence name); the loop does not use it."""
    state: Any = None
    """Set by the loop when the track has started: the tracker's state of it (a `TrackState`
    for `Tracker`), as it advances."""


@dataclass
class TrackEvent:
    """One thing that happened to one track: exactly one of `result`, `error`, `finished`."""

    job: TrackJob
    result: FrameResult | None = None
    """A frame's result (index 0: the start)."""
    frame: Frame | None = None
    """The frame `result` is for, as the job gave it."""
    error: R1TrackError | None = None
    """The track failed and ends here."""
    finished: bool = False
    """The track's frames ran out: it ends here."""


class BackendDown(BackendError):
    """`max_backend_failures` tracks in a row failed on the backend with no answer between."""

    def __init__(self, streak: int, last: R1TrackError):
        super().__init__(f"{streak} tracks in a row failed on the backend (last: {last})")
        self.streak, self.last = streak, last


def run_tracks(
    tracker: TrackerLike,
    jobs: Iterable[TrackJob],
    batch: int = 1,
    max_backend_failures: int | None = MAX_BACKEND_FAILURES,
) -> Iterator[TrackEvent]:
    """Run `jobs` through `tracker`, `batch` at a time in lockstep, yielding `TrackEvent`s.

    Jobs are taken from `jobs` only when a slot is free, so it may be a lazy generator. Once
    `max_backend_failures` tracks in a row have failed with a `BackendError` (None: never), the
    loop raises `BackendDown` after yielding their failures: a dead server is not retried for
    every remaining track. Other exceptions (a bug, Ctrl-C) propagate at once.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    pending = iter(jobs)
    active: list[tuple[TrackJob, Iterator[Frame]]] = []
    streak = 0

    def count_failure(exc: R1TrackError, tracks: int = 1) -> None:
        nonlocal streak
        if not isinstance(exc, BackendError):  # a bad frame says nothing about the server
            return
        streak += tracks
        if max_backend_failures is not None and streak >= max_backend_failures:
            raise BackendDown(streak, exc) from exc

    while True:
        while len(active) < batch:
            job = next(pending, None)
            if job is None:
                break
            try:
                frames = iter(job.frames)
                first = next(frames, None)
                if first is None:
                    raise R1TrackError("no frames")
                job.state, result = tracker.start(first, bbox=job.bbox, text=job.text)
            except R1TrackError as exc:
                yield TrackEvent(job, error=exc)
                count_failure(exc)
                continue
            active.append((job, frames))
            yield TrackEvent(job, result=result, frame=first)
        if not active:
            return
        stepping: list[tuple[TrackJob, Frame]] = []
        for job, frames in list(active):
            try:
                frame = next(frames, None)
            except R1TrackError as exc:
                active.remove((job, frames))
                yield TrackEvent(job, error=exc)
                continue
            if frame is None:
                active.remove((job, frames))
                yield TrackEvent(job, finished=True)
            else:
                stepping.append((job, frame))
        if not stepping:
            continue
        try:
            results = tracker.step_many(
                [job.state for job, _ in stepping], [f for _, f in stepping]
            )
        except R1TrackError as exc:
            done = {id(job) for job, _ in stepping}
            active[:] = [(j, f) for j, f in active if id(j) not in done]
            for job, _ in stepping:
                yield TrackEvent(job, error=exc)
            count_failure(exc, tracks=len(stepping))
            continue
        streak = 0
        for (job, frame), result in zip(stepping, results, strict=True):
            yield TrackEvent(job, result=result, frame=frame)
