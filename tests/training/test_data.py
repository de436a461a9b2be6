"""`r1track data build`: pairs as the recipe draws them, stored crops, on-policy pairs, the
build config."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import THINK_AS_TRAINED, cv2_crop, cv2_jpeg
from r1track.cli import main
from r1track.prompts import chat_messages, format_box, tracking_prompt
from r1track.training.data import BuildConfig, build_dataset
from r1track.training.sampling import SamplingConfig


def _white_box(image) -> list[int]:
    red = np.asarray(image)[..., 0] > 127
    ys, xs = np.nonzero(red)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_data_build_follows_the_recipe_without_its_bugs(built, got_train):
    from datasets import load_from_disk

    from r1track.datasets import load_dataset

    data = load_from_disk(str(built))
    info = json.loads((built / "r1track_build.json").read_text())
    assert len(data["train"]) == 36 and len(data["validation"]) == 12
    assert not set(info["train_sequences"]) & set(info["validation_sequences"])
    sequences = {s.name: s for s in load_dataset("got10k", got_train, "train")}
    for split in ("train", "validation"):
        assert set(data[split]["sequence"]) <= set(info[f"{split}_sequences"])
        for row in data[split]:
            seq = sequences[row["sequence"]]
            template, search = row["frames"]
            assert template < search <= template + 5  # order and maximum gap
            assert all(seq.visible[f] for f in row["frames"])  # never an absent / covered frame
            size = row["size"]
            assert size in (112, 224) and [im.size for im in row["images"]] == [(size, size)] * 2
            x1, y1, x2, y2 = row["solution"]
            assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size
            # the answer is where the target is in the search crop
            assert np.allclose(_white_box(row["images"][1]), row["solution"], atol=3)
            assert row["completion"][0]["content"][0]["text"] == format_box(row["solution"])
            text = row["prompt"][0]["content"][-1]["text"]
            assert text.startswith("Please identify the target specified by the bounding box [")
            assert [p["type"] for p in row["prompt"][0]["content"]] == ["image", "image", "text"]


def test_data_build_is_deterministic_across_workers_and_supports_3_images(got_train, tmp_path):
    from datasets import load_from_disk

    rows = []
    for workers in (1, 2):
        config = BuildConfig(
            "got10k",
            str(got_train),
            "train",
            num_samples=12,
            val_fraction=0.0,
            prompt="100k",
            sampling=SamplingConfig(sizes=(112,), images=3),
        )
        build_dataset(config, tmp_path / f"w{workers}", workers=workers, progress=False)
        rows.append(load_from_disk(str(tmp_path / f"w{workers}"))["train"])
    assert rows[0]["solution"] == rows[1]["solution"] and rows[0]["frames"] == rows[1]["frames"]
    assert np.array_equal(np.asarray(rows[0][3]["images"][2]), np.asarray(rows[1][3]["images"][2]))
    row = rows[0][0]
    assert len(row["images"]) == 3 and row["frames"][0] < row["frames"][1] < row["frames"][2]
    assert row["prompt"][0]["content"][-1]["text"].startswith("Given three images")


def test_data_build_counts_dropped_samples(got_train, tmp_path):
    config = BuildConfig(
        "got10k",
        str(got_train),
        "train",
        num_samples=10,
        val_fraction=0.0,
        sampling=SamplingConfig(sizes=(112,), jitter=0.45, min_inside=0.999),
    )
    info = build_dataset(config, tmp_path / "d", progress=False)
    assert info["stats"]["train"]["drops"].get("box_mostly_outside_crop", 0) > 0


def test_data_build_stores_opencv_crops_as_jpeg_with_truncated_template_boxes(got_train, tmp_path):
    """By default the stored crops are R1-Track's: OpenCV INTER_LINEAR crops of the black-padded
    window, JPEG q95 as `cv2.imwrite` (within 2 grey levels, mean 0.05; measured identical);
    `--image-format png` stores them losslessly, `--resize pil` as Pillow resizes them (nano);
    the prompt's template box is the unclipped crop box truncated (int()), as R1-Track's."""
    pytest.importorskip("cv2")
    from datasets import load_from_disk
    from PIL import Image

    from r1track.datasets import load_dataset
    from r1track.geometry import crop_image, crop_window

    sequences = {s.name: s for s in load_dataset("got10k", got_train, "train")}
    args = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--sizes", "112"]
    args += ["--num-samples", "6", "--val-fraction", "0", "--context-range", "3,3", "--jitter", "0"]
    builds = {}
    for name, extra in (("jpeg", []), ("png", ["--image-format", "png"])):
        extra += ["--out", str(tmp_path / name)]
        assert main([*args, *extra]) == 0
        builds[name] = load_from_disk(str(tmp_path / name))["train"]
    pil = ["--resize", "pil", "--image-format", "png", "--out", str(tmp_path / "p")]
    assert main([*args, *pil]) == 0
    builds["pil"] = load_from_disk(str(tmp_path / "p"))["train"]
    for k, row in enumerate(builds["jpeg"]):
        seq = sequences[row["sequence"]]
        assert [r["frames"] for r in (builds["png"][k], builds["pil"][k])] == [row["frames"]] * 2
        for i, index in enumerate(row["frames"]):
            frame = Image.open(seq.frame_files[index]).convert("RGB")
            window = crop_window(seq.boxes[index], 3.0, 112)  # jitter 0: the recipe's window
            expected = cv2_crop(np.asarray(frame), window)
            lossless = np.asarray(builds["png"][k]["images"][i]).astype(int)
            assert np.abs(lossless - expected).max() <= 1
            diff = np.abs(np.asarray(row["images"][i]).astype(int) - cv2_jpeg(expected))
            assert diff.max() <= 2 and diff.mean() <= 0.05
            pil = np.asarray(crop_image(frame, window, "pil"))
            assert np.array_equal(np.asarray(builds["pil"][k]["images"][i]), pil)
        x, y, w, h = seq.boxes[row["frames"][0]]
        window = crop_window((x, y, w, h), 3.0, 112)
        template = [int(v) for v in window.to_crop([x, y, x + w, y + h])]
        assert row["template_boxes"] == [template]
        text = row["prompt"][0]["content"][-1]["text"]
        assert f"bounding box [{','.join(map(str, template))}]" in text
    info = json.loads((tmp_path / "p" / "r1track_build.json").read_text())["config"]
    assert (info["sampling"]["resize"], info["image_format"]) == ("pil", "png")
    # context 1: a box that is not square is longer than its square crop; the template box runs
    # past the crop as R1-Track wrote it, the answer box is clipped to it (on purpose)
    args[args.index("3,3")] = "1,1"
    assert main([*args, "--out", str(tmp_path / "tight")]) == 0
    rows = load_from_disk(str(tmp_path / "tight"))["train"]
    assert any(min(t) < 0 or max(t) > 112 for (t,) in rows["template_boxes"])
    assert all(min(s) >= 0 and max(s) <= 112 for s in rows["solution"])


def test_data_build_on_policy_pairs_from_a_tracker_run(got_train, tmp_path, capsys):
    """--tracker-run: template from frame 0, search crop centred on the run's previous box."""
    from datasets import load_from_disk

    from r1track.datasets import load_dataset
    from r1track.evaluation.layout import boxes_path

    run = tmp_path / "run"
    sequences = {s.name: s for s in load_dataset("got10k", got_train, "train")}
    tracked = {}
    for name, seq in sequences.items():  # a tracker that lags 6 px right, 4 px down, 20% large
        boxes = seq.boxes.copy()
        for i in range(1, len(boxes)):  # where the target is absent, the last box stays
            if not (np.isfinite(boxes[i]).all() and (boxes[i, 2:] > 0).all()):
                boxes[i] = boxes[i - 1]
        boxes[:, :2] += [6, 4]
        boxes[:, 2:] *= 1.2
        tracked[name] = boxes
        path = boxes_path(run, "got10k", name)
        path.parent.mkdir(parents=True)
        path.write_text("".join(",".join(f"{v:.3f}" for v in b) + "\n" for b in boxes))
    out = tmp_path / "onpolicy"
    args = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--sizes", "112"]
    flags = ["--context-range", "3,3", "--jitter", "0", "--num-samples", "10"]
    assert main([*args, *flags, "--tracker-run", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    rows = load_from_disk(str(out))["train"]
    for row in rows:
        seq, (first, t) = sequences[row["sequence"]], row["frames"]
        assert first == 0 and t >= 1 and seq.visible[t]
        # where the true box of frame t lands in a crop centred on the run's box of frame t - 1
        x, y, w, h = tracked[row["sequence"]][t - 1]
        side = np.ceil(np.sqrt(w * h) * 3)
        gx, gy, gw, gh = seq.boxes[t]
        centre = 56 + (np.array([gx + gw / 2 - x - w / 2, gy + gh / 2 - y - h / 2])) * 112 / side
        x1, y1, x2, y2 = row["solution"]
        assert np.allclose([(x1 + x2) / 2, (y1 + y2) / 2], centre, atol=1.5)
        assert np.allclose(_white_box(row["images"][1]), row["solution"], atol=3)
        tx1, ty1, tx2, ty2 = row["template_boxes"][0]  # frame 0, centred on its true box
        assert abs((tx1 + tx2) / 2 - 56) <= 1 and abs((ty1 + ty2) / 2 - 56) <= 1
    boxes_path(run, "got10k", name).unlink()
    for extra, message in (
        (["--tracker-run", str(run)], f"no result for sequence {name}"),
        (["--tracker-run", str(tmp_path / "none")], "no such directory"),
        (["--tracker-run", str(run), "--images", "3"], "--images 2"),
    ):
        assert main([*args, *flags, *extra, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[-1], err


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"num_samples": 0}, "num_samples", "must be at least 1, got 0"),
        ({"val_fraction": 1.0}, "val_fraction", "must be in [0, 1), got 1.0"),
        ({"val_fraction": -0.1}, "val_fraction", "must be in [0, 1), got -0.1"),
        ({"image_format": "gif"}, "image_format", "'gif' is unknown; expected one of jpeg, png"),
        (
            {"tracker_run": "run", "sampling": SamplingConfig(images=3)},
            "tracker_run",
            "draws template + search pairs: use --images 2",
        ),
    ],
    ids=("num_samples", "val_fraction 1", "val_fraction -0.1", "image_format", "tracker_run"),
)
def test_build_config_refuses_bad_values(values, field, rule):
    from r1track.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        BuildConfig("got10k", "root", **values)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    BuildConfig("got10k", "root", num_samples=1, val_fraction=0, tracker_run="run")  # edges: fine


