"""Frame sources (video files, image folders) and the overlay writer, all streaming.

Frames are RGB `PIL.Image`s. Sources decode one frame at a time, so memory does not depend on
the length of the video.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageDraw

from r1track.errors import R1TrackError, UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


class FrameSource(Protocol):
    """Something that yields RGB frames in order."""

    path: Path
    fps: float | None
    """Frames per second when the source knows it."""
    num_frames: int | None
    """Number of frames when known without decoding (for progress bars)."""

    def __iter__(self) -> Iterator[Image.Image]: ...


def natural_key(name: str) -> tuple:
    """Sort key so that `frame2.jpg` comes before `frame10.jpg`."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name))


def list_images(folder: Path) -> list[Path]:
    """The image files of a folder, in numeric order of their names."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
        key=lambda p: natural_key(p.name),
    )


def read_images(
    files: list[Path], error: type[R1TrackError] = R1TrackError
) -> Iterator[Image.Image]:
    """Open image files one at a time as RGB; an unreadable one raises `error` naming it."""
    for file in files:
        try:
            with Image.open(file) as image:
                yield image.convert("RGB")
        except OSError as exc:
            raise error(f"{file}: unreadable frame ({exc})") from exc


class ImageFolder:
    """A folder of images, in numeric order of their names (`00000001.jpg`, ...)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.files = list_images(self.path)
        if not self.files:
            raise UserError(f"{self.path}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in it")
        self.fps = None
        self.num_frames = len(self.files)

    def __iter__(self) -> Iterator[Image.Image]:
        return read_images(self.files)


class VideoFile:
    """A video file decoded with PyAV (FFmpeg): mp4, avi, mkv, mov, webm, ..."""

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise UserError(f"{self.path}: no video stream in it (an empty video?)")
                stream = container.streams.video[0]
                self.fps = float(stream.average_rate) if stream.average_rate else None
                self.num_frames = int(stream.frames) or None
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: not a readable video ({_av_reason(exc)})") from exc

    def __iter__(self) -> Iterator[Image.Image]:
        import av

        index = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    yield frame.to_image()
                    index += 1
        except av.error.FFmpegError as exc:
            raise R1TrackError(
                f"{self.path}: decoding failed after {index} frames ({_av_reason(exc)})"
            ) from exc


def _av_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def open_frames(path: str | Path) -> FrameSource:
    """Open a video file or an image folder; `UserError` with the reason if it is neither."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file or folder")
    if p.is_dir():
        return ImageFolder(p)
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise UserError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    return VideoFile(p)


class OverlayWriter:
    """Writes frames with the tracked box drawn on them to an H.264 mp4, one frame at a time.

    Odd frame sizes are padded by one black pixel (H.264 with 4:2:0 chroma needs even sides).
    """

    def __init__(self, path: str | Path, fps: float | None = None):
        self.path = Path(path)
        self.fps = fps or 25.0
        self._container = None
        self._stream = None

    def _open(self, size: tuple[int, int]) -> None:
        from fractions import Fraction

        import av

        width, height = size[0] + size[0] % 2, size[1] + size[1] % 2
        self._container = av.open(str(self.path), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": "23", "preset": "veryfast"}
        self._size = (width, height)

    def write(
        self,
        frame: Image.Image,
        box_xywh: tuple[float, float, float, float],
        color: tuple[int, int, int] = (0, 255, 0),
    ) -> None:
        """Draw `box_xywh` on a copy of `frame` and append it to the video."""
        import av

        if self._container is None:
            self._open(frame.size)
        canvas = Image.new("RGB", self._size)
        canvas.paste(frame, (0, 0))
        x, y, w, h = box_xywh
        thickness = max(2, round(min(frame.size) / 180))
        ImageDraw.Draw(canvas).rectangle([x, y, x + w, y + h], outline=color, width=thickness)
        for packet in self._stream.encode(av.VideoFrame.from_image(canvas)):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file; safe to call twice."""
        if self._container is None:
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
