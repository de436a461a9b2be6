"""The command line: outputs, progress, and one-line errors for every bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    NO_SERVER,
    OPENAI_NO_SERVER,
    SETTINGS_FLAGS,
    bbox_flag,
    decode_request,
    run_cli,
)
from r1track.backends.base import GenerationRequest
from r1track.cli import main
from r1track.errors import UserError


@pytest.mark.slow
def test_track_writes_boxes_records_and_overlay(tiny_model, synth_video, tmp_path):
    video, boxes = synth_video
    out = tmp_path / "out"
    bbox = bbox_flag(boxes[0])
    proc = run_cli(
        "track", video, "--bbox", bbox, "--model", tiny_model, "--crop-size", "112", "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    lines = (out / "boxes.txt").read_text().splitlines()
    assert len(lines) == len(boxes)
    assert [float(v) for v in lines[0].split(",")] == list(boxes[0])
    records = [json.loads(line) for line in (out / "track.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(len(boxes)))
    assert set(records[1]) >= {"box", "answer", "parsed", "fallback", "model_seconds", "seconds"}
    from r1track.video import open_frames

    assert len(list(open_frames(out / "overlay.mp4"))) == len(boxes)
    assert "frame/s" in proc.stderr  # progress bar
    assert f"tracked {len(boxes)} frames" in proc.stderr
    # without template reuse: the same boxes and answers
    plain = tmp_path / "plain"
    proc = run_cli(
        "track",
        video,
        "--bbox",
        bbox,
        "--model",
        tiny_model,
        "--crop-size",
        "112",
        "--no-template-reuse",
        "--no-overlay",
        "--out",
        plain,
    )
    assert proc.returncode == 0, proc.stderr
    assert (plain / "boxes.txt").read_text() == (out / "boxes.txt").read_text()
    answers = [
        [json.loads(x)["answer"] for x in (d / "track.jsonl").read_text().splitlines()]
        for d in (out, plain)
    ]
    assert answers[0] == answers[1] and not (plain / "overlay.mp4").exists()


def test_track_text_init_through_openai_backend(chat_server, synth_video, tmp_path):
    """--text grounds on the first frame (answer mapped back from the resized image)."""
    video, boxes = synth_video
    x, y, w, h = boxes[0]
    sizes = []

    def answer(body):
        images, _, _ = decode_request(body)
        if len(images) == 1:
            sizes.append(images[0].size)
            sx, sy = images[0].size[0] / 320, images[0].size[1] / 192
            box = [x * sx, y * sy, (x + w) * sx, (y + h) * sy]
            return '{"bbox_2d": [' + ", ".join(f"{v:.1f}" for v in box) + "]}"
        return "[0,0,0,0]"

    server = chat_server(answer)
    out = tmp_path / "out"
    code = main(
        [
            "track",
            str(video),
            "--text",
            "the checkered box",
            "--model",
            "m",
            "--backend",
            "openai",
            "--base-url",
            server.url,
            "--crop-size",
            "112",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    first = [float(v) for v in (out / "boxes.txt").read_text().splitlines()[0].split(",")]
    assert first == pytest.approx([x, y, w, h], abs=0.6)
    assert sizes[0] == (308, 196)  # smart_resize of 320x192


def test_server_down_is_one_line_exit_1(synth_video, tmp_path, capsys):
    video, boxes = synth_video
    bbox = bbox_flag(boxes[0])
    code = main(
        [
            "track",
            str(video),
            "--bbox",
            bbox,
            "--model",
            "m",
            *OPENAI_NO_SERVER,
            "--timeout",
            "1",
            "--crop-size",
            "112",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("r1track: error:")] == [
        line for line in err.splitlines() if "error" in line
    ]
    assert f"no answer from {NO_SERVER}" in err and "Traceback" not in err


def _bad_inputs(tmp: Path, video: Path, model: Path) -> dict:
    text_file = tmp / "notes.mp4"
    text_file.write_text("not a video")
    readme = tmp / "README.txt"  # FFmpeg's tty demuxer would draw it as 640x400 frames
    readme.write_text("A line of a README file, long enough to fill a terminal page.\n" * 12)
    import av

    empty = {}
    for suffix in ("avi", "mp4"):  # avi keeps a stream with no frames; mp4 drops the stream
        empty[suffix] = tmp / f"empty.{suffix}"
        with av.open(str(empty[suffix]), "w") as container:
            stream = container.add_stream("mpeg4", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            container.start_encoding()
    no_model = tmp / "not_a_model"
    no_model.mkdir()
    m = ["--model", str(model)]
    return {
        "missing source": (["track", tmp / "missing.mp4", "--bbox", "1,1,5,5", *m], "no such file"),
        "not a video": (["track", text_file, "--bbox", "1,1,5,5", *m], "not a readable video"),
        "text file": (["track", readme, "--bbox", "10,10,40,40", *m], "a text file, not a video"),
        "empty video": (["track", empty["avi"], "--bbox", "1,1,5,5", *m], "contains no frames"),
        "no video stream": (["track", empty["mp4"], "--bbox", "1,1,5,5", *m], "no video stream"),
        "zero width": (["track", video, "--bbox", "10,10,0,5", *m], "positive width"),
        "negative height": (["track", video, "--bbox", "10,10,5,-5", *m], "positive width"),
        "outside frame": (["track", video, "--bbox", "1000,1000,5,5", *m], "entirely outside"),
        "three numbers": (["track", video, "--bbox", "1,2,3", *m], "four numbers"),
        "not numbers": (["track", video, "--bbox", "a,b,c,d", *m], "four numbers"),
        "neither": (["track", video, *m], "one of the arguments --bbox --text is required"),
        "both": (["track", video, "--bbox", "1,1,5,5", "--text", "car", *m], "not allowed with"),
        "not a checkpoint": (
            ["track", video, "--bbox", "1,1,5,5", "--model", no_model],
            "no config.json",
        ),
        "missing model": (
            ["track", video, "--bbox", "1,1,5,5", "--model", tmp / "nope"],
            "no such directory",
        ),
        "bad crop": (
            ["track", video, "--bbox", "1,1,5,5", *m, "--crop-size", "300"],
            "--crop-size 300",
        ),
        "no base url": (
            ["track", video, "--bbox", "1,1,5,5", "--backend", "openai", "--model", "x"],
            "--base-url",
        ),
    }


def test_unknown_checkpoint_notice_comes_after_the_checks(tiny_model, tmp_path, synth_video):
    """A model r1track does not know gets one note line naming its prompt, think mode and
    layout, once, after the inputs are checked (a bad input still prints its one error line)."""
    model = tmp_path / "my-finetune"
    shutil.copytree(tiny_model, model)
    video, boxes = synth_video
    bbox = bbox_flag(boxes[0])
    proc = run_cli("track", tmp_path / "missing.mp4", "--bbox", bbox, "--model", model)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = run_cli(
        "track",
        video,
        "--bbox",
        bbox,
        "--model",
        model,
        "--crop-size",
        "112",
        "--no-overlay",
        "--out",
        tmp_path / "run",
    )
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("r1track: note:")] == [
        f"r1track: note: model {str(model)!r} is not a released R1-Track checkpoint and has no "
        "r1track_tracker.json; tracking with --prompt 5k --no-think --layout r1track "
        "(flags change them)"
    ]


@pytest.mark.slow
def test_every_bad_input_is_one_line_and_exit_2(tmp_path, synth_video, tiny_model):
    video, _ = synth_video
    cases = _bad_inputs(tmp_path, video, tiny_model)
    for name, (args, message) in cases.items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        proc = run_cli(*args, "--out", out)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (name, proc.stderr)
        assert len(lines) == 1 and message in lines[0], (name, lines)
        assert "Traceback" not in proc.stderr
        assert not out.exists(), f"{name}: wrote {out}"


def test_track_says_when_frames_differ_in_size_or_a_video_ends_early(tiny_model, tmp_path, capsys):
    """A folder whose frames change size stops with one line (exit 2) naming the odd frame; a
    truncated video is tracked as far as it decodes, with a warning of how far that is."""
    from PIL import Image

    from r1track.dev.synth_video import write_synth_video

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, size in enumerate([(160, 96)] * 3 + [(200, 96)], start=1):
        Image.new("RGB", size, (40, 40, 40)).save(folder / f"{i:08d}.png")
    model = ["--model", str(tiny_model), "--crop-size", "112", "--no-overlay"]
    out = tmp_path / "mixed"
    assert main(["track", str(folder), "--bbox", "20,20,30,30", *model, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [
        f"r1track: error: {folder / '00000004.png'}: 200x96 pixels, but the first frame"
        " 00000001.png is 160x96 (all frames must have one size)"
    ]
    assert len((out / "boxes.txt").read_text().splitlines()) == 3  # the frames before it

    video, gt = write_synth_video(tmp_path / "full.mkv", 30, 160, 96, seed=1)
    cut = tmp_path / "cut.mkv"
    data = video.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    out = tmp_path / "cut"
    bbox = gt.read_text().split()[0]
    assert main(["track", str(cut), "--bbox", bbox, *model, "--out", str(out)]) == 0
    lines = (out / "boxes.txt").read_text().splitlines()
    assert 0 < len(lines) < 28
    err = capsys.readouterr().err
    assert (
        f"r1track: warning: {cut}: the video ended after {len(lines)} of the 30 frames its "
        "container declares (truncated or damaged?); results cover the frames decoded"
    ) in err.splitlines()


def test_dev_tools(tmp_path):
    proc = run_cli(
        "dev", "synth-video", tmp_path / "v.mp4", "--frames", "5", "--width", "64", "--height", "48"
    )
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "v.groundtruth.txt").read_text().split()) == 5
    assert main(["dev", "tiny-model", str(tmp_path / "m")]) == 0
    # a second model into the same folder would leave the first one's files mixed in: refused
    weights = (tmp_path / "m" / "model.safetensors").read_bytes()
    (tmp_path / "m" / "old.bin").write_bytes(b"an older model's file")
    proc = run_cli("dev", "tiny-model", tmp_path / "m", "--seed", "1")
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"r1track: error: dev tiny-model DIR: {tmp_path / 'm'}/ exists and is not empty;"
        " use another DIR or remove it"
    ]
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == weights
    from r1track.backends.hf import HFBackend

    backend = HFBackend(str(tmp_path / "m"))
    assert isinstance(backend.generate([GenerationRequest((), "hi", 3)])[0], str)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signame", "code", "word"), [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")]
)
def test_interrupted_run_keeps_every_finished_frame(tiny_model, tmp_path, signame, code, word):
    """Ctrl-C or SIGTERM mid-run: every finished frame is in all three files (the overlay
    playable), and the count printed is theirs."""
    import signal
    import time

    from r1track.dev.synth_video import write_synth_video

    video, gt = write_synth_video(tmp_path / "long.mp4", 300, 160, 96, seed=1)
    out = tmp_path / "out"
    bbox = gt.read_text().split()[0]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "r1track.cli",
            "track",
            str(video),
            "--bbox",
            bbox,
            "--model",
            str(tiny_model),
            "--crop-size",
            "112",
            "--out",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a shell that starts this suite in the background (`cmd &`) ignores SIGINT, and children
        # inherit that; restore the default so that Python turns SIGINT into KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    boxes = out / "boxes.txt"
    deadline = time.time() + 120
    while time.time() < deadline and (
        not boxes.exists() or len(boxes.read_text().splitlines()) < 5
    ):
        time.sleep(0.2)
    try:
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    count = _outputs_agree(out)
    assert 5 <= count < 300
    assert (
        err.strip().splitlines()[-1] == f"r1track: {word} after {count} frames; they are in {out}/"
    )


@pytest.mark.slow
def test_checkpoint_settings_are_used_unless_a_flag_overrides(tiny_model, synth_video, tmp_path):
    import shutil

    from r1track.models import write_settings

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    write_settings(model, crop_size=300, prompt="100k")  # 300: a size Qwen would resize
    video, boxes = synth_video
    bbox = bbox_flag(boxes[0])
    base = ["track", video, "--bbox", bbox, "--model", model, "--no-overlay"]
    proc = run_cli(*base, "--out", tmp_path / "a")
    assert proc.returncode == 2 and "crop size 300" in proc.stderr  # taken from the file
    proc = run_cli(*base, "--crop-size", "112", "--out", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr  # the flag wins


def test_a_bundled_model_missing_from_the_build_is_a_clear_error(tmp_path, monkeypatch):
    from r1track import models

    monkeypatch.setitem(models.BUNDLED, "nano", tmp_path / "not-built")
    with pytest.raises(UserError) as err:
        models.resolve_model("nano")
    assert str(err.value) == "the bundled model 'nano' is not in this build of r1track yet"
    assert models.resolve_model("some/dir") == "some/dir"  # other names pass through


def test_dev_bundle_writes_a_loadable_checkpoint_with_its_settings(tiny_model, tmp_path):
    import shutil

    from r1track.cli import _tracker_config, build_parser, main
    from r1track.models import read_settings

    trained = tmp_path / "trained"
    shutil.copytree(tiny_model, trained)
    (trained / "optimizer.pt").write_bytes(b"x")  # training leftovers stay behind
    out = tmp_path / "bundle"
    args = ["dev", "bundle", str(trained), str(out), "--crop-size", "112", "--context", "3"]
    flags = ["--coord-tint", "0.3", "--scale-lr", "0.5", "--views", "3", "--resize", "pil"]
    assert main([*args, *flags, "--image-format", "png", "--layout", "reference-train"]) == 0
    assert (out / "model.safetensors").is_file() and not (out / "optimizer.pt").exists()
    assert read_settings(str(out)) == {
        "crop_size": 112,
        "context": 3.0,
        "prompt": "5k",
        "think": False,
        "coord_tint": 0.3,
        "scale_lr": 0.5,
        "views": 3,
        "resize": "pil",
        "image_format": "png",
        "layout": "reference-train",
    }
    track = ["track", "v.mp4", "--bbox", "1,1,5,5", "--model", str(out), "--out", "o"]
    config = _tracker_config(build_parser().parse_args(track))
    assert config.layout == "reference-train"
    assert (config.crop_size, config.search_factor, config.coord_tint) == (112, 3.0, 0.3)
    assert (config.scale_lr, config.views) == (0.5, 3)
    assert (config.resize, config.image_format) == ("pil", "png")
    config = _tracker_config(build_parser().parse_args([*track, "--resize", "cv2"]))
    assert (config.resize, config.image_format) == ("cv2", "png")
    config = _tracker_config(build_parser().parse_args([*track, "--image-format", "jpeg"]))
    assert (config.resize, config.image_format) == ("pil", "jpeg")
    config = _tracker_config(build_parser().parse_args([*track, "--coord-tint", "0"]))
    assert (config.coord_tint, config.scale_lr) == (0.0, 0.5)
    config = _tracker_config(build_parser().parse_args([*track, "--scale-lr", "1"]))
    assert config.scale_lr == 1.0
    assert main([*args[:2], str(tmp_path / "nothing"), *args[3:]]) == 2
    assert main([*args, "--coord-tint", "1.5"]) == 2
    assert main([*args, "--scale-lr", "2"]) == 2
    assert main([*args, "--views", "0"]) == 2
    assert main([*args, "--context", "4"]) == 0  # an earlier bundle is replaced
    settings = read_settings(str(out))  # the defaults are R1-Track's
    assert [settings[k] for k in ("context", "resize", "image_format")] == [4.0, "cv2", "jpeg"]
    other = tmp_path / "not-a-bundle"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main([*args[:3], str(other), *args[4:]]) == 2
    assert (other / "keep.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def bad_input_env(tmp_path_factory, synth_video, tiny_model):
    """Paths the bad commands below refer to: a video, a model and a copy of it with its
    weights cut in half, a plain file, an empty folder, two val runs (without their report.json)
    and a test run of no-motion on a small GOT-10k."""
    import shutil

    from helpers import write_got10k

    tmp = tmp_path_factory.mktemp("bad")
    truncated = tmp / "truncated"
    shutil.copytree(tiny_model, truncated)
    weights = truncated / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    (tmp / "file.txt").write_text("a file, not a folder\n")
    (tmp / "existing").mkdir()
    for split in ("val", "test"):
        write_got10k(tmp / "got10k", split, num_seqs=1, length=3)
    for run, split in (("run_a", "val"), ("run_b", "val"), ("run_t", "test")):
        eval_args = ["--dataset", "got10k", "--root", str(tmp / "got10k"), "--split", split]
        assert main(["eval", *eval_args, "--baseline", "no-motion", "--out", str(tmp / run)]) < 2
        (tmp / run / "report.json").unlink(missing_ok=True)
    return {
        "tmp": tmp,
        "video": synth_video[0],
        "model": tiny_model,
        "truncated": truncated,
        "file": tmp / "file.txt",
        "cfg": Path(__file__).parents[1] / "configs" / "tiny-cpu-sft.yaml",
        "grpo": Path(__file__).parents[1] / "configs" / "tiny-cpu-grpo.yaml",
    }


_TRACK = ["track", "{video}", "--bbox", "100,50,40,30", "--model", "{model}", "--crop-size", "112"]


def _track_box(bbox: str, model: str = "{model}") -> list[str]:
    """`track` of the test video from `bbox` with `model`, into {out}."""
    return ["track", "{video}", "--bbox", bbox, "--model", model, "--out", "{out}"]


_EVAL = ["eval", "--dataset", "got10k", "--root", "{tmp}/got10k", "--model", "{model}"]
_BUILD = ["data", "build", "--dataset", "got10k", "--root", "{tmp}/got10k", "--split", "val"]
_SFT = ["train", "sft", "--config", "{cfg}", "output_dir={out}"]
_GRPO = ["train", "grpo", "--config", "{grpo}", "output_dir={out}"]
_UNDER_FILE = "{file}/sub"  # an output below a plain file: fails for root too (chmod would not)

# name: (command, the phrase its one line must hold, the output it must not create)
BAD_COMMANDS = {
    "track out below a file": ([*_TRACK, "--out", _UNDER_FILE], "is a file, not a directory"),
    "track out read-only": ([*_TRACK, "--out", "/proc/sys/r1track"], "cannot write in /proc/sys"),
    "eval out below a file": ([*_EVAL, "--out", _UNDER_FILE], "is a file, not a directory"),
    "pack out a directory": (["pack", "{tmp}/run_t", "--out", "{tmp}/existing"], "is a directory"),
    "pack out below a file": (["pack", "{tmp}/run_t", "--out", "{file}/x.zip"], "is a file, not"),
    "pack out not a zip": (["pack", "{tmp}/run_t", "--out", "{out}.txt"], "ending in .zip"),
    "build out a file": ([*_BUILD, "--num-samples", "2", "--out", "{file}"], "not a directory"),
    "build out a .txt": ([*_BUILD, "--num-samples", "2", "--out", "{out}.txt"], "names a file"),
    "synth out below a file": (
        ["data", "synth", "--num-seqs", "1", "--out", _UNDER_FILE],
        "is a file, not a directory",
    ),
    "tiny-model below a file": (["dev", "tiny-model", _UNDER_FILE], "is a file, not a directory"),
    "bundle below a file": (
        ["dev", "bundle", "{model}", _UNDER_FILE, "--crop-size", "112", "--context", "4"],
        "is a file, not a directory",
    ),
    "synth-video below a file": (["dev", "synth-video", "{file}/v.mp4"], "is a file, not a"),
    "synth-video not a video": (["dev", "synth-video", "{out}.foo"], "ending in .avi"),
    "train output_dir below a file": (
        ["train", "sft", "--config", "{cfg}", "output_dir={file}/sub"],
        "output_dir {file}/sub: {file} is a file",
    ),
    "plot into a missing folder": (
        ["report", "{tmp}/run_a", "{tmp}/run_b", "--plot", "{out}/plot.png"],
        "--plot {out}/plot.png: no such folder",
    ),
    "plot not an image": (
        ["report", "{tmp}/run_a", "{tmp}/run_b", "--plot", "{out}.txt"],
        "expected a file name ending in",
    ),
    "device cuda": ([*_TRACK, "--device", "cuda", "--out", "{out}"], "CUDA is not available"),
    "device mps": ([*_TRACK, "--device", "mps", "--out", "{out}"], "MPS (Apple GPU) is not"),
    "device foo": ([*_TRACK, "--device", "foo", "--out", "{out}"], "not a valid device"),
    "truncated weights": (
        _track_box("100,50,40,30", "{truncated}"),
        "truncated/model.safetensors: truncated",
    ),
    "bbox 1e308": (
        _track_box("10,10,1e308,1e308"),
        "lies mostly outside the 320x192 frame",
    ),
    "bbox 1e9": (
        _track_box("10,10,1e9,1e9"),
        "lies mostly outside the 320x192 frame",
    ),
    "bbox inf": (
        _track_box("10,10,inf,5"),
        "expected four finite numbers",
    ),
    "bbox empty field": (
        _track_box("10,,10,40,40"),
        "an empty field",
    ),
    "train flag it does not take": (  # the overrides after it are not listed as unrecognized
        [*_SFT[:4], "--device", "cuda", "output_dir={out}"],
        "unrecognized arguments: --device cuda (see",
    ),
    "plot of one run into a missing folder": (
        ["report", "{tmp}/run_a", "--plot", "{out}/plot.png"],
        "--plot {out}/plot.png: no such folder",
    ),
    "grpo groups": (
        [*_GRPO, "grpo.num_generations=3"],
        "grpo.num_generations=3 must divide the generation batch 4",
    ),
    "grpo group of 1": (
        [*_GRPO, "grpo.num_generations=1", "optim.per_device_train_batch_size=1"],
        "grpo.num_generations=1 must be at least 2",
    ),
    "batch 0": ([*_SFT, "optim.per_device_train_batch_size=0"], "batch_size=0 must be at least 1"),
    "lr -1": ([*_SFT, "optim.learning_rate=-1"], "optim.learning_rate=-1.0 must be a positive"),
    "max_steps -5": ([*_SFT, "optim.max_steps=-5"], "optim.max_steps=-5 must be at least 1, or -1"),
    "no train rows": ([*_SFT, "data.max_train_samples=0"], "data.max_train_samples=0 must be"),
    "dtype": ([*_SFT, "model.dtype=fp8"], "model.dtype=fp8 is not one of"),
    "scheduler": ([*_SFT, "optim.lr_scheduler_type=cosin"], "optim.lr_scheduler_type=cosin is not"),
    "override without =": ([*_SFT, "optim.max_steps", "4"], "override 'optim.max_steps': expected"),
    "timeout -1": ([*_TRACK, "--timeout", "-1", "--out", "{out}"], "--timeout must be a positive"),
    "timeout 0": (
        [*_TRACK, *OPENAI_NO_SERVER, "--timeout", "0", "--out", "{out}"],
        "--timeout must be",
    ),
    "max-pixels 0": (
        [*_TRACK, *OPENAI_NO_SERVER, "--max-pixels", "0", "--out", "{out}"],
        "--max-pixels must be at least 784",
    ),
    "context 0": ([*_TRACK, "--context", "0", "--out", "{out}"], "--context must be positive"),
    "scale-lr 2": ([*_TRACK, "--scale-lr", "2", "--out", "{out}"], "--scale-lr must be in [0, 1]"),
    "views 9": ([*_EVAL, "--views", "9", "--out", "{out}"], "--views must be 1 to 4, got 9"),
    "bundle context 0": (
        ["dev", "bundle", "{model}", "{out}", "--crop-size", "112", "--context", "0"],
        "--context must be positive",
    ),
}


def _run_main(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of `r1track ARGV`, in this process (argparse errors exit)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", BAD_COMMANDS)
def test_bad_command_is_one_line_exit_2_and_writes_nothing(name, bad_input_env, capsys):
    import torch

    if name == "device cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if name == "device mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if name == "track out read-only" and os.access("/proc/sys", os.W_OK):
        pytest.skip("/proc/sys is writable here")
    command, phrase = BAD_COMMANDS[name]
    env = bad_input_env
    out = env["tmp"] / f"out_{name.replace(' ', '_')}"
    fill = {**env, "out": out}
    before = sorted(p.relative_to(env["tmp"]) for p in env["tmp"].rglob("*"))
    code, err = _run_main([arg.format(**fill) for arg in command], capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("r1track: error: "), err
    assert phrase.format(**fill) in lines[0]
    assert "Traceback" not in err
    # nothing written: no output, no report.json in the runs, no stray .tmp, nothing below
    assert sorted(p.relative_to(env["tmp"]) for p in env["tmp"].rglob("*")) == before
    assert not any(Path(str(out) + suffix).exists() for suffix in ("", ".txt", ".foo"))


def test_negative_box_values_reach_their_flag():
    from r1track.cli import _join_negative_values

    argv = ["track", "v.mp4", "--bbox", "-10,-5,40,30", "--timeout", "-1", "--out", "o"]
    assert _join_negative_values(argv) == [
        "track", "v.mp4", "--bbox=-10,-5,40,30", "--timeout", "-1", "--out", "o"
    ]  # fmt: skip


def test_report_of_one_run_writes_its_plot_where_told(tmp_path, capsys):
    from helpers import write_got10k

    write_got10k(tmp_path / "got", "val", num_seqs=1, length=3)
    run = tmp_path / "run"
    eval_args = ["--dataset", "got10k", "--root", str(tmp_path / "got"), "--split", "val"]
    assert main(["eval", *eval_args, "--baseline", "no-motion", "--out", str(run)]) == 0
    plot = tmp_path / "mine.svg"
    assert main(["report", str(run), "--plot", str(plot)]) == 0
    assert plot.read_text().lstrip().startswith("<?xml")  # an SVG, where --plot said


def test_a_page_of_text_is_not_echoed_whole(chat_server, synth_video, tmp_path, capsys):
    """--text of 36 kB that the model finds nothing for: the one line quotes its start only."""
    server = chat_server(lambda body: "no box here")
    text = "the red car " * 3000
    command = ["track", str(synth_video[0]), "--text", text, "--model", "m", *OPENAI_NO_SERVER]
    command += SETTINGS_FLAGS
    command[command.index("--base-url") + 1] = server.url
    code, err = _run_main([*command, "--crop-size", "112", "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err[:300]
    assert "the model found no box for 'the red car the red car" in err
    assert len(err) < 300 and "(36000 characters)" in err


def _wait_for_lines(path: Path, count: int, proc, seconds: float = 120) -> None:
    """Wait until `path` has `count` lines (or the process ended, or time ran out)."""
    import time

    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_while_a_request_hangs_stops_at_once(chat_server, synth_video, tmp_path):
    """Ctrl-C with the openai backend and a server that never answers: exit 130 at once (not
    after --timeout), with frame 0 kept in all three outputs."""
    import signal
    import time

    from r1track.outputs import format_xywh
    from r1track.video import open_frames

    server = chat_server(lambda body: "[0,0,1,1]", hang_first=10**6, hang_seconds=30.0)
    video, boxes = synth_video
    out = tmp_path / "out"
    bbox = bbox_flag(boxes[0])
    command = ["track", video, "--bbox", bbox, "--model", "m", "--backend", "openai"]
    command += ["--base-url", server.url, "--timeout", "120", "--crop-size", "112"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "r1track.cli", *map(str, command), "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        _wait_for_lines(out / "boxes.txt", 1, proc)
        deadline = time.time() + 30
        while not server.bodies and time.time() < deadline:  # frame 1's request is in flight
            time.sleep(0.05)
        assert server.bodies and proc.poll() is None
        time.sleep(0.3)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("still running 5 s after Ctrl-C")
        elapsed = time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert elapsed < 3, elapsed
    last = err.strip().splitlines()[-1]
    assert last == f"r1track: interrupted after 1 frames; they are in {out}/"
    assert "Traceback" not in err
    assert (out / "boxes.txt").read_text().splitlines() == [format_xywh(boxes[0])]
    assert len((out / "track.jsonl").read_text().splitlines()) == 1
    assert len(list(open_frames(out / "overlay.mp4"))) == 1


class _SignallingStream:
    """Wraps a PyAV video stream: sends this process `signum` around its next `encode` call."""

    def __init__(self, stream, signum: int, when: str):
        self.stream, self.signum, self.when = stream, signum, when

    def encode(self, frame):
        when, self.when = self.when, None  # once
        if when == "before":
            os.kill(os.getpid(), self.signum)
        packets = self.stream.encode(frame)
        if when == "after":
            os.kill(os.getpid(), self.signum)
        return packets

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _outputs_agree(out: Path) -> int:
    """The number of frames in boxes.txt, asserting that track.jsonl and overlay.mp4 agree."""
    from r1track.video import open_frames

    lines = (out / "boxes.txt").read_text().splitlines()
    records = [json.loads(r) for r in (out / "track.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(len(lines)))
    assert [r["box"] for r in records] == [[float(v) for v in b.split(",")] for b in lines]
    assert len(list(open_frames(out / "overlay.mp4"))) == len(lines)
    return len(lines)


@pytest.mark.parametrize("when", ["before", "after"])
def test_ctrl_c_inside_the_overlay_encoder_finishes_that_frame_everywhere(
    synth_video, tmp_path, when
):
    """SIGINT while a frame is being encoded: that frame still gets its boxes.txt line, its
    track.jsonl record and its overlay frame, then KeyboardInterrupt; the count agrees."""
    import signal

    from r1track.outputs import TrackWriter
    from r1track.tracking import FrameResult
    from r1track.video import open_frames

    video, boxes = synth_video
    frames = list(open_frames(video))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    writer = TrackWriter(tmp_path, fps=25.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            for i, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
                if i == 3:
                    overlay = writer._overlay
                    overlay._stream = _SignallingStream(overlay._stream, signal.SIGINT, when)
                writer.write(frame, FrameResult(i, box, answer=f"a{i}"))
    finally:
        signal.signal(signal.SIGINT, previous)
        writer.close()
    assert writer.frames == 4
    assert _outputs_agree(tmp_path) == 4


def test_a_config_error_names_the_commands_flag(tmp_path, capsys):
    """A config's `ConfigError` names its field; the command line prints the flag that set it:
    the field's name as a flag, else the command's own name for it (`dev synth-video` sets a
    SynthConfig's lengths with --frames)."""
    for args, line in (
        (["data", "synth", "--num-seqs", "1", "--min-length", "1"], "--min-length must be"),
        (["data", "synth", "--num-seqs", "1", "--height", "32"], "--height must be at least 64"),
        (["dev", "synth-video", "{out}/v.mp4", "--kind", "dataset", "--frames", "1"], "--frames"),
    ):
        args = [a.replace("{out}", str(tmp_path)) for a in args]
        out = [] if args[0] == "dev" else ["--out", str(tmp_path / "d")]
        assert main([*args, *out]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"r1track: error: {line}"), err
    assert err == ["r1track: error: --frames must be at least 2, got 1"]
    assert not any(tmp_path.iterdir())
