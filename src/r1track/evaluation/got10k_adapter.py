"""Our tracker behind the `got10k` toolkit's tracker interface, so that
`got10k.experiments.ExperimentGOT10k(...).run(tracker)` runs it directly.

The toolkit calls `track(img_files, box)`; `init(image, box)` and `update(image) -> box` take PIL
RGB images and `[x, y, w, h]` boxes. Both drive the track through `run_tracks`, the loop every
caller uses: `track` gives it the files, `init` / `update` hand it one frame at a time. The
toolkit package itself is not needed to use this class.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from r1track.tracking.loop import TrackEvent, TrackJob, run_tracks
from r1track.tracking.types import FrameResult, TrackerLike


def _results(events: Iterator[TrackEvent]) -> Iterator[FrameResult]:
    for event in events:
        if event.error is not None:
            raise event.error
        if event.result is not None:
            yield event.result


class _Handed:
    """Frames handed over one at a time (`update`), for a loop that pulls them."""

    def __init__(self):
        self.next: Image.Image | None = None

    def __iter__(self) -> Iterator[Image.Image]:
        while self.next is not None:
            frame, self.next = self.next, None
            yield frame


class GOT10kTracker:
    """Duck-typed `got10k.trackers.Tracker`. Greedy decoding: deterministic, one run suffices."""

    def __init__(self, tracker: TrackerLike, name: str = "r1track"):
        self.tracker = tracker
        self.name = name
        self.is_deterministic = True
        self._handed: _Handed | None = None
        self._results: Iterator[FrameResult] | None = None

    def init(self, image: Image.Image, box) -> None:
        self._handed = _Handed()
        self._handed.next = image
        job = TrackJob(self._handed, bbox=[float(v) for v in box])
        self._results = _results(run_tracks(self.tracker, [job]))
        next(self._results)

    def update(self, image: Image.Image) -> np.ndarray:
        if self._handed is None or self._results is None:
            raise RuntimeError("update() before init()")
        self._handed.next = image
        return np.asarray(next(self._results).box, dtype=np.float64)

    def track(self, img_files, box, visualize: bool = False):
        """The toolkit's loop: boxes `(N, 4)` (first = the given box) and seconds per frame."""

        def frames() -> Iterator[Image.Image]:
            for file in img_files:
                with Image.open(file) as raw:
                    yield raw.convert("RGB")

        job = TrackJob(frames(), bbox=[float(v) for v in box])
        results = list(_results(run_tracks(self.tracker, [job])))
        boxes = np.array([r.box for r in results], dtype=np.float64).reshape(-1, 4)
        boxes[0] = box
        return boxes, np.array([r.seconds for r in results])
