"""`data build --grounding-rate`: text-initialisation samples, exactly what `--init text` sends."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from helpers import ScriptedBackend
from r1track.backends.base import PixelLimits
from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.datasets.synth import SynthConfig, write_synth
from r1track.errors import ConfigError
from r1track.geometry import clip_xyxy, crop_image, crop_window, iou_xyxy, xywh_to_xyxy
from r1track.prompts import ABSENT_ANSWER, format_box, grounding_prompt
from r1track.tracking import Tracker, TrackerConfig
from r1track.tracking.redetect import grounding_windows
from r1track.training.data import BuildConfig, build_dataset
from r1track.training.grounding import WINDOW_HOLDS, WINDOW_MISSES
from r1track.training.sampling import SamplingConfig

NANO_LIMITS = PixelLimits(112 * 112, 112 * 112 * 80, factor=112)


def _build(tmp_path, rate=0.5, n=24, windows=0, grounding_root=None):
    root = tmp_path / "synth"
    write_synth(root, "train", 3, 4, SynthConfig(min_length=6, max_length=6), progress=False)
    sampling = SamplingConfig(
        sizes=(112,),
        max_gap=5,
        grounding_rate=rate,
        grounding_factor=112,
        grounding_pixels=12544,
        grounding_windows=windows,
        template_context=3.0 if windows else None,
        resize="pil",
    )
    config = BuildConfig(
        "got10k",
        str(root),
        num_samples=n,
        val_fraction=0,
        sampling=sampling,
        image_format="png",
        grounding_root=grounding_root,
    )
    build_dataset(config, tmp_path / "data", workers=1, progress=False)
    sequences = {s.name: s for s in load_dataset("got10k", root, "train")}
    return load_from_disk(str(tmp_path / "data"))["train"], sequences


def test_grounding_rows_hold_the_image_text_init_sends_and_the_box_in_it(tmp_path):
    rows, sequences = _build(tmp_path)
    grounding = [r for r in rows if len(r["images"]) == 1]
    assert 0 < len(grounding) < len(rows)  # about half; the others are tracking pairs
    assert all(len(r["images"]) == 2 for r in rows if r not in grounding)
    for row in grounding:
        seq = sequences[row["sequence"]]
        (index,) = row["frames"]
        text = row["prompt"][0]["content"][-1]["text"]
        assert text == grounding_prompt(seq.description)
        answer = row["completion"][0]["content"][0]["text"]
        assert answer == format_box(row["solution"]) and row["template_boxes"] == []
        image = row["images"][0].convert("RGB")
        assert image.size == (112, 112)  # a 256 x 192 frame in nano's one token
        # the tracker's text init on the same frame sends these very pixels...
        answer_box = format_box(row["solution"])
        backend = ScriptedBackend(lambda request, text=answer_box: text, NANO_LIMITS)
        tracker = Tracker(backend, TrackerConfig(grounding_max_pixels=12544))
        with Image.open(seq.frame_files[index]) as raw:
            box, _, _ = tracker.ground(raw.convert("RGB"), seq.description)
        sent = backend.requests[0].images[0]
        assert np.array_equal(np.asarray(sent), np.asarray(image))
        # ...and reads the row's answer back as the sequence's box (to the answer's rounding)
        scale = np.array([256 / 112, 192 / 112] * 2)
        assert np.abs(box - seq.boxes[index]).max() <= scale.max()


def test_grounding_rate_on_the_command_line_and_its_checks(tmp_path, capsys):
    root = tmp_path / "synth"
    write_synth(root, "train", 2, 1, SynthConfig(min_length=4, max_length=4), progress=False)
    args = [
        "data",
        "build",
        "--dataset",
        "got10k",
        "--root",
        str(root),
        "--split",
        "train",
        "--sizes",
        "112",
        "--num-samples",
        "6",
        "--val-fraction",
        "0",
        "--max-gap",
        "3",
    ]
    assert (
        main(
            [
                *args,
                "--out",
                str(tmp_path / "a"),
                "--grounding-rate",
                "1",
                "--grounding-factor",
                "112",
                "--grounding-pixels",
                "12544",
            ]
        )
        == 0
    )
    rows = load_from_disk(str(tmp_path / "a"))["train"]
    assert len(rows) == 6 and all(len(r["images"]) == 1 for r in rows)
    capsys.readouterr()
    code = main([*args, "--out", str(tmp_path / "b"), "--grounding-rate", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "--grounding-rate" in err and len(err.strip().splitlines()) == 1


def test_a_build_with_grounding_samples_tells_the_checkpoint_its_pixel_limit(tmp_path):
    """A model trained on grounding frames of at most 12544 pixels must ground at that size: the
    build's limit becomes the trained checkpoint's `grounding_max_pixels`, and only when it made
    grounding samples (the default limit otherwise)."""
    from r1track.training.trainers import settings_from_build

    _build(tmp_path / "with", rate=0.5, n=4)
    assert settings_from_build(tmp_path / "with" / "data")["grounding_max_pixels"] == 12544
    _build(tmp_path / "without", rate=0.0, n=4)
    assert "grounding_max_pixels" not in settings_from_build(tmp_path / "without" / "data")


def test_window_rows_hold_a_window_the_tracker_cuts_with_the_box_or_the_absent_answer(tmp_path):
    """`--grounding-windows`: each row's image is, pixel for pixel, one of the windows
    `--grounding-windows` text init asks about; a window near the search crop centred on the
    target answers the target's box in it, one far from it the absent answer, none in between."""
    rows, sequences = _build(tmp_path, rate=1.0, n=40, windows=200)
    kinds = Counter()
    for row in rows:
        seq = sequences[row["sequence"]]
        (index,) = row["frames"]
        assert row["prompt"][0]["content"][-1]["text"] == grounding_prompt(seq.description)
        with Image.open(seq.frame_files[index]) as raw:
            frame = raw.convert("RGB")
        image = np.asarray(row["images"][0].convert("RGB"))
        windows = grounding_windows(frame.size, 3.0, 112, 200)
        same = [
            w for w in windows if np.array_equal(np.asarray(crop_image(frame, w, "pil")), image)
        ]
        assert same
        window = same[0]
        ideal = crop_window(seq.boxes[index], 3.0, 112)
        iou = iou_xyxy(_square(window), _square(ideal))
        answer = row["completion"][0]["content"][0]["text"]
        if row["solution"]:
            assert iou >= WINDOW_HOLDS
            expected = clip_xyxy(window.to_crop(xywh_to_xyxy(seq.boxes[index])), 112, 112)
            assert np.abs(np.array(row["solution"]) - expected).max() <= 0.5
            assert answer == format_box(row["solution"])
            kinds["holds"] += 1
        else:
            assert iou <= WINDOW_MISSES and answer == ABSENT_ANSWER
            kinds["misses"] += 1
    assert kinds["holds"] >= 5 and kinds["misses"] >= 5


