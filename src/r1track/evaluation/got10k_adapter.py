"""Our tracker behind the `got10k` toolkit's tracker interface, so that
`got10k.experiments.ExperimentGOT10k(...).run(tracker)` runs it directly.

The toolkit calls `track(img_files, box)`; `init(image, box)` and `update(image) -> box` take PIL
RGB images and `[x, y, w, h]` boxes. The toolkit package itself is not needed to use this class.
"""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from r1track.tracker import Tracker, TrackState


class GOT10kTracker:
    """Duck-typed `got10k.trackers.Tracker`. Greedy decoding: deterministic, one run suffices."""

    def __init__(self, tracker: Tracker, name: str = "r1track"):
        self.tracker = tracker
        self.name = name
        self.is_deterministic = True
        self._state: TrackState | None = None

    def init(self, image: Image.Image, box) -> None:
        self._state, _ = self.tracker.start(image, bbox=[float(v) for v in box])

    def update(self, image: Image.Image) -> np.ndarray:
        if self._state is None:
            raise RuntimeError("update() before init()")
        return np.asarray(self.tracker.step(self._state, image).box, dtype=np.float64)

    def track(self, img_files, box, visualize: bool = False):
        """The toolkit's loop: boxes `(N, 4)` (first = the given box) and seconds per frame."""
        boxes = np.zeros((len(img_files), 4))
        boxes[0] = box
        times = np.zeros(len(img_files))
        for i, file in enumerate(img_files):
            with Image.open(file) as raw:
                image = raw.convert("RGB")
            t0 = time.perf_counter()
            if i == 0:
                self.init(image, box)
            else:
                boxes[i] = self.update(image)
            times[i] = time.perf_counter() - t0
        return boxes, times