def test_build_dataset_refuses_zero_workers_before_reading(tmp_path):
    from r1track.errors import ConfigError

    config = BuildConfig("got10k", str(tmp_path / "none"))  # would fail later: no such folder
    with pytest.raises(ConfigError) as caught:
        build_dataset(config, tmp_path / "out", workers=0, progress=False)
    assert (caught.value.field, caught.value.rule) == ("workers", "must be at least 1, got 0")
    assert not (tmp_path / "out").exists()


def test_data_build_rows_use_the_same_layout(tmp_path):
    from datasets import load_from_disk

    from helpers import write_got10k
    from r1track.training.data import BuildConfig, build_dataset
    from r1track.training.sampling import SamplingConfig

    write_got10k(tmp_path / "got", "train", num_seqs=2, length=6)
    config = BuildConfig(
        "got10k",
        str(tmp_path / "got"),
        num_samples=2,
        val_fraction=0.0,
        think=True,
        layout="reference-train",
        sampling=SamplingConfig(sizes=(112,), max_gap=3),
    )
    build_dataset(config, tmp_path / "data", workers=1, progress=False)
    for row in load_from_disk(str(tmp_path / "data"))["train"]:
        task = tracking_prompt(row["template_boxes"][0], "5k")
        expected = chat_messages("reference-train", 2, task, think=True)[0]["content"]
        content = [
            {k: v for k, v in part.items() if v is not None} for part in row["prompt"][0]["content"]
        ]
        assert content == expected
        assert content[0] == {"type": "text", "text": THINK_AS_TRAINED + " "}


