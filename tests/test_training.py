"""Training: data build, rewards, config, SFT and GRPO on TRL with the tiny model, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import cv2_crop, cv2_jpeg, write_got10k
from r1track.cli import main
from r1track.errors import UserError
from r1track.prompts import format_box
from r1track.training import rewards
from r1track.training.config import load_config
from r1track.training.data import BuildConfig, build_dataset
from r1track.training.sampling import SamplingConfig
from r1track.training.trainers import TRAIN_INFO

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.fixture(scope="module")
def got_train(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("got")
    write_got10k(root, "train", num_seqs=4, length=12)
    return root


@pytest.fixture(scope="module")
def built(got_train, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "data"
    config = BuildConfig(
        "got10k",
        str(got_train),
        "train",
        num_samples=48,
        val_fraction=0.25,
        sampling=SamplingConfig(sizes=(112, 224), max_gap=5),
    )
    build_dataset(config, out, workers=1, progress=False)
    return out


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


def _offset(box) -> float:
    """How far a box's centre lies from the centre of a 112 px crop (the larger of x and y)."""
    x1, y1, x2, y2 = box
    return max(abs((x1 + x2) / 2 - 56), abs((y1 + y2) / 2 - 56))


def _side(box) -> float:
    x1, y1, x2, y2 = box
    return ((x2 - x1) * (y2 - y1)) ** 0.5


def _template_and_search(out, measure) -> dict[str, list[float]]:
    """`measure(box)` of every template box and every search box of a built dataset."""
    from datasets import load_from_disk

    rows = load_from_disk(str(out))["train"]
    values = {"template": [], "search": []}
    for (template,), search in zip(rows["template_boxes"], rows["solution"], strict=True):
        values["template"].append(measure(template))
        values["search"].append(measure(search))
    return values


def test_data_build_crop_geometry_flags(got_train, tmp_path):
    """--context-range 3,3 --jitter 0: the search box is centred with side crop / 3."""
    out = tmp_path / "fixed"
    args = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--sizes", "112"]
    extra = ["--num-samples", "8", "--context-range", "3,3", "--jitter", "0", "--out", str(out)]
    assert main([*args, *extra]) == 0
    for offset, side in _template_and_search(out, lambda b: (_offset(b), _side(b)))["search"]:
        assert offset <= 1 and abs(side - 112 / 3) <= 2
    # --template-jitter 0: templates centred (a box-free prompt's contract), search crops not
    out = tmp_path / "centred-templates"
    extra = ["--num-samples", "16", "--context-range", "3,3", "--jitter", "0.3", "--out", str(out)]
    assert main([*args, *extra, "--template-jitter", "0"]) == 0
    offsets = _template_and_search(out, _offset)
    assert max(offsets["template"]) <= 1
    assert max(offsets["search"]) > 5
    # --template-context 3 with a wide --context-range: templates at the tracker's scale, the
    # target's size in the search crops varies (it must be read from the image)
    out = tmp_path / "search-scales"
    extra = ["--num-samples", "24", "--context-range", "2,5", "--jitter", "0", "--out", str(out)]
    assert main([*args, *extra, "--template-context", "3"]) == 0
    sides = _template_and_search(out, _side)
    assert all(abs(side - 112 / 3) <= 2 for side in sides["template"])
    assert max(sides["search"]) - min(sides["search"]) > 15


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


