"""`r1track data synth`: deterministic GOT-10k-layout sequences with consistent labels."""

from __future__ import annotations

import numpy as np
import pytest

from r1track.cli import main
from r1track.datasets import load_dataset, synth
from r1track.datasets.synth import SynthConfig, synth_sequence, write_synth
from r1track.errors import ConfigError
from r1track.evaluation.metrics import reappearances


def test_synth_is_deterministic_and_loads_as_got10k(tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "data",
                    "synth",
                    "--out",
                    str(tmp_path / name),
                    "--split",
                    "val",
                    "--num-seqs",
                    "3",
                    "--seed",
                    "5",
                    "--min-length",
                    "10",
                    "--max-length",
                    "20",
                ]
            )
            == 0
        )
    seqs = {n: load_dataset("got10k", tmp_path / n, "val") for n in ("a", "b")}
    assert [s.name for s in seqs["a"]] == [s.name for s in seqs["b"]]
    for sa, sb in zip(seqs["a"], seqs["b"], strict=True):
        assert np.array_equal(sa.boxes, sb.boxes) and sa.description == sb.description
        assert np.array_equal(sa.attributes["cover"], sb.attributes["cover"])
        assert sa.frame_files[-1].read_bytes() == sb.frame_files[-1].read_bytes()
        assert sa.description.startswith("the ") and 10 <= len(sa) <= 20
        assert sa.attributes["cover"][0] > 0  # the first frame shows the target
    other = tmp_path / "c"
    main(
        [
            "data",
            "synth",
            "--out",
            str(other),
            "--split",
            "val",
            "--num-seqs",
            "3",
            "--seed",
            "6",
            "--min-length",
            "10",
            "--max-length",
            "20",
        ]
    )
    assert not np.array_equal(
        load_dataset("got10k", other, "val")[0].boxes[:5], seqs["a"][0].boxes[:5]
    )


# Small frames where the target often leaves the view or is covered.
EXITS = {
    "width": 128,
    "height": 96,
    "min_length": 60,
    "max_length": 60,
    "occluders": 2,
    "out_of_view": 1.0,
    "max_speed": 8,
}


def test_labels_are_consistent_with_what_is_drawn():
    config = SynthConfig(**EXITS, distractors=0)
    invisible_seen = partial_seen = 0
    for seed in range(6):
        frames, boxes, cover, absence, cut, _ = synth_sequence(np.random.default_rng(seed), config)
        cover, absence = np.array(cover), np.array(absence)
        assert np.array_equal(cover == 0, absence == 1)  # cover 0 <=> absent
        assert ((cover >= 0) & (cover <= 8)).all()
        # boxes lie inside the frame and have an area
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] >= 1).all()
        assert (boxes[:, 0] + boxes[:, 2] <= 128).all() and (boxes[:, 1] + boxes[:, 3] <= 96).all()
        invisible_seen += int((cover == 0).sum())
        partial_seen += int(((cover > 0) & (cover < 8)).sum())
        assert len(frames) == len(boxes) == len(cut) == 60
    # with out_of_view=1 and occluders, invisible and partly covered frames both occur
    assert invisible_seen > 0 and partial_seen > 0


def test_text_init_descriptions_reach_the_eval_reader(tmp_path):
    main(
        [
            "data",
            "synth",
            "--out",
            str(tmp_path),
            "--split",
            "test",
            "--num-seqs",
            "2",
            "--min-length",
            "5",
            "--max-length",
            "6",
        ]
    )
    seqs = load_dataset("got10k", tmp_path, "test")
    assert all(s.description and not s.has_groundtruth for s in seqs)


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"width": 63}, "width", "must be at least 64, got 63"),
        ({"height": 32}, "height", "must be at least 64, got 32"),
        ({"min_length": 1, "max_length": 5}, "min_length", "must be at least 2, got 1"),
        (
            {"min_length": 5, "max_length": 4},
            "max_length",
            "must be at least the min length (5), got 4",
        ),
        ({"vanish": -1}, "vanish", "must be at least 0, got -1"),
        ({"vanish_min": 0}, "vanish_min", "must be at least 1, got 0"),
        ({"vanish_max": 5}, "vanish_max", "must be at least the vanish min (6), got 5"),
        (
            {"vanish": 2, "min_length": 71, "max_length": 80},
            "min_length",
            "must be at least 72 for 2 vanishing(s) of up to 15 frames, got 71",
        ),
    ],
    ids=(
        "width",
        "height",
        "min_length",
        "max_length",
        "vanish",
        "vanish_min",
        "vanish_max",
        "vanish_length",
    ),
)
def test_synth_config_refuses_bad_values(values, field, rule):
    """The config checks its values itself: a library caller gets what `data synth` says."""
    with pytest.raises(ConfigError) as caught:
        SynthConfig(**values)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert str(caught.value) == f"{field.replace('_', ' ')} {rule}"
    SynthConfig(width=64, height=64, min_length=2, max_length=2)  # the edges are allowed


def test_write_synth_refuses_no_sequences(tmp_path):
    with pytest.raises(ConfigError) as caught:
        write_synth(tmp_path / "out", "train", 0, 0, SynthConfig())
    assert (caught.value.field, caught.value.rule) == ("num_seqs", "must be at least 1, got 0")
    assert not (tmp_path / "out").exists()