def test_data_build_absent_rate_gives_search_crops_without_the_target(tmp_path):
    """--absent-rate 0.5: about half the rows are absent (answer `[]`, solution []), both kinds
    (a hidden frame, a crop that misses a visible target), and no absent crop shows a pixel of
    the white target, which every ordinary crop shows."""
    from datasets import load_from_disk

    from helpers import write_got10k
    from r1track.datasets import load_dataset
    from r1track.prompts import ABSENT_ANSWER

    root = tmp_path / "got"
    write_got10k(root, "train", num_seqs=3, length=12, size=(320, 200), hidden=(5, 9))
    n = 80
    config = BuildConfig(
        "got10k",
        str(root),
        num_samples=n,
        val_fraction=0,
        sampling=SamplingConfig(sizes=(112,), max_gap=5, absent_rate=0.5),
    )
    info = build_dataset(config, tmp_path / "out", workers=1, progress=False)
    assert info["config"]["sampling"]["absent_rate"] == 0.5  # in r1track_build.json
    rows = load_from_disk(str(tmp_path / "out"))["train"]
    assert len(rows) == n
    sequences = {s.name: s for s in load_dataset("got10k", root, "train")}
    kinds = {"hidden": 0, "miss": 0}
    absent = 0
    for row in rows:
        white = (np.asarray(row["images"][-1])[..., 0] > 127).any()
        text = row["completion"][0]["content"][0]["text"]
        seq = sequences[row["sequence"]]
        assert all(seq.visible[f] for f in row["frames"][:-1])  # templates show the target
        if row["solution"] == []:
            absent += 1
            assert text == ABSENT_ANSWER and not white
            kinds["miss" if seq.visible[row["frames"][-1]] else "hidden"] += 1
        else:
            assert text == format_box(row["solution"]) and white
            assert seq.visible[row["frames"][-1]]
    # Binomial(80, 0.5): sd 4.5; +-3.5 sd
    assert 24 <= absent <= 56, absent
    assert kinds["hidden"] >= 5 and kinds["miss"] >= 5, kinds


