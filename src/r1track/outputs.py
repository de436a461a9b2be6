"""Writing tracks to disk as they run: boxes.txt, track.jsonl and overlay.mp4.

One object: the three files in the output folder. Several (`ObjectsWriter`): each object's
boxes.txt and track.jsonl in a folder named by its id, and one overlay.mp4 with every box in its
own colour and labelled with its id.

Every frame's line is flushed when the frame is done, so an interrupted run keeps every finished
frame, and the overlay is closed into a playable file even on Ctrl-C. SIGINT and SIGTERM are held
while one frame is written (and while the files close), so the three files always hold the same
frames.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from r1track.interrupts import signals_deferred
from r1track.tracking.types import FrameResult
from r1track.video import Drawn, OverlayWriter

BOXES_FILE = "boxes.txt"
TRACK_FILE = "track.jsonl"
OVERLAY_FILE = "overlay.mp4"

# Overlay colours: the target found on the frame, and not found (the tracker holds the last box).
OK_COLOUR = (0, 255, 0)
FALLBACK_COLOUR = (255, 64, 0)
OBJECT_COLOURS = (
    (0, 255, 0),
    (0, 160, 255),
    (255, 0, 200),
    (255, 220, 0),
    (0, 255, 255),
    (160, 80, 255),
    (255, 128, 0),
    (255, 255, 255),
)
"""One colour per object of a several-object overlay (in turn, then again); a held box (target
not found) is drawn in its colour with a thinner line and `?` after its id."""


def format_xywh(box) -> str:
    """One `x,y,w,h` line as benchmark toolkits read it (up to 4 decimals, no exponent)."""
    return ",".join(f"{float(v):.4f}".rstrip("0").rstrip(".") for v in box)


class TrackWriter:
    """Streams one track's results into a directory."""

    def __init__(self, out_dir: str | Path, fps: float | None = None, overlay: bool = True):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._boxes = (self.out_dir / BOXES_FILE).open("w")
        self._records = (self.out_dir / TRACK_FILE).open("w")
        self._overlay = OverlayWriter(self.out_dir / OVERLAY_FILE, fps) if overlay else None
        self.frames = 0

    def write(self, frame: Image.Image, result: FrameResult) -> None:
        """Append one frame to all three files; a signal meanwhile is raised once it is done."""
        with signals_deferred():
            if self._overlay is not None:  # first: the step most likely to fail
                colour = OK_COLOUR if result.visible else FALLBACK_COLOUR
                self._overlay.write(frame, result.box, colour)
            self._boxes.write(format_xywh(result.box) + "\n")
            self._boxes.flush()
            self._records.write(json.dumps(result.record()) + "\n")
            self._records.flush()
            self.frames += 1

    def close(self) -> None:
        """Close the files; the overlay is finished into a playable file even on a signal."""
        with signals_deferred():
            self._boxes.close()
            self._records.close()
            if self._overlay is not None:
                self._overlay.close()

    def __enter__(self) -> TrackWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ObjectsWriter:
    """Streams several objects' results: `<out>/<id>/boxes.txt` and `track.jsonl` per object,
    one `<out>/overlay.mp4` with all of them. With a single object, `TrackWriter`'s layout."""

    def __init__(
        self,
        out_dir: str | Path,
        ids: list[str],
        fps: float | None = None,
        overlay: bool = True,
        nested: bool = False,
    ):
        """`nested`: a folder per object even for a single one (the app's layout)."""
        self.out_dir = Path(out_dir)
        self.ids = list(ids)
        if len(self.ids) == 1 and not nested:
            self._tracks = {self.ids[0]: TrackWriter(self.out_dir, fps, overlay)}
            self._overlay = None
        else:
            self._tracks = {i: TrackWriter(self.out_dir / i, overlay=False) for i in self.ids}
            self._overlay = OverlayWriter(self.out_dir / OVERLAY_FILE, fps) if overlay else None
        self.frames = 0

    def write(self, frame: Image.Image, results: dict[str, FrameResult]) -> None:
        """Append one frame of every object; a signal meanwhile is raised once it is done."""
        with signals_deferred():
            if self._overlay is not None:
                self._overlay.write_boxes(frame, self.drawn(results))
            for object_id, result in results.items():
                self._tracks[object_id].write(frame, result)
            self.frames += 1

    def drawn(self, results: dict[str, FrameResult]) -> list[Drawn]:
        """The overlay's boxes for one frame: each object's colour, its id as the label."""
        out = []
        for n, object_id in enumerate(self.ids):
            result = results[object_id]
            colour = OBJECT_COLOURS[n % len(OBJECT_COLOURS)]
            label = object_id if result.visible else object_id + "?"
            out.append(Drawn(result.box, colour, label, solid=result.visible))
        return out

    def close(self) -> None:
        with signals_deferred():
            for writer in self._tracks.values():
                writer.close()
            if self._overlay is not None:
                self._overlay.close()

    def __enter__(self) -> ObjectsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
