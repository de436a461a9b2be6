"""Frame sources and the overlay writer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from r1track.errors import UserError
from r1track.video import ImageFolder, OverlayWriter, VideoFile, open_frames


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


@pytest.mark.parametrize("kind", ["missing", "text", "empty_file", "empty_folder"])
def test_bad_sources(tmp_path, kind):
    if kind == "missing":
        path, message = tmp_path / "nope.mp4", "no such file"
    elif kind == "text":
        path, message = tmp_path / "notes.mp4", "not a readable video"
        path.write_text("hello, I am not a video")
    elif kind == "empty_file":
        path, message = tmp_path / "empty.mp4", "not a readable video"
        path.touch()
    else:
        path, message = tmp_path, "no images"
    with pytest.raises(UserError, match=message):
        open_frames(path)


def test_dataset_kind_synth_video_is_a_data_synth_scene(tmp_path):
    from r1track.datasets.synth import SynthConfig, synth_sequence
    from r1track.dev.synth_video import dataset_frames, write_synth_video

    video, gt = write_synth_video(tmp_path / "s.mp4", 12, 128, 96, seed=3, kind="dataset")
    boxes = np.loadtxt(gt, delimiter=",")
    frames = list(open_frames(video))
    assert len(frames) == len(boxes) == 12 and frames[0].size == (128, 96)
    expected = [box for _, box in dataset_frames(12, 128, 96, seed=3)]
    assert np.allclose(boxes, expected)
    # the same generator as `data synth`: a look-alike and clutter, deterministic for a seed
    config = SynthConfig(width=128, height=96, min_length=12, max_length=12)
    other = synth_sequence(np.random.default_rng(3), config)[1]
    assert other.shape == boxes.shape