def test_data_build_absent_rate_zero_draws_no_extra_number(got_train, tmp_path):
    """R = 0 builds the rows `draw_sample` makes from each row's own generator, untouched: a
    build is the same as before --absent-rate existed. Think mode answers `<answer>[]</answer>`."""
    from collections import Counter

    from datasets import load_from_disk

    from helpers import build_absent_data
    from r1track.datasets import load_dataset
    from r1track.training.data import split_sequences
    from r1track.training.sampling import draw_sample, usable_frames

    sampling = SamplingConfig(sizes=(112, 224), max_gap=5)
    config = BuildConfig(
        "got10k", str(got_train), num_samples=12, val_fraction=0, sampling=sampling
    )
    build_dataset(config, tmp_path / "zero", workers=1, progress=False)
    rows = load_from_disk(str(tmp_path / "zero"))["train"]
    train, _ = split_sequences(load_dataset("got10k", got_train, "train"), 0, 0)
    usable = [usable_frames(s) for s in train]
    for i, row in enumerate(rows):
        rng = np.random.default_rng([0, i])
        sample = draw_sample(train, usable, rng, sampling, Counter())
        assert (row["sequence"], row["frames"], row["solution"]) == (
            sample.sequence,
            sample.frames,
            sample.solution,
        )
    build_absent_data(got_train, tmp_path / "think", 12, think=True)
    rows = load_from_disk(str(tmp_path / "think"))["train"]
    answers = {r["completion"][0]["content"][0]["text"] for r in rows if r["solution"] == []}
    assert answers == {"<answer>[]</answer>"}


def test_build_config_refuses_absent_rate_with_a_tracker_run():
    from r1track.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        BuildConfig("got10k", "root", tracker_run="run", sampling=SamplingConfig(absent_rate=0.2))
    assert caught.value.field == "tracker_run"
    assert caught.value.rule == "draws on-policy pairs only: use --absent-rate 0"
