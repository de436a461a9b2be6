"""The bundled r1track-nano: loads by name, offline, from any directory, and really tracks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import bbox_flag, run_cli
from r1track.evaluation.metrics import xywh_iou
from r1track.models import BUNDLED, SETTINGS_FILE

NANO = BUNDLED["nano"]
ASSETS = Path(__file__).resolve().parents[2] / "assets"

pytestmark = pytest.mark.skipif(
    not (NANO / "config.json").is_file(), reason="r1track-nano is not bundled in this build"
)


def _ao(boxes_xywh: np.ndarray, truth_xywh: np.ndarray) -> float:
    """Mean IoU over frames 1.. (frame 0 is the given box)."""
    return float(xywh_iou(boxes_xywh[1:], truth_xywh[1:]).mean())


def test_nano_is_small_and_carries_its_settings():
    size = sum(f.stat().st_size for f in NANO.iterdir() if f.is_file())
    assert size < 32 * 2**20
    settings = json.loads((NANO / SETTINGS_FILE).read_text())
    assert settings["prompt"] == "nano" and settings["crop_size"] == 112


@pytest.mark.slow
def test_nano_tracks_the_demo_clip_far_better_than_not_moving(tmp_path):
    # run from a directory that is not the repository, offline, by name only
    truth = np.loadtxt(ASSETS / "demo.groundtruth.txt", delimiter=",")
    args = ["track", ASSETS / "demo.mp4", "--bbox", bbox_flag(truth[0]), "--model", "nano"]
    args += ["--out", "o", "--no-overlay"]
    proc = run_cli(*args, cwd=tmp_path, TRANSFORMERS_OFFLINE="1")
    assert proc.returncode == 0, proc.stderr
    boxes = np.loadtxt(tmp_path / "o" / "boxes.txt", delimiter=",")
    assert boxes.shape == truth.shape
    no_motion = _ao(np.repeat(truth[:1], len(truth), axis=0), truth)
    nano = _ao(boxes, truth)
    # measured when bundled (benchmarks/nano.md): nano 0.695, no-motion 0.100; a random or
    # image-blind model stays near no-motion or below it (its box drifts)
    assert nano > 2 * no_motion and nano > no_motion + 0.1, (nano, no_motion)
    # Every lost-and-found setting (re-detection, confidence, agreement, likeness, memory) off by
    # default: the boxes are, byte for byte, those of the tracker before they existed (written by
    # commit bd5ccb6's code with this command and the bundled weights; rewritten so when nano is
    # bundled anew)
    before = Path(__file__).parent / "data" / "nano-demo-boxes-bd5ccb6.txt"
    assert (tmp_path / "o" / "boxes.txt").read_bytes() == before.read_bytes()


@pytest.mark.slow
def test_nano_finds_the_demo_clips_target_from_its_description(tmp_path):
    """`--text` with the bundled nano: its grounding windows (a setting it carries) find the
    described object on the first frame and the track follows it. Measured when bundled
    (benchmarks/nano.md, experiment 19): first-frame IoU 0.529, mean IoU after it 0.637; a model
    that answers the frame's mean box, or any other object's, overlaps the target little."""
    truth = np.loadtxt(ASSETS / "demo.groundtruth.txt", delimiter=",")
    # the demo clip is `data synth`'s scene for seed 7, whose description is this
    args = ["track", ASSETS / "demo.mp4", "--text", "the orange checkered diamond"]
    proc = run_cli(*args, "--model", "nano", "--out", "o", "--no-overlay", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    boxes = np.loadtxt(tmp_path / "o" / "boxes.txt", delimiter=",")
    ious = xywh_iou(boxes, truth)
    assert ious[0] > 0.4 and ious[1:].mean() > 0.4, (ious[0], ious[1:].mean())


def test_the_readme_python_snippet_with_nano_gives_usable_answers():
    """The Python API applies the bundled model's settings file (crop 112, context 3, prompt
    nano) without being told: with R1-Track's defaults every answer is unusable."""
    from itertools import islice

    from r1track.backends import load_backend
    from r1track.tracking import Tracker
    from r1track.video import open_frames

    truth = np.loadtxt(ASSETS / "demo.groundtruth.txt", delimiter=",")
    backend = load_backend("hf", "nano", device="cpu")
    try:
        tracker = Tracker(backend)
        frames = open_frames(str(ASSETS / "demo.mp4"))
        results = list(islice(tracker.track(frames, bbox=tuple(truth[0])), 5))
    finally:
        backend.close()
    fallbacks = [r.fallback for r in results[1:]]
    assert len(fallbacks) == 4 and fallbacks.count(None) >= 3, fallbacks
    settings = json.loads((NANO / SETTINGS_FILE).read_text())
    assert (tracker.config.crop_size, tracker.config.prompt) == (settings["crop_size"], "nano")
    assert tracker.config.search_factor == settings["context"]