def _square(window) -> list[float]:
    return [window.x0, window.y0, window.x0 + window.side, window.y0 + window.side]


def test_grounding_windows_need_the_context_they_are_cut_at():
    with pytest.raises(ConfigError, match="template-context"):
        SamplingConfig(grounding_rate=0.5, grounding_windows=50)


def test_grounding_root_gives_the_grounding_rows_and_the_checkpoint_its_windows(tmp_path):
    """`--grounding-root`: grounding rows come from that root's scenes only, tracking pairs from
    `--root`'s; the trained checkpoint is told to ground in the windows it was trained on."""
    from r1track.training.trainers import settings_from_build

    other = tmp_path / "other"
    write_synth(other, "train", 2, 7, SynthConfig(min_length=6, max_length=6), progress=False)
    names = {s.name: s.description for s in load_dataset("got10k", other, "train")}
    rows, sequences = _build(tmp_path, rate=0.5, n=30, windows=50, grounding_root=str(other))
    grounding = [r for r in rows if len(r["images"]) == 1]
    tracking = [r for r in rows if len(r["images"]) == 2]
    assert grounding and tracking
    for row in grounding:  # the other root's descriptions (its sequences share names with root's)
        text = row["prompt"][0]["content"][-1]["text"]
        assert text == grounding_prompt(names[row["sequence"]])
    assert {r["sequence"] for r in grounding} <= set(names)  # root has a third sequence more
    assert set(sequences) - set(names) & {r["sequence"] for r in tracking}
    assert any(names[r["sequence"]] != sequences[r["sequence"]].description for r in grounding)
    assert settings_from_build(tmp_path / "data")["grounding_windows"] == 50


def test_grounding_root_needs_grounding_samples(tmp_path, capsys):
    with pytest.raises(ConfigError, match="use --grounding-rate"):
        BuildConfig("got10k", str(tmp_path), grounding_root=str(tmp_path))
    flags = ["--num-samples", "4", "--out", str(tmp_path / "d"), "--grounding-root", str(tmp_path)]
    code = main(["data", "build", "--dataset", "got10k", "--root", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2 and "--grounding-root" in err and len(err.strip().splitlines()) == 1
