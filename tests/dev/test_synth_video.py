"""`r1track.dev.synth_video`: the synthetic videos the tests and the demo track."""

from __future__ import annotations

import numpy as np

from r1track.video import open_frames


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
