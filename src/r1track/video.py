"""Frame sources (video files, image folders, single images) and the overlay writer, streaming.

Frames are RGB `PIL.Image`s. Sources decode one frame at a time, so memory does not depend on
the length of the video. A source is what it claims to be: a text file FFmpeg would draw as
frames is refused, a folder's frames must share one size, and a video that ends short of the
frames its container declares says so (`ended_early`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from PIL import Image, ImageDraw

from r1track.errors import R1TrackError, UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
"""FFmpeg demuxers that render a text file (.txt, .nfo, .ans, ANSI or binary text art) as a
terminal page per frame: what they yield is not a video, so such a file is refused."""
SHORT_TOLERANCE = (2, 0.01)
"""A video may end this many frames, or this share of its declared count, short of what its
container declares without a warning (a count estimated from the duration can be off by one)."""


class FrameSource(Protocol):
    """Something that yields RGB frames in order."""

    path: Path
    fps: float | None
    """Frames per second when the source knows it."""
    num_frames: int | None
    """Number of frames when known without decoding (for progress bars)."""

    def __iter__(self) -> Iterator[Image.Image]: ...

    def ended_early(self) -> str | None:
        """After iterating: why the source yielded fewer frames than it declared, else None."""
        ...


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
    """Open image files one at a time as RGB; an unreadable one, or one whose size differs from
    the first's (boxes would mean other pixels from there on), raises `error` naming it."""
    size = None
    for file in files:
        try:
            with Image.open(file) as image:
                frame = image.convert("RGB")
        except OSError as exc:
            raise error(f"{file}: unreadable frame ({exc})") from exc
        if size is None:
            size = frame.size
        elif frame.size != size:
            raise error(
                f"{file}: {_size(frame.size)} pixels, but the first frame {files[0].name} is "
                f"{_size(size)} (all frames must have one size)"
            )
        yield frame


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


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
        return read_images(self.files, UserError)

    def ended_early(self) -> str | None:
        """Never: a folder yields all its images or raises naming the one that failed."""
        return None