def test_data_build_bad_inputs(got_train, tmp_path, capsys):
    base = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--num-samples", "4"]
    for extra, message in (
        (["--sizes", "100"], "multiples of 28"),
        (["--sizes", "a"], "expected integers"),
        (["--val-fraction", "1.5"], "val-fraction"),
        (["--root", str(tmp_path / "none")], "no such dataset folder"),
        (["--context-range", "3"], "expected LOW,HIGH"),
        (["--context-range", "4,2"], "LOW <= HIGH"),
        (["--jitter", "0.7"], "--jitter"),
        (["--template-jitter", "-0.1"], "--template-jitter"),
        (["--template-context", "0.5"], "--template-context"),
        (["--template-context", "nan"], "--template-context"),
    ):
        assert main([*base, *extra, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


# -- rewards ------------------------------------------------------------------------------------

GT = [10, 10, 50, 50]


def _think(answer: str) -> str:
    return "<think>" + "reason " * 10 + "</think><answer>" + answer + "</answer>"


def _box_with_giou(target: float) -> list[float]:
    """A box on the same row as GT whose GIoU with GT is `target` (found by bisection)."""
    lo, hi = 0.0, 200.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if float(rewards.giou_xyxy(np.array([10 + mid, 10, 50 + mid, 50]), np.array(GT))) > target:
            lo = mid
        else:
            hi = mid
    return [10 + lo, 10, 50 + lo, 50]


@pytest.mark.parametrize(
    ("giou", "shaped"),
    [
        (-0.5, -0.5),
        (0.0, 0.0),
        (0.2, 0.0),
        (0.4, 0.4),
        (0.6, 0.6),
        (0.75, 0.75),
        (0.8, 1.0),
        (0.94, 1.14),
        (0.95, 1.45),
        (1.0, 1.5),
    ],
)
def test_reward_shaping_every_branch(giou, shaped):
    box = GT if giou == 1.0 else _box_with_giou(giou)
    text = "[" + ",".join(f"{v:.6f}" for v in box) + "]"
    assert rewards.nothink_parts(text, GT)["overall"] == pytest.approx(shaped, abs=1e-4)
    ids = [[0] * 200]
    assert rewards.r1track_think_reward([_think(text)], [GT], completion_ids=ids)[
        0
    ] == pytest.approx(shaped + 0.05, abs=1e-4)


def test_think_reward_failures_and_length_penalty():
    ok = _think("[10,10,50,50]")
    cases = {
        "": -1.0,
        "<think>a</think><think>b</think><answer>[10,10,50,50]</answer>": -1.0,  # repeated tag
        "<think>a<think>b</think></think><answer>[10,10,50,50]</answer>": -1.0,  # nested
        "[10,10,50,50]": -1.0,  # no tags
        _think("the box [10,10,50,50]"): -1.0,  # answer not a list
        _think("[10,10,50]"): -1.0,  # not 4 numbers
    }
    for text, expected in cases.items():
        assert rewards.think_parts(text, GT, 200)["overall"] == expected, text
    assert rewards.think_parts(ok, "not a box", 200)["overall"] == -1.0  # bad ground truth
    assert rewards.think_parts(ok, GT, 127)["overall"] == -1.0  # under 128 tokens
    assert rewards.think_parts(ok, GT, 448)["overall"] == pytest.approx(1.55)  # no penalty yet
    assert rewards.think_parts(ok, GT, 512)["overall"] == pytest.approx(
        1.55 + 0.1 * (448 - 512) / 64
    )


def test_rewards_take_conversational_completions_and_log_parts():
    logged = {}
    completion = [{"role": "assistant", "content": "[10,10,50,50]"}]
    out = rewards.r1track_nothink_reward(
        [completion, [{"role": "assistant", "content": "x"}]],
        [GT, GT],
        log_metric=logged.__setitem__,
    )
    assert out == [1.5, -1.0]
    assert logged["nothink/giou"] == pytest.approx(0.0) and logged["nothink/format"] == 0.5
    assert rewards.iou_reward(["[10,10,30,50]"], [GT]) == [pytest.approx(0.5)]
    assert rewards.format_reward([_think("[1,2,3,4]"), "[1,2,3,4]"], think=True) == [1.0, 0.0]


def test_size_aware_rewards_peak_at_the_true_size_when_the_centre_is_uncertain():
    # answers of one size whose centres scatter around the target's: GIoU alone pays best for a
    # box larger than the target, the size term brings the best expected reward back to it
    rng = np.random.default_rng(0)
    shifts = rng.normal(0, 8, size=(400, 2))
    truth = [40.0, 40.0, 60.0, 60.0]

    def expected(reward, scale):
        half = 10 * scale
        answers = [
            f"[{40 + dx + 10 - half},{40 + dy + 10 - half},{50 + dx + half},{50 + dy + half}]"
            for dx, dy in shifts
        ]
        return float(np.mean(reward(answers, [truth] * len(answers))))

    scales = [0.8, 0.9, 1.0, 1.1, 1.25, 1.5]
    best = {
        name: max(scales, key=lambda k: expected(fn, k))
        for name, fn in (
            ("giou", rewards.giou_reward),
            ("size", rewards.giou_size_reward),
            ("l1", rewards.l1_reward),
        )
    }
    assert best["giou"] > 1.0 and best["size"] == best["l1"] == 1.0, best


# -- config -------------------------------------------------------------------------------------


def test_config_layers_and_unknown_keys(tmp_path):
    config = load_config(
        CONFIGS / "tiny-cpu-grpo.yaml", ["optim.learning_rate=2e-6", "grpo.beta=0"]
    )
    assert config.optim.learning_rate == 2e-6 and config.grpo.beta == 0.0
    assert config.grpo.num_generations == 4 and config.lora.r == 12  # file, then defaults
    with pytest.raises(UserError, match=r"unknown config key 'optim\.lerning_rate'"):
        load_config(CONFIGS / "tiny-cpu-grpo.yaml", ["optim.lerning_rate=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("output_dir: x\nmodel: {path: m}\ndata: {path: d}\ngrpo: {rewrd: think}\n")
    with pytest.raises(UserError, match=r"unknown config key 'grpo\.rewrd'"):
        load_config(bad)
    with pytest.raises(UserError, match="expected an integer"):
        load_config(CONFIGS / "tiny-cpu-grpo.yaml", ["grpo.num_generations=many"])
    for path in [*CONFIGS.glob("*.yaml"), *CONFIGS.glob("nano/*.yaml")]:  # every recipe parses
        load_config(path)


def test_unknown_key_on_the_command_line_is_one_line(capsys):
    code = main(["train", "sft", "--config", str(CONFIGS / "tiny-cpu-sft.yaml"), "optim.nope=1"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "r1track: error: unknown config key 'optim.nope'"


_REQUIRED = "output_dir: o\nmodel: {path: m}\ndata: {path: d}\n"

# (YAML after the required keys, overrides) -> the exact UserError message
BAD_CONFIGS = {
    "unknown top-level key in YAML": ("outputdir: x\n", [], "unknown config key 'outputdir'"),
    "unknown nested key in YAML": ("optim: {foo: 1}\n", [], "unknown config key 'optim.foo'"),
    "unknown top-level override": ("", ["outputdir=x"], "unknown config key 'outputdir'"),
    "unknown nested override": ("", ["optim.max_stepz=4"], "unknown config key 'optim.max_stepz'"),
    "unknown key below a section's key": ("", ["optim.a.b=1"], "unknown config key 'optim.a'"),
    "dotted key in YAML": ("optim.max_steps: 4\n", [], "unknown config key 'optim.max_steps'"),
    "bad type in override": (
        "",
        ["optim.max_steps=abc"],
        "config key 'optim.max_steps': expected an integer, got 'abc'",
    ),
    "bad type in YAML": (
        "lora: {dropout: lots}\n",
        [],
        "config key 'lora.dropout': expected a number, got 'lots'",
    ),
    "bad bool": ("", ["lora.enabled=maybe"], "config key 'lora.enabled': expected true or false"),
    "bad Optional": (
        "",
        ["sft.max_length=long"],
        "config key 'sft.max_length': expected an integer or null, got 'long'",
    ),
    "null where not Optional": (
        "",
        ["optim.max_steps=null"],
        "config key 'optim.max_steps': expected an integer, got null",
    ),
    "text for a list": (
        "",
        ["logging.report_to=tensorboard"],
        "config key 'logging.report_to': expected a list, e.g. [a, b], got 'tensorboard'",
    ),
    "null in a list": (
        "",
        ["model.freeze=[null]"],
        "config key 'model.freeze[0]': expected text, got null",
    ),
    "value for a YAML section": (
        "optim: 3\n",
        [],
        "config key 'optim': expected a section (a mapping of its keys), got 3",
    ),
    "value for a section in override": (
        "",
        ["optim=3"],
        "config key 'optim': expected a section (a mapping of its keys), got 3",
    ),
    "section below a value": ("", ["output_dir.x=1"], "config key 'output_dir': expected text"),
    "override without =": ("", ["optim.max_steps"], "override 'optim.max_steps': expected"),
    "override not YAML": ("", ["model.freeze=[a"], "override 'model.freeze=[a': not valid YAML"),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_bad_config_is_refused_naming_the_key(name, tmp_path):
    text, overrides, message = BAD_CONFIGS[name]
    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED + text)
    with pytest.raises(UserError) as raised:
        load_config(path, overrides)
    assert str(raised.value).startswith(message), str(raised.value)


def test_a_key_given_twice_in_yaml_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED + "model: {path: n}\n")
    with pytest.raises(UserError, match=r"not valid YAML \(found duplicate key model, line 4\)$"):
        load_config(path)


def test_config_lists_nulls_and_numbers_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED + "lora: {target_modules: [q_proj]}\noptim: {num_train_epochs: 3}\n")
    config = load_config(
        path,
        [
            "model.freeze=[visual.merger.mlp.2, visual.blocks.0]",
            "logging.report_to=[]",
            "logging.save_total_limit=null",
            "sft.max_length=null",
            "data.max_train_samples=16",
            "optim.learning_rate=1e-6",
        ],
    )
    assert config.model.freeze == ["visual.merger.mlp.2", "visual.blocks.0"]
    assert type(config.model.freeze) is list and config.logging.report_to == []
    assert config.lora.target_modules == ["q_proj"]  # a YAML list replaces the default
    assert config.logging.save_total_limit is None and config.sft.max_length is None
    assert config.data.max_train_samples == 16 and config.optim.learning_rate == 1e-6
    assert config.optim.num_train_epochs == 3.0 and type(config.optim.num_train_epochs) is float
    assert load_config(path, ["sft.max_length=null", "sft.max_length=64"]).sft.max_length == 64


def test_a_list_of_names_holds_names(tmp_path):
    from r1track.training.checks import check_config

    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED)
    with pytest.raises(UserError, match=r"^model\.freeze=\[\{'a': 1\}\] must be a list of names"):
        check_config(load_config(path, ["model.freeze=[{a: 1}]"]))


def test_bad_type_on_the_command_line_is_one_line(capsys):
    code = main(
        ["train", "sft", "--config", str(CONFIGS / "tiny-cpu-sft.yaml"), "optim.max_steps=abc"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "r1track: error: config key 'optim.max_steps': expected an integer, got 'abc'"
    )


# -- trainers -----------------------------------------------------------------------------------


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _train(kind, tiny_model, built, out, *overrides) -> int:
    return main(
        [
            "train",
            kind,
            "--config",
            str(CONFIGS / f"tiny-cpu-{kind}.yaml"),
            f"model.path={tiny_model}",
            f"data.path={built}",
            f"output_dir={out}",
            *overrides,
        ]
    )


def _tracks(model_dir: Path, synth_video) -> list:
    from r1track.backends.hf import HFBackend
    from r1track.tracking import Tracker, TrackerConfig
    from r1track.video import open_frames

    video, boxes = synth_video
    tracker = Tracker(HFBackend(str(model_dir)), TrackerConfig(crop_size=112))
    return list(tracker.track(open_frames(video), bbox=boxes[0]))


@pytest.fixture(scope="module")
def sft_model(tiny_model, built, tmp_path_factory) -> Path:
    """The tiny model after 40 SFT steps: enough to learn the answer's shape (not the task)."""
    out = tmp_path_factory.mktemp("sft") / "model"
    assert (
        _train(
            "sft",
            tiny_model,
            built,
            out,
            "optim.max_steps=40",
            "optim.learning_rate=5e-3",
            "logging.save_steps=20",
        )
        == 0
    )
    return out


def _changed(before: Path, after: Path) -> list[str]:
    a, b = _weights(before), _weights(after)
    return [k for k in a if not np.array_equal(a[k].numpy(), b[k].numpy())]


def test_sft_changes_weights_and_the_tracker_loads_the_result(tiny_model, sft_model, synth_video):
    changed = _changed(tiny_model, sft_model)
    # saved in Qwen's checkpoint layout: language model under model.layers, vision under visual
    assert any(k.startswith("model.layers.") for k in changed)
    assert any(k.startswith("visual.") for k in changed)
    assert (sft_model / "checkpoint-20").is_dir() and (sft_model / "r1track_train.json").is_file()
    results = _tracks(sft_model, synth_video)
    assert len(results) == len(synth_video[1]) and all(
        isinstance(r.answer, str) for r in results[1:]
    )
    # it has learned the answer's shape: a bracketed list of numbers
    assert all(r.answer.startswith("[") for r in results[1:])


def test_grpo_changes_weights_and_the_tracker_loads_the_result(
    sft_model, built, tmp_path, synth_video
):
    import torch

    out = tmp_path / "grpo"
    assert _train("grpo", sft_model, built, out, "grpo.scale_rewards=nope") == 2
    # the format reward varies within groups even for this barely trained model
    recipe = ["grpo.updates_per_rollout=2", "grpo.num_iterations=2", "grpo.epsilon=0.3"]
    overrides = ["grpo.reward=format", "grpo.scale_rewards=none", *recipe]
    assert _train("grpo", sft_model, built, out, *overrides) == 0
    args = torch.load(out / "checkpoint-4" / "training_args.bin", weights_only=False)
    assert args.scale_rewards == "none"
    # rollouts of 2 optimiser steps, each used twice, clipped at 0.3 (EasyR1's several updates)
    assert (args.steps_per_generation, args.num_iterations, args.epsilon) == (2, 2, 0.3)
    assert args.generation_batch_size == 8  # 4 completions per step x 2 steps
    changed = _changed(sft_model, out)
    assert any(k.startswith("model.layers.") for k in changed)
    assert any(k.startswith("visual.") for k in changed)
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert any(entry.get("reward_std", 0) > 0 for entry in state["log_history"])
    assert len(_tracks(out, synth_video)) == len(synth_video[1])


def test_lora_adapter_with_trained_vision_loads_in_the_tracker(
    tiny_model, built, tmp_path, synth_video
):
    import torch

    from r1track.backends.hf import HFBackend

    out = tmp_path / "lora"
    assert (
        _train("sft", tiny_model, built, out, "lora.enabled=true", "model.train_vision=true") == 0
    )
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    merged = HFBackend(str(out)).model.state_dict()
    base = HFBackend(str(tiny_model)).model.state_dict()
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    v = "model.visual.blocks.0.attn.qkv.weight"
    assert not torch.equal(merged[q], base[q]) and not torch.equal(merged[v], base[v])
    assert len(_tracks(out, synth_video)) == len(synth_video[1])


def test_lora_on_the_vision_tower_as_the_reference_sft(tiny_model, built, tmp_path):
    """lora.vision: adapters on every linear layer of the tower and projector (LLaMA-Factory's
    LoRA with an unfrozen tower), no full copy of the tower; the tracker loads the result."""
    from safetensors.torch import load_file

    from r1track.backends.hf import HFBackend

    out = tmp_path / "lora-vision"
    overrides = ["lora.enabled=true", "lora.vision=true", "lora.dropout=0"]
    assert _train("sft", tiny_model, built, out, *overrides) == 0
    keys = list(load_file(out / "adapter_model.safetensors"))
    adapted = {k.split(".lora_")[0].split("visual.")[1] for k in keys if ".visual." in k}
    assert {
        "blocks.0.attn.qkv",
        "blocks.1.mlp.down_proj",
        "merger.mlp.0",
        "merger.mlp.2",
    } <= adapted
    assert not any("modules_to_save" in k or "patch_embed" in k for k in keys)
    merged = HFBackend(str(out)).model.state_dict()
    base = HFBackend(str(tiny_model)).model.state_dict()
    v = "model.visual.blocks.0.attn.qkv.weight"
    assert not torch_allclose(merged[v], base[v])  # the adapter reached the tower
    patch = "model.visual.patch_embed.proj.weight"
    assert torch_allclose(merged[patch], base[patch])  # and nothing else of it was trained


@pytest.mark.slow
def test_grpo_under_torchrun_ddp(tiny_model, built, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "-m",
            "r1track.cli",
            "train",
            "grpo",
            "--config",
            str(CONFIGS / "tiny-cpu-grpo.yaml"),
            f"model.path={tiny_model}",
            f"data.path={built}",
            f"output_dir={out}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("checkpoint:") == 1
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    # two processes x 4 completions per step: twice the samples of one process per step
    assert state["global_step"] == 4 and (out / "model.safetensors").is_file()


def _final_weights(out: Path) -> dict:
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (out / "adapter_config.json").is_file() else None
    return load_file(out / name) if name else _weights(out)


def _logged_losses(out: Path) -> list[float]:
    last = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    history = json.loads((last / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.fixture(scope="module")
def vision_data(got_train, tmp_path_factory) -> Path:
    """One crop size and a validation split, as `train vision` needs."""
    out = tmp_path_factory.mktemp("vision-data") / "data"
    config = BuildConfig(
        "got10k",
        str(got_train),
        num_samples=40,
        val_fraction=0.25,
        sampling=SamplingConfig(sizes=(112,), max_gap=5),
    )
    build_dataset(config, out, workers=1, progress=False)
    return out


# three steps (killed after two), and groups that vary: the format reward of a barely trained model
_GRPO_FAST = ["optim.max_steps=3", "grpo.reward=format", "grpo.scale_rewards=none"]
RESUME_CASES = {
    "sft": ("sft", "tiny", []),
    "sft-lora": ("sft", "tiny", ["lora.enabled=true", "model.train_vision=true"]),
    "grpo": ("grpo", "sft", [*_GRPO_FAST]),
    "grpo-lora": ("grpo", "sft", [*_GRPO_FAST, "lora.enabled=true"]),
    "vision": ("vision", "tiny", ["optim.max_steps=6", "logging.logging_steps=3"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", RESUME_CASES)
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(
    case, tiny_model, sft_model, built, vision_data, tmp_path, request
):
    """Killed (SIGKILL) right after its step-2 (vision: step-4) checkpoint, then rerun: the final
    weights and every logged loss equal those of one uninterrupted run with the same seed."""
    kind, start, extra = RESUME_CASES[case]
    model = tiny_model if start == "tiny" else sft_model
    data = vision_data if kind == "vision" else built
    config = CONFIGS / ("nano/vision.yaml" if kind == "vision" else f"tiny-cpu-{kind}.yaml")
    args = ["train", kind, "--config", str(config), f"model.path={model}", f"data.path={data}"]
    args += ["logging.save_steps=2", *extra]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert main([*args, f"output_dir={whole}"]) == 0
    kill_at = "4" if kind == "vision" else "2"
    killed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "kill_at_checkpoint.py"),
            kill_at,
            *args,
            f"output_dir={resumed}",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (resumed / f"checkpoint-{kill_at}").is_dir() and not (resumed / TRAIN_INFO).exists()
    assert main([*args, f"output_dir={resumed}"]) == 0
    a, b = _final_weights(whole), _final_weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch_allclose(a[k], b[k]) for k in a), [
        k for k in a if not torch_allclose(a[k], b[k])
    ][:5]
    start_weights = _weights(model)
    if kind != "vision":
        assert _logged_losses(whole) == pytest.approx(_logged_losses(resumed), rel=1e-6)
        assert len(_logged_losses(whole)) == (3 if kind == "grpo" else 4)
    if not (resumed / "adapter_config.json").is_file():  # and it trained: not the start weights
        assert any(not torch_allclose(b[k], start_weights[k]) for k in b)


def torch_allclose(x, y) -> bool:
    import torch

    return x.shape == y.shape and torch.allclose(x.float(), y.float(), atol=1e-6, rtol=1e-5)


def test_resume_passes_over_checkpoints_a_kill_left_incomplete(tiny_model, built, tmp_path, capsys):
    """The newest complete checkpoint is resumed from; newer ones without their trainer state (a
    kill while saving), or with weights cut short, are named and passed over, not a traceback."""
    out = tmp_path / "run"
    assert _train("sft", tiny_model, built, out, "optim.max_steps=3", "logging.save_steps=1") == 0
    os.remove(out / "checkpoint-3" / "trainer_state.json")
    weights = out / "checkpoint-2" / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    capsys.readouterr()
    assert _train("sft", tiny_model, built, out, "optim.max_steps=3", "logging.save_steps=1") == 0
    captured = capsys.readouterr()
    assert captured.out.count("'loss'") == 2  # steps 2 and 3 again, from checkpoint-1
    notes = [line for line in captured.err.splitlines() if line.startswith("r1track: note:")]
    assert len(notes) == 2 and "checkpoint-3: no trainer_state.json" in notes[0]
    assert "checkpoint-2/model.safetensors: truncated" in notes[1]
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3]


def test_resume_false_starts_over(tiny_model, built, tmp_path, capsys):
    out = tmp_path / "resume"
    assert _train("sft", tiny_model, built, out, "optim.max_steps=1", "logging.save_steps=1") == 0
    capsys.readouterr()
    assert _train("sft", tiny_model, built, out, "optim.max_steps=2", "resume=false") == 0
    assert capsys.readouterr().out.count("'loss'") == 2  # both steps again, none resumed


def test_pair_evaluation_reports_model_trivial_and_shuffled(tiny_model, built):
    from datasets import load_from_disk

    from r1track.training.pair_eval import evaluate_pairs, template_box, trivial_box

    box = trivial_box([10, 20, 50, 40], 112)
    assert box.tolist() == [36.0, 46.0, 76.0, 66.0]  # 40 x 20, centred in 112 x 112
    row = load_from_disk(str(built))["validation"][0]
    assert template_box(row) == [float(v) for v in row["template_boxes"][0]]
    # datasets built before the template_boxes column: the box is read from the 5k prompt text
    old = {"prompt": row["prompt"]}
    assert template_box(old) == [float(v) for v in row["template_boxes"][0]]
    report = evaluate_pairs(str(tiny_model), str(built), limit=8, batch=4)
    assert report["pairs"] == 8 and report["parsed"] == 0.0 and report["miou"] == 0.0
    assert 0.0 < report["trivial_miou"] < 1.0  # the random model finds nothing; the prior does


def test_model_freeze_keeps_matching_weights(tiny_model, built, tmp_path, capsys):
    out = tmp_path / "frozen"
    merger_out = "visual.merger.mlp.2."
    args = ["optim.max_steps=2", "optim.learning_rate=1e-2", "logging.save_steps=100"]
    assert _train("sft", tiny_model, built, out, *args, "model.freeze=[visual.merger.mlp.2]") == 0
    changed = _changed(tiny_model, out)
    assert not [k for k in changed if k.startswith(merger_out)]
    assert [k for k in changed if k.startswith("visual.") and not k.startswith(merger_out)]
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert _train("sft", tiny_model, built, bad, *args, "model.freeze=[no.such.module]") == 2
    assert "matches no parameter" in capsys.readouterr().err


def test_train_vision_trains_only_the_tower_and_centres_its_tokens(
    tiny_model, vision_data, built, tmp_path, capsys
):
    import torch
    from datasets import load_from_disk
    from transformers import Qwen2_5_VLForConditionalGeneration

    from r1track.backends.processor import load_processor
    from r1track.training.vision import search_pixels, visual_tokens

    one_size = vision_data
    out = tmp_path / "vision"
    args = ["train", "vision", "--config", str(CONFIGS / "nano" / "vision.yaml")]
    common = [f"model.path={tiny_model}", f"output_dir={out}", "optim.max_steps=6"]
    assert main([*args, *common, f"data.path={built}", "logging.logging_steps=3"]) == 2
    assert "differ in size" in capsys.readouterr().err  # 112 and 224 px crops in one dataset
    bad = [f"data.path={one_size}", "optim.lr_scheduler_type=nope"]
    assert main([*args, *common, *bad]) == 2
    assert "optim.lr_scheduler_type" in capsys.readouterr().err
    assert main([*args, *common, f"data.path={one_size}", "logging.logging_steps=3"]) == 0
    log = capsys.readouterr().err
    assert "vision step 3/6" in log and "vision step 6/6" in log and "centred" in log
    changed = _changed(tiny_model, out)
    assert changed and all(k.startswith("visual.") for k in changed)  # the language model is kept
    assert json.loads((out / "r1track_train.json").read_text())["metrics"]["heldout_r2_box"]
    # centring: over the rows it was set on, visual tokens average to zero, deviation norm 1
    rows = load_from_disk(str(one_size))["train"]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(out).eval()
    pixels, grid = search_pixels(load_processor(out), rows)
    with torch.no_grad():
        tokens = visual_tokens(model, pixels, grid).view(-1, model.config.text_config.hidden_size)
    assert float(tokens.mean(0).norm()) < 1e-3
    assert abs(float((tokens - tokens.mean(0)).norm(dim=-1).mean()) - 1.0) < 1e-3


def _jpeg_bytes(seed: int, size: int = 112) -> bytes:
    import io

    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _stored_images(dataset_dir: Path, split: str = "train") -> list[list[bytes]]:
    from datasets import Image, List, load_from_disk

    rows = load_from_disk(str(dataset_dir))[split]
    rows = rows.cast_column("images", List(Image(decode=False)))
    return [[im["bytes"] for im in row["images"]] for row in rows]


RELEASED_TEXT = (
    "Given two images, you need to:\n1. Analyze and Identify the target object marked by bounding"
    " box [241,66,329,154] in <image_1>;\n2. Re-locate this target in <image_2>;\n3. Return"
    " [x_min, y_min, x_max, y_max] coordinates of the target in <image_2>."
)


def test_data_import_easyr1_is_lossless_and_trains(tiny_model, tmp_path, capsys):
    """Released EasyR1 parquet: the user turn is EasyR1's split of the marked text, the image
    bytes are kept as stored, the box is the solution; a bad row is dropped and counted."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    from r1track.backends.processor import load_processor

    images = [
        [
            {"bytes": _jpeg_bytes(2 * i), "path": f"t{i}.jpg"},
            {"bytes": _jpeg_bytes(2 * i + 1), "path": f"s{i}.jpg"},
        ]
        for i in range(4)
    ]
    problems = ["<image> <image>" + RELEASED_TEXT] * 3 + ["<image>" + RELEASED_TEXT]
    answers = ["[10,12,60,70]", "[0,0,5,5]", "[1,2,3,4]", "[1,2,3,4]"]
    src = tmp_path / "train-00000.parquet"
    pq.write_table(pa.table({"images": images, "problem": problems, "answer": answers}), src)
    out = tmp_path / "imported"
    assert main(["data", "import", "--format", "easyr1", "--src", str(src), "--out", str(out)]) == 0
    assert (
        "imported train 3 rows; dropped: 1 <image> markers for 2 images (1)"
        in capsys.readouterr().err
    )
    rows = load_from_disk(str(out))["train"]
    content = rows[0]["prompt"][0]["content"]
    assert [p["type"] for p in content] == ["image", "text", "image", "text"]
    assert content[1]["text"] == " " and content[3]["text"] == RELEASED_TEXT
    assert _stored_images(out) == [[im["bytes"] for im in row] for row in images[:3]]
    assert rows["solution"] == [[10, 12, 60, 70], [0, 0, 5, 5], [1, 2, 3, 4]]
    assert rows[0]["template_boxes"] == [[241, 66, 329, 154]]
    assert rows[0]["completion"][0]["content"][0]["text"] == "[10,12,60,70]"
    # rendered by Qwen's chat template exactly as EasyR1 trained: one space between the images
    chat = load_processor(tiny_model).apply_chat_template(rows[0]["prompt"], tokenize=False)
    assert "<|vision_end|> <|vision_start|>" in chat and "<|vision_end|>Given two images" in chat
    trained = tmp_path / "sft"
    assert _train("sft", tiny_model, out, trained, "optim.max_steps=1") == 0


def test_data_import_sharegpt_reads_image_files_as_stored(tmp_path, capsys):
    from datasets import load_from_disk

    (tmp_path / "img").mkdir()
    for i in range(4):
        (tmp_path / "img" / f"{i}.jpg").write_bytes(_jpeg_bytes(10 + i))
    rows = [
        {
            "messages": [
                {"role": "user", "content": "<image><image>" + RELEASED_TEXT},
                {"role": "assistant", "content": "[3,4,50,60]"},
            ],
            "images": ["img/0.jpg", "img/1.jpg"],
        },
        {
            "conversations": [
                {"from": "human", "value": "<image><image>" + RELEASED_TEXT},
                {"from": "gpt", "value": "[5,6,70,80]"},
            ],
            "images": ["img/2.jpg", "img/3.jpg"],
        },
        {"messages": [{"role": "user", "content": "<image><image>x"}], "images": ["img/0.jpg"]},
    ]
    src = tmp_path / "r1track_sft.json"
    src.write_text(json.dumps(rows))
    out = tmp_path / "imported"
    assert (
        main(["data", "import", "--format", "sharegpt", "--src", str(src), "--out", str(out)]) == 0
    )
    assert "dropped: expected one user and one assistant turn (1)" in capsys.readouterr().err
    data = load_from_disk(str(out))["train"]
    assert data["solution"] == [[3, 4, 50, 60], [5, 6, 70, 80]]
    assert [p["type"] for p in data[1]["prompt"][0]["content"]] == ["image", "image", "text"]
    files = [
        [(tmp_path / "img" / f"{i}.jpg").read_bytes() for i in pair] for pair in ((0, 1), (2, 3))
    ]
    assert _stored_images(out) == files
    bad = ["data", "import", "--format", "sharegpt", "--src", str(tmp_path / "none.json")]
    assert main([*bad, "--out", str(tmp_path / "o2")]) == 2


def test_data_export_easyr1_round_trips(built, got_train, tmp_path, capsys):
    """`data export` (and `data build --format easyr1`) write EasyR1 parquet that `data import`
    reads back into the same rows: same user turn, images byte for byte, answer and box."""
    import shutil

    from datasets import load_from_disk

    # a copy: reading a saved dataset through a column cast leaves datasets' cache-*.arrow files
    # in its folder (the export does, and so does _stored_images), and `built` is shared
    built = shutil.copytree(built, tmp_path / "data")
    exported = tmp_path / "easyr1"
    assert main(["data", "export", str(built), "--out", str(exported)]) == 0
    back = tmp_path / "back"
    src = exported / "train.parquet"
    assert (
        main(["data", "import", "--format", "easyr1", "--src", str(src), "--out", str(back)]) == 0
    )
    a, b = load_from_disk(str(built))["train"], load_from_disk(str(back))["train"]
    for key in ("prompt", "completion", "solution", "template_boxes", "size"):
        assert a[key] == b[key], key
    assert _stored_images(built) == _stored_images(back)
    build = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--num-samples", "3"]
    out = tmp_path / "built"
    assert main([*build, "--sizes", "112", "--out", str(out), "--format", "easyr1"]) == 0
    assert "EasyR1's format (train 3 rows)" in capsys.readouterr().err
    assert (out / "easyr1" / "train.parquet").is_file() and load_from_disk(str(out))["train"]


def test_pair_evaluation_refuses_pairs_of_another_layout(tiny_model, built, tmp_path):
    import shutil

    from r1track.training.data import BUILD_INFO
    from r1track.training.pair_eval import evaluate_pairs

    other = tmp_path / "other"
    shutil.copytree(built, other)
    info = json.loads((other / BUILD_INFO).read_text())
    info["config"]["layout"] = "reference-train"
    (other / BUILD_INFO).write_text(json.dumps(info))
    with pytest.raises(UserError, match="built with --layout reference-train"):
        evaluate_pairs(str(tiny_model), str(other), limit=2)


def test_a_trained_checkpoint_carries_the_settings_its_data_were_built_with(
    tiny_model, got_train, tmp_path
):
    """train writes r1track_tracker.json from the data's build record: `track` and `eval` then
    use the crop size, context, prompt and pixels it was trained on without flags."""
    from r1track.cli import _tracker_config, build_parser
    from r1track.models import read_settings

    data = tmp_path / "data"
    sampling = SamplingConfig(sizes=(112,), context_range=(3, 3), max_gap=5, template_jitter=0)
    config = BuildConfig(
        "got10k", str(got_train), num_samples=8, prompt="nano", val_fraction=0.25,
        sampling=sampling, image_format="png",
    )  # fmt: skip
    build_dataset(config, data, workers=1, progress=False)
    out = tmp_path / "sft"
    assert _train("sft", tiny_model, data, out, "optim.max_steps=1") == 0
    assert read_settings(str(out)) == {
        "prompt": "nano",
        "think": False,
        "layout": "r1track",
        "coord_tint": 0.0,
        "resize": "cv2",
        "image_format": "png",
        "crop_size": 112,
        "context": 3.0,
    }
    track = ["eval", "--dataset", "got10k", "--root", "r", "--model", str(out), "--out", "o"]
    tracker = _tracker_config(build_parser().parse_args(track))
    assert (tracker.crop_size, tracker.search_factor, tracker.prompt) == (112, 3.0, "nano")
    assert (tracker.image_format, tracker.template_factor) == ("png", 3.0)


# -- config checks: the configs refuse bad values themselves, for library callers too ------------


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"sizes": ()}, "sizes", "must name at least one crop size"),
        (
            {"sizes": (112, 100)},
            "sizes",
            "must be multiples of 28 (Qwen keeps them unresized), got [100]",
        ),
        ({"images": 4}, "images", "must be 2 or 3, got 4"),
        (
            {"context_range": (4.0, 2.0)},
            "context_range",
            "must be LOW,HIGH with 1 <= LOW <= HIGH, got (4.0, 2.0)",
        ),
        (
            {"context_range": (0.5, 2.0)},
            "context_range",
            "must be LOW,HIGH with 1 <= LOW <= HIGH, got (0.5, 2.0)",
        ),
        (
            {"context_range": (3.0,)},
            "context_range",
            "must be LOW,HIGH with 1 <= LOW <= HIGH, got (3.0,)",
        ),
        ({"jitter": 0.7}, "jitter", "must be in [0, 0.5), got 0.7"),
        ({"jitter": -0.1}, "jitter", "must be in [0, 0.5), got -0.1"),
        ({"template_jitter": 0.5}, "template_jitter", "must be in [0, 0.5), got 0.5"),
        ({"template_jitter": -0.1}, "template_jitter", "must be in [0, 0.5), got -0.1"),
        ({"template_context": 0.5}, "template_context", "must be at least 1, got 0.5"),
        ({"template_context": float("nan")}, "template_context", "must be at least 1, got nan"),
        ({"template_context": float("inf")}, "template_context", "must be at least 1, got inf"),
        ({"max_gap": 0}, "max_gap", "must be at least 1, got 0"),
        ({"coord_tint": 1.0}, "coord_tint", "must be in [0, 1), got 1.0"),
        ({"coord_tint": -0.5}, "coord_tint", "must be in [0, 1), got -0.5"),
        ({"resize": "bicubic"}, "resize", "'bicubic' is unknown; expected one of cv2, pil"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else None,
)
def test_sampling_config_refuses_bad_values(values, field, rule):
    from r1track.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        SamplingConfig(**values)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert str(caught.value) == f"{field.replace('_', ' ')} {rule}"


def test_sampling_config_takes_the_edge_values():
    """Each range's closed ends are allowed (the checks are not stricter than their rule)."""
    SamplingConfig(sizes=(28,), images=3, context_range=(1, 1), jitter=0, max_gap=1)
    SamplingConfig(template_jitter=0, template_context=1, coord_tint=0, resize="pil")
    SamplingConfig(jitter=0.499, template_jitter=None, template_context=None, coord_tint=0.999)


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
