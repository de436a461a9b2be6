"""`r1track track`: outputs, progress, notes, interruptions, and one-line errors for bad input."""

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
    outputs_agree,
    run_cli,
    run_main,
)
from r1track.cli import main
from r1track.dev.fake_server import nonstandard_fields


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
        "neither": (["track", video, *m], "give the object to track"),
        "two ids alike": (
            ["track", video, "--bbox", "a=1,1,5,5", "--text", "a=car", *m],
            "'a' is given twice",
        ),
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
    count = outputs_agree(out)
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


def test_a_page_of_text_is_not_echoed_whole(chat_server, synth_video, tmp_path, capsys):
    """--text of 36 kB that the model finds nothing for: the one line quotes its start only."""
    server = chat_server(lambda body: "no box here")
    text = "the red car " * 3000
    command = ["track", str(synth_video[0]), "--text", text, "--model", "m", *OPENAI_NO_SERVER]
    command += SETTINGS_FLAGS
    command[command.index("--base-url") + 1] = server.url
    code, err = run_main([*command, "--crop-size", "112", "--out", str(tmp_path / "o")], capsys)
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


def test_cli_track_against_a_strict_server(chat_server, synth_video, tmp_path, capsys):
    """`r1track track --backend openai` (default --server openai) against a strict server:
    exit 0, every frame answered with its box, each answer cut at its bracket."""
    video, boxes = synth_video
    server = chat_server(lambda body: "[40,40,70,70] is where it is.", strict=True)
    out = tmp_path / "out"
    bbox = bbox_flag(boxes[0])
    args = ["track", str(video), "--bbox", bbox, "--model", "m", "--backend", "openai"]
    args += ["--base-url", server.url, "--crop-size", "112", "--out", str(out), "--no-overlay"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "track.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows[1:]] == ["[40,40,70,70]"] * (len(boxes) - 1)
    assert len((out / "boxes.txt").read_text().splitlines()) == len(boxes)
    assert all(nonstandard_fields(b) == [] for b in server.bodies)
    assert "error" not in capsys.readouterr().err


def _two_objects_folder(tmp_path, n=6):
    from tracking.test_objects import two_objects_clip

    frames, left, right = two_objects_clip(n)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        frame.save(folder / f"{i:04d}.png")
    return folder, left, right


def test_track_several_objects_from_boxes_and_ids(chat_server, tmp_path, capsys):
    """`--bbox ID=...` twice: each object's boxes and records in its folder, one overlay of all,
    each object on its own target."""
    from helpers import oracle_server_answer
    from r1track.video import open_frames
    from tracking.test_redetect import _iou

    folder, left, right = _two_objects_folder(tmp_path)
    server = chat_server(oracle_server_answer)
    out = tmp_path / "out"
    args = ["track", str(folder), "--bbox", f"car={bbox_flag(left[0])}"]
    args += ["--bbox", bbox_flag(right[0]), "--model", "m", "--backend", "openai"]
    args += ["--base-url", server.url, "--crop-size", "112", "--context", "2", "--out", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "tracked 2 objects through 6 frames" in err and "object car:" in err, err
    # the second box has no id: its place, 2
    for object_id, truth in (("car", left), ("2", right)):
        lines = (out / object_id / "boxes.txt").read_text().splitlines()
        boxes = [[float(v) for v in line.split(",")] for line in lines]
        assert len(boxes) == 6 and all(_iou(b, t) > 0.8 for b, t in zip(boxes, truth, strict=True))
        records = (out / object_id / "track.jsonl").read_text().splitlines()
        assert [json.loads(r)["index"] for r in records] == list(range(6))
    assert len(list(open_frames(out / "overlay.mp4"))) == 6
    assert not (out / "boxes.txt").exists()
    assert len(server.bodies) == 5 * 2  # each object asked once per frame after the first


def test_several_objects_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys):
    folder, left, right = _two_objects_folder(tmp_path, n=2)
    a, b = bbox_flag(left[0]), bbox_flag(right[0])
    model = ["--model", "m", "--backend", "openai", "--base-url", NO_SERVER]
    cases = {
        "same id": (["--bbox", f"x={a}", "--text", "x=a white box"], "'x' is given twice"),
        "id clash": (["--bbox", f"2={a}", "--bbox", b], "'2' is given twice"),
        "outside among several": (
            ["--bbox", a, "--bbox", "car=2000,10,5,5"],
            "--bbox car: box 2000,10,5,5 lies entirely outside",
        ),
        "too many": (["--bbox", a, "--bbox", b, "--max-objects", "1"], "limit of 1"),
        "empty text": (["--bbox", a, "--text", "dog= "], "--text dog: the description is empty"),
        "none": ([], "give the object to track"),
    }
    for name, (flags, message) in cases.items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        code, err = run_main(["track", str(folder), *flags, *model, "--out", str(out)], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (name, lines)
        assert not out.exists(), name


def test_track_through_two_servers_one_dead(chat_server, tmp_path, capsys):
    """`--base-url` twice, the first server dead from the start: every frame is answered by the
    second, the dead one is named once, and the boxes are those of the live server alone."""
    from helpers import oracle_server_answer

    folder, left, _ = _two_objects_folder(tmp_path)
    live = chat_server(oracle_server_answer)
    dead = chat_server(oracle_server_answer, die_after=0)
    flags = ["--model", "m", "--backend", "openai", "--crop-size", "112", "--context", "2"]
    base = ["track", str(folder), "--bbox", bbox_flag(left[0]), *flags, "--no-overlay"]
    assert main([*base, "--base-url", live.url, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    both = ["--base-url", dead.url, "--base-url", live.url, "--timeout", "5"]
    assert main([*base, *both, "--out", str(tmp_path / "two")]) == 0
    err = capsys.readouterr().err
    assert err.count(f"no answer from {dead.url}") == 1, err
    assert f"answers per server: {dead.url} 0 (failed), {live.url} 5" in err
    one, two = ((tmp_path / d / "boxes.txt").read_text() for d in ("one", "two"))
    assert one == two
    assert main([*base, "--base-url", live.url, "--base-url", live.url, "--out", "x"]) == 2
    assert "--base-url: a server given twice" in capsys.readouterr().err
