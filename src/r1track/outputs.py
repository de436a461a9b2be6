"""Writing a track to disk as it runs: boxes.txt, track.jsonl and overlay.mp4.

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
from r1track.video import OverlayWriter

BOXES_FILE = "boxes.txt"
TRACK_FILE = "track.jsonl"
OVERLAY_FILE = "overlay.mp4"

# Overlay colours: the target found on the frame, and not found (the tracker holds the last box).
OK_COLOUR = (0, 255, 0)
FALLBACK_COLOUR = (255, 64, 0)


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