def _digest(seed, config: SynthConfig) -> str:
    import hashlib

    frames, boxes, cover, absence, cut, description = synth_sequence(
        np.random.default_rng(seed), config
    )
    h = hashlib.sha256()
    for frame in frames:
        h.update(np.asarray(frame).tobytes())
    h.update(np.asarray(boxes, dtype=np.float64).tobytes())
    h.update(repr((list(cover), list(absence), list(cut), description)).encode())
    return h.hexdigest()


# Computed before the vanish knobs existed (main at 1672bd8): the frames' pixels and the labels.
BEFORE_VANISH = {
    ("default", 0, 0): "35e602a0fba6681c05ddf9e8ee5ce1b463e9471b29cb9292c3bde6cc292a9949",
    ("default", 7, 3): "49cbfa1fe7088babb3707f186f467df66b82bb5a57bcfb2450a3b09dc5f72b03",
    ("exits", 0, 0): "1d0b8450a913e1a455eaee9b9b49b44a838dabc503dc7865c65228498909d37b",
    ("exits", 7, 3): "919222802cd4c50952d6d036c4876ec54ffc82d916d2441e5a9fb6d730692e9d",
}


def test_existing_seeds_give_the_sequences_they_gave_before_the_vanish_knobs():
    """The knobs that make lost-and-found sets draw nothing when off: the training sets of `make
    nano` (and every other set made from a seed) come out the same, byte for byte."""
    configs = {"default": SynthConfig(), "exits": SynthConfig(**EXITS)}
    for (name, *seed), digest in BEFORE_VANISH.items():
        assert _digest(seed, configs[name]) == digest, (name, seed)


def _gaps(cover: np.ndarray, boxes: np.ndarray):
    """(gap length, centre distance / largest side) of each reappearance in the labels: the
    last visible box before the gap against the first one after it."""
    visible = np.asarray(cover) > 0
    found = []
    for r in reappearances(visible, min_gap=1):
        gap = 1
        while not visible[r - 1 - gap]:
            gap += 1
        before, after = boxes[r - gap - 1], boxes[r]
        distance = np.hypot(*(after[:2] + after[2:] / 2 - before[:2] - before[2:] / 2))
        found.append((gap, distance / max(*before[2:], *after[2:])))
    return found


@pytest.mark.parametrize(
    "config",
    [
        SynthConfig(vanish=1, min_length=50, max_length=90),
        SynthConfig(vanish=2, min_length=72, max_length=72, occluders=2),
        SynthConfig(width=128, height=96, vanish=1, min_length=40, max_length=40),
    ],
    ids=("one", "two-with-bars", "small-frames"),
)
def test_every_target_vanishes_and_reappears_far_away(config):
    """With `vanish`, every sequence has that many reappearances after a gap of vanish_min to
    vanish_max frames whose first box is far from the last one before it: centres more than 2x
    the largest side of either box apart (other gaps, behind bars, may come besides)."""
    for i in range(12):
        _, boxes, cover, *_ = synth_sequence(np.random.default_rng([9101, i]), config)
        far = [
            gap
            for gap, ratio in _gaps(cover, boxes)
            if config.vanish_min <= gap <= config.vanish_max and ratio > 2
        ]
        assert len(far) >= config.vanish, (i, _gaps(cover, boxes))


def test_the_vanish_flags_make_a_lost_and_found_set(tmp_path):
    flags = "--split val --num-seqs 3 --seed 9101 --vanish 1 --vanish-min 8 --vanish-max 9"
    assert main(["data", "synth", "--out", str(tmp_path), *flags.split()]) == 0
    for seq in load_dataset("got10k", tmp_path, "val"):
        cover, absence = seq.attributes["cover"], seq.attributes["absence"]
        assert np.array_equal(seq.visible, cover > 0) and np.array_equal(cover == 0, absence == 1)
        assert any(8 <= gap <= 9 and ratio > 2 for gap, ratio in _gaps(cover, seq.boxes))


MAGENTA = (255, 0, 255)


def test_labels_say_invisible_exactly_where_the_target_is_not_drawn(monkeypatch):
    """The target painted in one colour no other pixel has (no clutter, no illumination drift):
    cover 0 and absence 1 exactly on the frames without a pixel of it, and its box the extent
    of its pixels on the others (the last visible box while it is gone)."""
    config = SynthConfig(
        vanish=2, min_length=80, max_length=80, clutter=0, illumination=0, occluders=2
    )
    paste = synth.paste

    def paint_target(canvas, pixels, mask, x0, y0, owner=None, label=0):
        if label == 1:
            pixels = np.broadcast_to(np.array(MAGENTA, np.float32), pixels.shape)
        paste(canvas, pixels, mask, x0, y0, owner, label)

    plain = [synth_sequence(np.random.default_rng([9101, i]), config) for i in range(6)]
    monkeypatch.setattr(synth, "paste", paint_target)
    for i, before in enumerate(plain):
        frames, boxes, cover, absence, cut, _ = synth_sequence(
            np.random.default_rng([9101, i]), config
        )
        for a, b in zip((boxes, cover, absence, cut), before[1:5], strict=True):
            assert np.array_equal(a, b)  # painting draws no random number
        cover, last = np.array(cover), None
        for k, frame in enumerate(frames):
            ys, xs = np.nonzero(np.all(np.asarray(frame) == MAGENTA, axis=-1))
            assert (cover[k] == 0) == (len(xs) == 0) == (absence[k] == 1), (i, k)
            if len(xs):
                last = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            assert list(boxes[k]) == last, (i, k)
        assert (cover == 0).sum() >= 2 * config.vanish_min
