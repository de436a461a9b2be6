"""Several objects in one video: each frame decoded once, every object's request in one batched
model call per frame.

`run_objects` is `run_tracks` (the one loop) with one `TrackJob` per object, all reading the same
frame source through one decode (`itertools.tee`: in lockstep the objects read the same frame in
the same round, so at most a frame or two is held) and `batch` = the number of objects; it
groups the loop's events into one `ObjectsFrame` per frame. Each object is an ordinary track, so
every tracker setting (re-detection, likeness, ...) applies to each object on its own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from r1track.errors import R1TrackError, UserError, shorten
from r1track.tracking.loop import TrackJob, run_tracks
from r1track.tracking.types import Frame, FrameResult, TrackerLike

MAX_OBJECTS = 16
"""Default most objects per run (`r1track track --max-objects`)."""
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""What an object id may be: it names a folder of results."""


@dataclass(frozen=True)
class Target:
    """One object to track: its id and how it starts (exactly one of `bbox`, `text`)."""

    id: str
    bbox: Sequence[float] | None = None
    text: str | None = None


@dataclass
class ObjectsFrame:
    """Every object's result on one frame."""

    index: int
    frame: Frame
    results: dict[str, FrameResult]
    """By object id, in the order the targets were given."""


class ObjectError(R1TrackError):
    """One object's track failed (its grounding, the model); names the object."""

    def __init__(self, target_id: str, error: R1TrackError):
        super().__init__(f"object {target_id}: {error}")
        self.target_id, self.error = target_id, error


class ObjectInputError(ObjectError, UserError):
    """An object's start refused the user's input (its box): a user error, named."""


class _Watched:
    """The shared frame source, remembering an error it raised: a bad frame is the video's
    fault, not the fault of the object whose track happened to read it first."""

    def __init__(self, frames: Iterable[Frame]):
        self._frames = iter(frames)
        self.error: R1TrackError | None = None

    def __iter__(self) -> _Watched:
        return self

    def __next__(self) -> Frame:
        try:
            return next(self._frames)
        except R1TrackError as exc:
            self.error = exc
            raise


def check_targets(targets: Sequence[Target], max_objects: int = MAX_OBJECTS) -> None:
    """Ids usable as folder names and unique; at least one target, at most `max_objects`."""
    if not targets:
        raise UserError("no object to track: give --bbox or --text")
    if len(targets) > max_objects:
        raise UserError(
            f"{len(targets)} objects, more than the limit of {max_objects} (--max-objects)"
        )
    seen: set[str] = set()
    for t in targets:
        if not ID_PATTERN.fullmatch(t.id):
            raise UserError(
                f"object id {shorten(t.id)!r}: use 1-32 letters, digits, '-' or '_' "
                "(it names the object's results folder)"
            )
        if t.id.casefold() in seen:  # Car and car would share a folder on macOS and Windows
            raise UserError(f"object id {t.id!r} is given twice; each object needs its own id")
        seen.add(t.id.casefold())
        if (t.bbox is None) == (t.text is None):
            raise UserError(f"object {t.id}: give exactly one of a box or a text description")


def run_objects(
    tracker: TrackerLike, frames: Iterable[Frame], targets: Sequence[Target]
) -> Iterator[ObjectsFrame]:
    """Track every target through `frames` together, yielding one `ObjectsFrame` per frame.

    An object whose track fails (its description is not found, the model fails) stops the run
    with an `ObjectError` naming it (an `ObjectInputError`, also a `UserError`, for a refused
    input): the objects share their frames, so one cannot go on alone without the others'
    frames piling up. An error of the frame source (a bad frame) and any error of a single
    object's run are raised as they are.
    """
    check_targets(targets, max_objects=len(targets))
    source = _Watched(frames)
    branches = itertools.tee(source, len(targets))
    jobs = [
        TrackJob(branch, bbox=t.bbox, text=t.text, name=t.id)
        for t, branch in zip(targets, branches, strict=True)
    ]
    order = [t.id for t in targets]
    pending: dict[int, dict[str, FrameResult]] = {}
    frames_by_index: dict[int, Frame] = {}
    for event in run_tracks(tracker, jobs, batch=len(jobs)):
        if event.error is not None:
            if event.error is source.error or len(targets) == 1:
                raise event.error
            kind = ObjectInputError if isinstance(event.error, UserError) else ObjectError
            raise kind(event.job.name, event.error) from event.error
        if event.result is None:
            continue
        index = event.result.index
        pending.setdefault(index, {})[event.job.name] = event.result
        frames_by_index.setdefault(index, event.frame)
        if len(pending[index]) == len(jobs):
            results = pending.pop(index)
            yield ObjectsFrame(index, frames_by_index.pop(index), {i: results[i] for i in order})
