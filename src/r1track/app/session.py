"""What one browser session of the app does, without Gradio: take an upload, collect the objects
to track, run them and hand back the overlay and the result files.

Everything a session reads or writes is in its own temporary folder (`Session.dir`, under the
app's root, removed when the session ends or the app stops): the upload is copied in, results
are written there, and no path typed into the page is ever opened. Limits (`AppLimits`) are
checked before anything is tracked; every refusal is one readable line (`AppError`).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from r1track.errors import R1TrackError, UserError, shorten
from r1track.outputs import OBJECT_COLOURS, ObjectsWriter
from r1track.tracking.objects import ID_PATTERN, Target, check_targets, run_objects
from r1track.tracking.steps import check_init_box, parse_xywh
from r1track.tracking.types import TrackerLike
from r1track.video import Drawn, draw_boxes, open_frames

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


class AppError(UserError):
    """A refusal shown in the page: a bad upload, a bad box, too many objects."""


@dataclass(frozen=True)
class AppLimits:
    """What the app accepts from a page."""

    max_upload_mb: float = 200.0
    """Largest upload (the web server refuses a larger one before it is stored)."""
    max_frames: int = 1500
    """Longest video, in frames."""
    max_objects: int = 8
    """Most objects per run."""


@dataclass
class Session:
    """One browser session's work: its folder, its video, the objects it will track."""

    dir: Path
    video: Path | None = None
    first: Image.Image | None = None
    frames: int = 0
    targets: list[Target] = field(default_factory=list)
    corner: tuple[float, float] | None = None
    """The first click of a box being drawn (two clicks: two corners)."""
    runs: int = 0
    max_objects: int = AppLimits.max_objects
    busy: bool = False
    """A run is writing into the folder: `close` waits for its end."""
    closing: bool = False

    @classmethod
    def new(cls, root: Path, limits: AppLimits) -> Session:
        folder = Path(tempfile.mkdtemp(prefix="session-", dir=root))
        return cls(dir=folder, max_objects=limits.max_objects)

    def close(self) -> None:
        """Remove the session's folder; during a run, as soon as the run ends."""
        if self.busy:
            self.closing = True
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the video ------------------------------------------------------------------------------

    def load_video(self, upload: str | Path, limits: AppLimits) -> Image.Image:
        """Take an uploaded file (a path the web server chose, never one typed in the page):
        copy it into the session folder, check it is a video within the limits, and return
        its first frame. Any earlier video and objects are dropped."""
        source = Path(upload)
        size_mb = source.stat().st_size / 1e6
        if size_mb > limits.max_upload_mb:
            raise AppError(
                f"the upload is {size_mb:.0f} MB, more than this app's {limits.max_upload_mb:g} MB"
            )
        suffix = source.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise AppError(
                f"{shorten(source.name)} is not a video file this app takes "
                f"({', '.join(VIDEO_SUFFIXES)})"
            )
        self.video, self.first, self.frames = None, None, 0
        self.targets, self.corner = [], None
        for old in self.dir.glob("input*"):
            old.unlink()
        video = self.dir / f"input{suffix}"
        shutil.copyfile(source, video)
        frames, first = 0, None
        try:
            for frame in open_frames(video):
                if first is None:
                    first = frame.copy()
                frames += 1
                if frames > limits.max_frames:
                    raise AppError(
                        f"the video has more than {limits.max_frames} frames, this app's limit"
                    )
        except R1TrackError as exc:
            video.unlink(missing_ok=True)
            if isinstance(exc, AppError):
                raise
            # the message names our copy; say it of the upload
            raise AppError(str(exc).replace(str(video), shorten(source.name))) from None
        if first is None:
            video.unlink(missing_ok=True)
            raise AppError(f"{shorten(source.name)} contains no frames")
        self.video, self.first, self.frames = video, first, frames
        return first

    # -- the objects ----------------------------------------------------------------------------

    def click(self, x: float, y: float) -> str | None:
        """A click on the first frame: the first corner of a box, or the second, which gives
        the box as `x,y,w,h` text."""
        if self.corner is None:
            self.corner = (x, y)
            return None
        (x0, y0), self.corner = self.corner, None
        left, top = min(x0, x), min(y0, y)
        return f"{left:g},{top:g},{abs(x - x0):g},{abs(y - y0):g}"

    def add(self, box_text: str, description: str, object_id: str = "") -> Target:
        """Add an object from a box `x,y,w,h` or a description (exactly one of them)."""
        if self.first is None:
            raise AppError("upload a video (or pick the bundled clip) first")
        box_text, description = (box_text or "").strip(), (description or "").strip()
        if bool(box_text) == bool(description):
            raise AppError("give a box (click two corners, or type x,y,w,h) or a description")
        object_id = (object_id or "").strip() or str(len(self.targets) + 1)
        if not ID_PATTERN.fullmatch(object_id):
            raise AppError("an object's name may hold 1-32 letters, digits, '-' or '_'")
        if any(t.id == object_id for t in self.targets):
            raise AppError(f"there is an object named {object_id} already")
        if len(self.targets) >= self.max_objects:
            raise AppError(f"at most {self.max_objects} objects per run in this app")
        if description:
            target = Target(object_id, text=description)
        else:
            target = Target(object_id, bbox=_parse_box(box_text, self.first.size))
        self.targets.append(target)
        return target

    def preview(self) -> Image.Image | None:
        """The first frame with every boxed object drawn in its overlay colour and name."""
        if self.first is None:
            return None
        image = self.first.copy()
        draw_boxes(  # as the overlay will draw them
            image,
            [
                Drawn(t.bbox, OBJECT_COLOURS[n % len(OBJECT_COLOURS)], t.id)
                for n, t in enumerate(self.targets)
                if t.bbox is not None
            ],
        )
        if self.corner is not None:
            cx, cy = self.corner
            ImageDraw.Draw(image).ellipse(
                [cx - 3, cy - 3, cx + 3, cy + 3], outline=(255, 255, 0), width=2
            )
        return image

    def objects_text(self) -> str:
        if not self.targets:
            return "no objects yet"
        rows = []
        for t in self.targets:
            what = ",".join(f"{v:g}" for v in t.bbox) if t.bbox is not None else repr(t.text)
            rows.append(f"- **{t.id}**: {what}")
        return "\n".join(rows)

    # -- a run ----------------------------------------------------------------------------------

    def track(
        self, tracker: TrackerLike, progress: Callable[[int, int], None] | None = None
    ) -> tuple[Path, list[Path]]:
        """Track every object through the video: (overlay.mp4, [results.zip, each object's
        boxes.txt and track.jsonl as `<id>_boxes.txt`, `<id>_track.jsonl`]) in a new run folder
        of the session (the zip holds `<id>/boxes.txt` and `<id>/track.jsonl`)."""
        if self.video is None:
            raise AppError("upload a video (or pick the bundled clip) first")
        check_targets(self.targets, self.max_objects)
        self.runs += 1
        out = self.dir / f"run-{self.runs}-{uuid.uuid4().hex[:6]}"
        ids = [t.id for t in self.targets]
        self.busy = True
        try:
            return self._run(tracker, out, ids, progress)
        finally:
            self.busy = False
            if self.closing:  # the page went away meanwhile
                self.close()

    def _run(self, tracker, out: Path, ids: list[str], progress) -> tuple[Path, list[Path]]:
        source = open_frames(self.video)
        writer = None
        try:
            for step in run_objects(tracker, source, list(self.targets)):
                if writer is None:
                    writer = ObjectsWriter(out, ids, fps=source.fps, overlay=True, nested=True)
                writer.write(step.frame, step.results)
                if progress is not None:
                    progress(writer.frames, self.frames)
        finally:
            if writer is not None:
                writer.close()
        files = [p for i in ids for p in (out / i / "boxes.txt", out / i / "track.jsonl")]
        archive = out / "results.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, p.relative_to(out))
        # downloads one by one, named by object: `car_boxes.txt`, `car_track.jsonl`
        flat = out / "files"
        flat.mkdir()
        named = [shutil.copyfile(p, flat / f"{p.parent.name}_{p.name}") for p in files]
        return out / "overlay.mp4", [archive, *map(Path, named)]


def _parse_box(text: str, frame_size: tuple[int, int]) -> tuple[float, float, float, float]:
    try:
        values = parse_xywh(text, "box")
        check_init_box(values, frame_size)
    except UserError as exc:
        raise AppError(str(exc)) from None
    return values