class ImageFile:
    """A single image file (.jpg, .png, ...): a one-frame source, read like a folder's frames."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with Image.open(self.path) as image:
                image.load()
        except OSError as exc:
            raise UserError(f"{self.path}: not a readable image ({exc})") from exc
        self.fps = None
        self.num_frames = 1

    def __iter__(self) -> Iterator[Image.Image]:
        return read_images([self.path], UserError)

    def ended_early(self) -> str | None:
        """Never: the one frame is read or raises."""
        return None


class VideoFile:
    """A video file decoded with PyAV (FFmpeg): mp4, avi, mkv, mov, webm, ...

    Opening checks that FFmpeg reads it as a video (not a text file drawn as frames) and that
    its first frame decodes, so a file that is not a video fails before anything is written.
    """

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        self.decoded = 0
        """Frames the last iteration yielded."""
        self._finished = False
        try:
            with av.open(str(self.path)) as container:
                demuxers = set(container.format.name.split(","))
                if demuxers & TEXT_DEMUXERS:
                    raise UserError(
                        f"{self.path}: a text file, not a video (FFmpeg's "
                        f"{container.format.name} demuxer would draw its text as frames)"
                    )
                if not container.streams.video:
                    raise UserError(f"{self.path}: no video stream in it (an empty video?)")
                stream = container.streams.video[0]
                self.fps = float(stream.average_rate) if stream.average_rate else None
                self.num_frames = declared_frames(
                    stream.frames,
                    container.duration and container.duration / av.time_base,
                    self.fps,
                )
                next(container.decode(stream), None)  # a file whose frames do not decode fails
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: not a readable video ({_av_reason(exc)})") from exc

    def __iter__(self) -> Iterator[Image.Image]:
        import av

        self.decoded, self._finished = 0, False
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    yield frame.to_image()
                    self.decoded += 1
        except av.error.FFmpegError as exc:
            raise R1TrackError(
                f"{self.path}: decoding failed after {self.decoded} frames ({_av_reason(exc)})"
            ) from exc
        self._finished = True

    def ended_early(self) -> str | None:
        """After a full iteration: a one-line note when the video ended short of the frames its
        container declares (a truncated or damaged file), else None."""
        if not self._finished or not is_short(self.decoded, self.num_frames):
            return None
        return (
            f"{self.path}: the video ended after {self.decoded} of the {self.num_frames} frames "
            "its container declares (truncated or damaged?)"
        )


def declared_frames(frames: int, seconds: float | None, fps: float | None) -> int | None:
    """The frame count a container declares: its own count, else its duration times its frame
    rate (Matroska stores only the duration), else None."""
    if frames:
        return int(frames)
    if seconds and fps:
        return round(seconds * fps)
    return None


def is_short(decoded: int, declared: int | None) -> bool:
    """Whether `decoded` frames fall short of `declared` by more than `SHORT_TOLERANCE`."""
    if not declared:
        return False
    frames, share = SHORT_TOLERANCE
    return declared - decoded > max(frames, share * declared)


def _av_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def open_frames(path: str | Path) -> FrameSource:
    """Open a video file, an image folder or a single image (a one-frame source); `UserError`
    with the reason if it is none of them."""
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
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFile(p)
    return VideoFile(p)


class Drawn(NamedTuple):
    """A box to draw on an overlay frame."""

    box: tuple[float, float, float, float]
    """`(x, y, w, h)` in frame pixels."""
    color: tuple[int, int, int] = (0, 255, 0)
    label: str | None = None
    """Written above the box's top-left corner (below it at the frame's top edge)."""
    solid: bool = True
    """False: a thinner line (the target not found; the box is held)."""


def draw_boxes(
    image: Image.Image, boxes: Sequence[Drawn], frame_size: tuple[int, int] | None = None
) -> None:
    """Draw every box on `image` in place: its colour, a line as thick as the frame is large
    (thinner when not `solid`), its label on a tag kept inside `frame_size` (the image's)."""
    size = frame_size or image.size
    draw = ImageDraw.Draw(image)
    thickness = max(2, round(min(size) / 180))
    for drawn in boxes:
        x, y, w, h = drawn.box
        width = thickness if drawn.solid else max(1, thickness // 2)
        draw.rectangle([x, y, x + w, y + h], outline=drawn.color, width=width)
        if drawn.label:
            _label(draw, drawn.label, x, y, drawn.color, size)


def _label(
    draw: ImageDraw.ImageDraw, text: str, x: float, y: float, color, size: tuple[int, int]
) -> None:
    """`text` on a filled tag of `color` at the box's corner (above it, else inside it), kept
    inside the frame of `size`, in black or white to be read."""
    left, top, right, bottom = draw.textbbox((0, 0), text)
    tag_w, tag_h = right - left + 4, bottom - top + 4
    ty = y - tag_h if y - tag_h >= 0 else y
    tx = min(max(0.0, x), size[0] - tag_w)
    ty = min(max(0.0, ty), size[1] - tag_h)
    draw.rectangle([tx, ty, tx + tag_w, ty + tag_h], fill=color)
    ink = (0, 0, 0) if sum(color) > 382 else (255, 255, 255)
    draw.text((tx + 2 - left, ty + 2 - top), text, fill=ink)


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
        self.write_boxes(frame, [Drawn(box_xywh, color)])

    def write_boxes(self, frame: Image.Image, boxes: Sequence[Drawn]) -> None:
        """Draw every box (each in its colour, with its label above it) on a copy of `frame`
        and append it to the video."""
        import av

        if self._container is None:
            self._open(frame.size)
        canvas = Image.new("RGB", self._size)
        canvas.paste(frame, (0, 0))
        draw_boxes(canvas, boxes, frame.size)
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
