"""`r1track data synth`: deterministic GOT-10k-layout sequences with consistent labels."""

from __future__ import annotations

import numpy as np
import pytest

from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.datasets.synth import SynthConfig, synth_sequence, write_synth
from r1track.errors import ConfigError


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


def test_labels_are_consistent_with_what_is_drawn():
    config = SynthConfig(
        width=128,
        height=96,
        min_length=60,
        max_length=60,
        distractors=0,
        occluders=2,
        out_of_view=1.0,
        max_speed=8,
    )
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
    ],
    ids=("width", "height", "min_length", "max_length"),
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
