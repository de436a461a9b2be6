"""Reference trackers without a model: the no-motion baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_got10k
from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.evaluation import layout
from r1track.evaluation.report import score_run


def test_no_motion_baseline_repeats_the_first_box(tmp_path, capsys):
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=2, length=6)
    out = tmp_path / "base"
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    assert main([*args, "--baseline", "no-motion", "--out", str(out)]) == 0
    for seq in load_dataset("got10k", root, "val"):
        boxes = np.loadtxt(layout.boxes_path(out, "got10k", seq.name), delimiter=",")
        assert boxes.shape == (len(seq), 4)
        assert np.allclose(boxes, seq.boxes[0], atol=1e-3)
    report = score_run(out)
    # the white boxes move, so not moving scores below a perfect tracker
    assert 0 < report["ao"] < 0.9
    assert json.loads((out / layout.MANIFEST).read_text())["model"] == "baseline:no-motion"
    capsys.readouterr()
    assert main([*args, "--baseline", "no-motion", "--init", "text", "--out", str(out)]) == 2
    assert "box only" in capsys.readouterr().err
    # a model flag beside a baseline is refused, not silently ignored
    flags = ["--crop-size", "112", "--backend", "openai"]
    assert main([*args, "--baseline", "no-motion", *flags, "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--crop-size" in err[0] and "--backend" in err[0], err
    assert not (tmp_path / "f").exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse: --model or --baseline, not both
        main([*args, "--baseline", "no-motion", "--model", "m", "--out", str(out)])
    assert exit_info.value.code == 2


# -- OpenCV's classic trackers (the `classic` extra) ----------------------------------------------


def _textured_clip(n=12, seed=0):
    """A textured 30x24 patch gliding right and down over smooth grey: what a classic tracker
    follows easily. Returns frames (RGB arrays) and boxes x, y, w, h."""
    rng = np.random.default_rng(seed)
    patch = rng.integers(0, 255, size=(24, 30, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(n):
        frame = np.full((120, 160, 3), 110, np.uint8)
        x, y = 20 + 4 * i, 30 + 2 * i
        frame[y : y + 24, x : x + 30] = patch
        frames.append(frame)
        boxes.append((x, y, 30, 24))
    return frames, boxes


def _iou(a, b):
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


@pytest.mark.parametrize("name", ["csrt", "kcf", "mil"])
def test_a_classic_tracker_follows_a_moving_patch(name):
    pytest.importorskip("cv2")
    from r1track.tracking.baselines import load_baseline

    frames, boxes = _textured_clip()
    tracker = load_baseline(name)
    state, first = tracker.start(frames[0], bbox=boxes[0])
    assert first.box == tuple(float(v) for v in boxes[0])
    results = [tracker.step_many([state], [f])[0] for f in frames[1:]]
    ious = [_iou(r.box, boxes[r.index]) for r in results]
    assert [r.index for r in results] == list(range(1, len(frames)))
    # it moves with the patch (the no-motion box would overlap nothing by the end)
    assert np.mean(ious) > 0.6 and ious[-1] > 0.5, ious
    assert _iou(boxes[0], boxes[-1]) == 0


def test_a_classic_tracker_that_fails_keeps_its_last_box(monkeypatch):
    """GOT-10k's convention: a tracker that gives no box on a frame keeps its last one; the
    frame says it lost the target (`failed`, not visible) and the next frames go on."""
    pytest.importorskip("cv2")
    from r1track.tracking.baselines import load_baseline

    frames, boxes = _textured_clip(n=6)
    tracker = load_baseline("csrt")
    state, _ = tracker.start(frames[0], bbox=boxes[0])
    first = tracker.step_many([state], [frames[1]])[0]
    real = state.tracker
    answers = iter([(False, (0, 0, 0, 0)), (True, (5, 5, 0, 9))])
    lost_it = type("Lost", (), {"update": lambda self, frame: next(answers)})
    monkeypatch.setattr(state, "tracker", lost_it())
    lost = tracker.step_many([state], [frames[2]])[0]
    empty = tracker.step_many([state], [frames[3]])[0]  # "found" but a box of no width
    assert lost.box == empty.box == first.box
    assert (lost.fallback, lost.visible) == ("failed", False) == (empty.fallback, empty.visible)
    state.tracker = real
    again = tracker.step_many([state], [frames[4]])[0]
    assert again.visible and again.fallback is None and _iou(again.box, boxes[4]) > 0.3


def test_a_classic_baseline_runs_through_eval_and_needs_contrib(tmp_path, capsys, monkeypatch):
    pytest.importorskip("cv2")
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=2, length=6)
    out = tmp_path / "csrt"
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    assert main([*args, "--baseline", "csrt", "--out", str(out)]) == 0
    manifest = json.loads((out / layout.MANIFEST).read_text())
    assert manifest["model"] == "baseline:csrt"
    report = score_run(out)
    still = tmp_path / "still"
    assert main([*args, "--baseline", "no-motion", "--out", str(still)]) == 0
    assert report["ao"] > score_run(still)["ao"]  # it follows the moving boxes
    for seq in load_dataset("got10k", root, "val"):
        boxes = np.loadtxt(layout.boxes_path(out, "got10k", seq.name), delimiter=",")
        assert boxes.shape == (len(seq), 4) and np.allclose(boxes[0], seq.boxes[0], atol=1e-3)
    capsys.readouterr()
    import cv2

    monkeypatch.delattr(cv2, "TrackerKCF")  # a plain (non-contrib) OpenCV
    assert main([*args, "--baseline", "kcf", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "r1track[classic]" in err[0] and "TrackerKCF" in err[0], err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("name", ["csrt", "kcf", "mil"])
def test_a_tiny_first_box_starts_a_classic_tracker(name):
    """MIL's init never returns on a box of a few pixels and CSRT's raises on 1x1: the first box
    grows to `MIN_SIDE` about its centre, inside the frame."""
    pytest.importorskip("cv2")
    from r1track.tracking.baselines import MIN_SIDE, _pixel_rect, load_baseline

    frames, _ = _textured_clip(n=2)
    tracker = load_baseline(name)
    state, _ = tracker.start(frames[0], bbox=(0.2, 0.4, 1, 2))
    assert tracker.step_many([state], [frames[1]])[0].index == 1
    assert _pixel_rect((0.2, 0.4, 1, 2), (160, 120)) == (0, 0, MIN_SIDE, MIN_SIDE)
    assert _pixel_rect((158, 119, 2, 1), (160, 120)) == (152, 112, MIN_SIDE, MIN_SIDE)
