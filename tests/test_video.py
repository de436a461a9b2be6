"""Frame sources and the overlay writer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from r1track.errors import R1TrackError, UserError
from r1track.video import ImageFolder, OverlayWriter, VideoFile, open_frames

TEXT = "A plain text file, long enough for FFmpeg's tty demuxer to draw it as pages.\n" * 12


def test_image_folder_numeric_order(tmp_path):
    for i in (10, 2, 1, 33):
        Image.new("RGB", (8, 6), (i, 0, 0)).save(tmp_path / f"frame{i}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    source = open_frames(tmp_path)
    assert isinstance(source, ImageFolder) and source.num_frames == 4
    assert [f.getpixel((0, 0))[0] for f in source] == [1, 2, 10, 33]


def test_video_frames_stream_in_order(synth_video):
    video, boxes = synth_video
    source = open_frames(video)
    assert isinstance(source, VideoFile)
    assert source.fps == pytest.approx(25.0)
    frames = list(source)
    assert len(frames) == len(boxes) and frames[0].size == (320, 192) and frames[0].mode == "RGB"
    # the target's white border is where the ground truth says (lossy codec: loose threshold)
    x, y, w, _ = (int(v) for v in boxes[0])
    assert np.asarray(frames[0])[y + 1, x + w // 2].min() > 180


def test_overlay_writes_every_frame_with_the_box(tmp_path):
    out = tmp_path / "overlay.mp4"
    with OverlayWriter(out, fps=10) as writer:
        for i in range(7):
            writer.write(Image.new("RGB", (99, 61), (0, 0, 0)), (10 + i, 10, 30, 20))  # odd size
    frames = list(open_frames(out))
    assert len(frames) == 7 and frames[0].size == (100, 62)
    green = np.asarray(frames[0])[10, 20]  # top edge of the first box
    assert green[1] > 150 and green[0] < 100


@pytest.mark.parametrize(
    "kind", ["missing", "text", "text_as_image", "empty_file", "empty_folder", "bad_image"]
)
def test_bad_sources(tmp_path, kind):
    if kind == "missing":
        path, message = tmp_path / "nope.mp4", "no such file"
    elif kind == "text":
        path, message = tmp_path / "notes.mp4", "not a readable video"
        path.write_text("hello, I am not a video")
    elif kind == "text_as_image":  # FFmpeg's image2 demuxer takes it by its suffix, then fails
        path, message = tmp_path / "notes.pgm", "not a readable video"
        path.write_text(TEXT)
    elif kind == "bad_image":
        path, message = tmp_path / "frame.jpg", "not a readable image"
        path.write_text(TEXT)
    elif kind == "empty_file":
        path, message = tmp_path / "empty.mp4", "not a readable video"
        path.touch()
    else:
        path, message = tmp_path, "no images"
    with pytest.raises(UserError, match=message):
        open_frames(path)


@pytest.mark.parametrize("suffix", [".txt", ".nfo", ".ans", ".asc", ".diz"])
def test_text_files_are_not_videos(tmp_path, suffix):
    path = tmp_path / f"README{suffix}"
    path.write_text(TEXT)
    assert len(TEXT) > 450  # FFmpeg draws such a file as 640x400 frames
    with pytest.raises(UserError) as err:
        open_frames(path)
    assert str(err.value) == (
        f"{path}: a text file, not a video (FFmpeg's tty demuxer would draw its text as frames)"
    )


def test_a_single_image_is_a_one_frame_source(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    source = open_frames(path)
    frames = list(source)
    assert source.num_frames == 1 and len(frames) == 1
    assert np.array_equal(np.asarray(frames[0]), pixels)
    assert source.ended_early() is None


def test_a_folder_of_mixed_sizes_names_the_first_odd_frame(tmp_path):
    for i, size in enumerate([(8, 6), (8, 6), (10, 6), (8, 6)], start=1):
        Image.new("RGB", size).save(tmp_path / f"{i:08d}.png")
    frames = iter(open_frames(tmp_path))
    assert [next(frames).size, next(frames).size] == [(8, 6), (8, 6)]
    with pytest.raises(UserError) as err:
        next(frames)
    assert str(err.value) == (
        f"{tmp_path / '00000003.png'}: 10x6 pixels, but the first frame 00000001.png is 8x6"
        " (all frames must have one size)"
    )


def truncated_video(tmp_path, suffix: str, keep: float, frames: int = 30):
    """A real video written by the project's writer, cut to the first `keep` share of its bytes."""
    from r1track.dev.synth_video import write_synth_video

    video, _ = write_synth_video(tmp_path / f"full{suffix}", frames, 64, 48, seed=2)
    cut = tmp_path / f"cut{suffix}"
    data = video.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    return video, cut


@pytest.mark.parametrize("suffix", [".mkv", ".avi"])
def test_a_truncated_video_says_how_many_frames_it_lost(tmp_path, suffix):
    video, cut = truncated_video(tmp_path, suffix, keep=0.8)
    full = open_frames(video)
    assert len(list(full)) == 30 and full.num_frames == 30 and full.ended_early() is None
    source = open_frames(cut)
    decoded = len(list(source))
    assert 0 < decoded < 28 and source.num_frames == 30  # mkv: from its duration, avi: its count
    assert source.ended_early() == (
        f"{cut}: the video ended after {decoded} of the 30 frames its container declares"
        " (truncated or damaged?)"
    )


def test_a_decoding_error_mid_video_is_one_line(tmp_path):
    from r1track.dev.synth_video import write_synth_video

    video, _ = write_synth_video(tmp_path / "v.mp4", 30, 64, 48, seed=2)
    data = bytearray(video.read_bytes())
    start, end = int(len(data) * 0.4), int(len(data) * 0.7)
    data[start:end] = bytes(end - start)  # zeros over the middle of the frames' data
    video.write_bytes(bytes(data))
    source = open_frames(video)
    frames = iter(source)
    decoded = []
    with pytest.raises(R1TrackError) as err:
        decoded.extend(frames)
    assert 0 < len(decoded) < 30
    assert str(err.value).startswith(f"{video}: decoding failed after {len(decoded)} frames (")
    assert "\n" not in str(err.value)
