"""Evaluation runs: resume after kill -9, isolation of failing sequences, batching, shards,
a run's identity (weights, root), and the backend breaker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import (
    SETTINGS_FLAGS,
    oracle_server_answer,
    run_manifest,
    white_blob_oracle,
    write_got10k,
    write_tnl2k,
)
from r1track.backends.base import GenerationRequest
from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.errors import UserError
from r1track.evaluation import layout
from r1track.evaluation.report import score_run
from r1track.evaluation.runner import check_manifest, parse_shard, run_eval, select
from r1track.tracking import Tracker, TrackerConfig

CONFIG = TrackerConfig(crop_size=112)


def _eval_cmd(root, url, out, *extra):
    return [
        sys.executable,
        "-m",
        "r1track.cli",
        "eval",
        "--dataset",
        "got10k",
        "--root",
        str(root),
        "--split",
        "val",
        "--model",
        "m",
        "--backend",
        "openai",
        "--base-url",
        url,
        "--crop-size",
        "112",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.slow
def test_kill_9_then_resume_gives_identical_results(tmp_path, chat_server):
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=4, length=12)
    server = chat_server(oracle_server_answer, delay=0.05)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    full = subprocess.run(
        _eval_cmd(root, server.url, tmp_path / "full"),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen(_eval_cmd(root, server.url, out), stderr=subprocess.DEVNULL, env=env)
    first = layout.boxes_path(out, "got10k", names[0])
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    finished = [n for n in names if layout.is_finished(out, "got10k", n)]
    assert 1 <= len(finished) < len(names)
    stamp = first.stat().st_mtime_ns

    resumed = subprocess.run(
        _eval_cmd(root, server.url, out), capture_output=True, text=True, env=env, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} already done" in resumed.stderr
    assert first.stat().st_mtime_ns == stamp  # a finished sequence is not redone
    for name in names:
        for path in (layout.boxes_path,):
            assert (
                path(out, "got10k", name).read_bytes()
                == path(tmp_path / "full", "got10k", name).read_bytes()
            )
        assert len(layout.times_path(out, "got10k", name).read_text().split()) == 12
    assert json.loads((out / "report.json").read_text())["ao"] == pytest.approx(
        json.loads((tmp_path / "full" / "report.json").read_text())["ao"]
    )


def test_a_failing_sequence_is_isolated(tmp_path, chat_server, capsys):
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=3, length=6)
    (root / "val" / names[1] / "00000004.jpg").write_bytes(b"not a jpeg")
    server = chat_server(oracle_server_answer)
    out = tmp_path / "run"
    code = main(_eval_cmd(root, server.url, out)[3:])
    err = capsys.readouterr().err
    assert code == 1
    assert f"failed: {names[1]}:" in err and "00000004.jpg: unreadable frame" in err
    assert layout.is_finished(out, "got10k", names[0]) and layout.is_finished(
        out, "got10k", names[2]
    )
    assert not layout.is_finished(out, "got10k", names[1])
    assert "unreadable frame" in layout.error_path(out, names[1]).read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["sequences"] == 2 and report["missing"] == [names[1]]


def test_a_sequence_whose_frames_change_size_fails_alone(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=3, length=6)  # frames of 160x96
    odd = root / "val" / names[1] / "00000004.jpg"
    Image.new("RGB", (200, 96)).save(odd)
    out = tmp_path / "run"
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    assert main([*args, "--baseline", "no-motion", "--out", str(out)]) == 1
    reason = f"{odd}: 200x96 pixels, but the first frame 00000001.jpg is 160x96"
    reason += " (all frames must have one size)"
    assert f"failed: {names[1]}: {reason}" in capsys.readouterr().err.splitlines()
    assert layout.error_path(out, names[1]).read_text() == reason + "\n"
    assert not layout.is_finished(out, "got10k", names[1])
    assert all(layout.is_finished(out, "got10k", n) for n in (names[0], names[2]))


def test_batch_4_equals_batch_1_with_the_tiny_model(tmp_path, fresh_hf_backend, monkeypatch):
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=4, length=5)
    sequences = load_dataset("got10k", root, "val")
    sizes = []
    original = fresh_hf_backend.generate

    def counting(requests):
        sizes.append(len(requests))
        return original(requests)

    monkeypatch.setattr(fresh_hf_backend, "generate", counting)
    tracker = Tracker(fresh_hf_backend, CONFIG)
    runs = {}
    for batch in (1, 4):
        runs[batch] = tmp_path / f"b{batch}"
        run_eval(tracker, sequences, runs[batch], "got10k", batch=batch, progress=False)
    assert max(sizes) == 4 and 1 in sizes
    for seq in sequences:
        one, four = (
            [
                json.loads(line)
                for line in layout.records_path(runs[b], seq.name).read_text().splitlines()
            ]
            for b in (1, 4)
        )
        assert [(r["box"], r["answer"]) for r in one] == [(r["box"], r["answer"]) for r in four]


def test_shards_are_disjoint_and_together_equal_the_whole(tmp_path, scripted):
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "x", "1/0"):
        with pytest.raises(UserError):
            parse_shard(bad)
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=5, length=4)
    sequences = load_dataset("got10k", root, "val")
    parts = [select(sequences, (k, 2)) for k in (1, 2)]
    assert sorted(s.name for p in parts for s in p) == sorted(s.name for s in sequences)
    assert not {s.name for s in parts[0]} & {s.name for s in parts[1]}
    assert [s.name for s in select(sequences, (1, 1), max_seqs=2)] == [
        s.name for s in sequences[:2]
    ]

    def run(out, seqs):
        run_eval(Tracker(scripted(white_blob_oracle), CONFIG), seqs, out, "got10k", progress=False)

    for part in parts:
        run(tmp_path / "sharded", part)
    run(tmp_path / "whole", sequences)
    for seq in sequences:
        assert (
            layout.boxes_path(tmp_path / "sharded", "got10k", seq.name).read_bytes()
            == layout.boxes_path(tmp_path / "whole", "got10k", seq.name).read_bytes()
        )


def test_text_init_and_ope_report(tmp_path, scripted):
    root = tmp_path / "tnl2k"
    write_tnl2k(root)
    sequences = load_dataset("tnl2k", root, "test")

    def answer(request):
        if len(request.images) == 1:  # grounding on the resized first frame
            return white_blob_oracle(GenerationRequest((None, request.images[0]), "", 1))
        return white_blob_oracle(request)

    run = tmp_path / "run"
    check_manifest(run, run_manifest(root, split="test", dataset="tnl2k", init="text"))
    outcome = run_eval(
        Tracker(scripted(answer), CONFIG), sequences, run, "tnl2k", init="text", progress=False
    )
    assert len(outcome.finished) == 2
    report = score_run(run)
    assert (
        report["auc"] > 0.8 and report["precision"] > 0.9 and "pytracking" in report["convention"]
    )
    first = np.loadtxt(layout.boxes_path(run, "tnl2k", sequences[0].name), delimiter=",")[0]
    assert np.allclose(first, sequences[0].boxes[0], atol=1.5)


def test_a_retrained_model_at_the_same_path_is_not_mixed_into_a_run(tmp_path, tiny_model, capsys):
    """A run records a digest of the model's weights: resuming it with other weights at the same
    path is refused (one line, exit 2), as any other change of settings is."""
    import shutil

    from safetensors.torch import load_file, save_file

    from r1track.models import weights_digest

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    assert weights_digest(str(model)) == weights_digest(str(tiny_model))  # not the path
    assert weights_digest(str(tmp_path / "none")) is None and weights_digest("org/id") is None
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=1, length=3)
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    args += ["--model", str(model), "--crop-size", "112", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    assert main(args) == 0  # same weights: resumes (nothing left to do)
    weights = model / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[-1]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, weights, metadata={"format": "pt"})
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights" in err[0] and "other settings" in err[0], err
    # a run written before digests existed has none, and resumes
    legacy = tmp_path / "legacy"
    check_manifest(legacy, run_manifest(root))
    check_manifest(legacy, run_manifest(root, weights="0123"))
    with pytest.raises(UserError, match="weights"):
        check_manifest(tmp_path / "run", run_manifest(root, weights="0123"))


def _files(run):
    return {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_run_refuses_another_root(tmp_path, capsys):
    """The dataset's root is part of a run's identity: sequences of the same names under another
    root would be skipped as done, then scored against frames they were not tracked on."""
    first, other = tmp_path / "a", tmp_path / "b"
    write_got10k(first, "val", num_seqs=2, length=6)
    write_got10k(other, "val", num_seqs=2, length=9)  # the same names, other frames
    out = tmp_path / "run"
    args = ["eval", "--dataset", "got10k", "--split", "val", "--baseline", "no-motion"]
    assert main([*args, "--root", str(first), "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main([*args, "--root", str(other), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"r1track: error: {out} holds a run with other settings (--root differ; the run's"
        f" --root is {first.resolve()}); use another --out"
    ]
    assert _files(out) == before
    (tmp_path / "link").symlink_to(first)  # the same folder by another name resumes
    assert main([*args, "--root", str(tmp_path / "link"), "--out", str(out)]) == 0
    assert "0 sequences tracked (0 frames" in capsys.readouterr().err


def test_a_dead_server_stops_the_run_after_3_sequences_and_it_resumes(
    tmp_path, chat_server, capsys, monkeypatch
):
    """Nothing listens on the port: the run stops after 3 sequences in a row failed on the
    backend (not after all 8), with one line and exit 1; rerun with a server, it finishes."""
    # only makes the openai client's retries back off for less time (0.5 s, 1 s, 2 s by default)
    monkeypatch.setattr("openai._base_client.INITIAL_RETRY_DELAY", 0.01)
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=8, length=4)
    dead = chat_server(oracle_server_answer)
    url = dead.url
    dead.stop()
    out = tmp_path / "run"
    assert main(_eval_cmd(root, url, out, "--timeout", "1", *SETTINGS_FLAGS)[3:]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("eval:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "r1track: error: 3 sequences in a row failed on the backend, so the run stopped (last: "
        f"no answer from {url} after 4 tries: "
    )
    assert lines[0].endswith("); rerun the same command to resume")
    assert [n for n in names if layout.error_path(out, n).is_file()] == names[:3]
    assert not any((out / n).exists() for n in names[3:])
    assert not any(layout.is_finished(out, "got10k", n) for n in names)

    server = chat_server(oracle_server_answer)
    assert main(_eval_cmd(root, server.url, out, *SETTINGS_FLAGS)[3:]) == 0
    err = capsys.readouterr().err
    assert "8 sequences tracked" in err and "0 already done, 0 failed" in err
    assert all(layout.is_finished(out, "got10k", n) for n in names)
    assert not any(layout.error_path(out, n).exists() for n in names)


def test_only_backend_failures_in_a_row_stop_a_run(tmp_path, scripted):
    """Bad frames do not count, and an answered request ends a streak of backend failures."""
    from r1track.errors import BackendError
    from r1track.evaluation.runner import MAX_BACKEND_FAILURES

    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=9, length=4)
    for name in names[:4]:  # frame 1 unreadable: these fail before any model call
        (root / "val" / name / "00000002.jpg").write_bytes(b"not a jpeg")
    sequences = load_dataset("got10k", root, "val")
    calls = []

    def flaky(request):  # sequences 4, 5 fail on their first call, 6 makes calls 3-5, 7 and 8 fail
        calls.append(1)
        if len(calls) in (1, 2, 6, 7):
            raise BackendError("server hiccup")
        return white_blob_oracle(request)

    outcome = run_eval(
        Tracker(scripted(flaky), CONFIG), sequences, tmp_path / "a", "got10k", progress=False
    )
    assert sorted(outcome.failed) == sorted(names[:6] + names[7:])
    assert outcome.finished == [names[6]]

    def down(request):
        raise BackendError("server down")

    with pytest.raises(BackendError, match=f"^{MAX_BACKEND_FAILURES} sequences in a row failed"):
        run_eval(
            Tracker(scripted(down), CONFIG), sequences, tmp_path / "b", "got10k", progress=False
        )
    failed = [n for n in names if layout.error_path(tmp_path / "b", n).is_file()]
    assert failed == names[: 4 + MAX_BACKEND_FAILURES]


def test_a_run_from_before_a_setting_existed_resumes_and_a_changed_setting_is_refused(tmp_path):
    """A manifest that lacks a tracker setting added later (re-detection, memory, ...) ran with
    it off: the same run today resumes; one with the setting on is refused."""
    from dataclasses import asdict

    from r1track.tracking import TrackerConfig

    today = asdict(TrackerConfig(resize="pil", image_format="png"))
    old = {k: v for k, v in today.items() if k not in ("redetect", "memory_interval", "layout")}
    base = {"dataset": "got10k", "root": "/r", "split": "val", "model": "m", "backend": "hf"}
    base |= {"init": "bbox", "weights": None}
    check_manifest(tmp_path, {**base, "tracker": old})
    check_manifest(tmp_path, {**base, "tracker": today})  # the same settings: resumes
    with pytest.raises(UserError, match="tracker differ"):
        check_manifest(tmp_path, {**base, "tracker": {**today, "redetect": True}})
