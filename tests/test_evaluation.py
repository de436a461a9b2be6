"""Evaluation: official metrics, resume after kill -9, isolation, batching, shards, packing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from helpers import (
    OPENAI_NO_SERVER,
    SETTINGS_FLAGS,
    oracle_server_answer,
    white_blob_oracle,
    write_got10k,
    write_lasot,
    write_otb,
    write_tnl2k,
    write_trackingnet,
)
from r1track.backends.base import GenerationRequest
from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.errors import UserError
from r1track.evaluation import layout
from r1track.evaluation.got10k_adapter import GOT10kTracker
from r1track.evaluation.metrics import ope_sequence
from r1track.evaluation.pack import pack_got10k
from r1track.evaluation.report import score_run
from r1track.evaluation.runner import check_manifest, parse_shard, run_eval, select
from r1track.outputs import format_xywh
from r1track.tracking import Tracker, TrackerConfig

CONFIG = TrackerConfig(crop_size=112)


def _manifest(root, split="val", dataset="got10k", **extra):
    return {
        "dataset": dataset,
        "root": str(root),
        "split": split,
        "model": "m",
        "backend": "x",
        "init": "bbox",
        "tracker": {},
        **extra,
    }


def test_got10k_metrics_equal_the_official_toolkit(tmp_path):
    from got10k.experiments import ExperimentGOT10k

    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=3, length=9)
    run = tmp_path / "results" / "GOT-10k" / "ours"
    rng = np.random.default_rng(0)
    for seq in load_dataset("got10k", root, "val"):
        pred = seq.boxes + rng.normal(0, 6, size=seq.boxes.shape)
        pred[:, 2:] = np.abs(pred[:, 2:]) + 1
        pred[2] = [-30, 5, 60, 40]  # partly left of the image: toolkit-style clipping matters
        pred[5] = [150, 80, 40, 40]  # partly outside right and bottom
        pred[0] = seq.boxes[0]
        folder = run / seq.name
        folder.mkdir(parents=True)
        (folder / f"{seq.name}_001.txt").write_text("".join(format_xywh(b) + "\n" for b in pred))
        times = rng.uniform(0.01, 0.2, size=len(seq))
        (folder / f"{seq.name}_time.txt").write_text("".join(f"{t:.8f}\n" for t in times))
    layout.atomic_write(run / layout.MANIFEST, json.dumps(_manifest(root)))

    experiment = ExperimentGOT10k(
        str(root),
        subset="val",
        result_dir=str(tmp_path / "results"),
        report_dir=str(tmp_path / "reports"),
    )
    official = experiment.report(["ours"])["ours"]["overall"]
    ours = score_run(run)
    assert ours["sequences"] == len(names) and not ours["missing"]
    assert abs(ours["ao"] - official["ao"]) < 1e-9
    assert abs(ours["sr50"] - official["sr"]) < 1e-9
    assert abs(ours["sr75"] - official["succ_curve"][75]) < 1e-9
    assert abs(ours["fps_toolkit"] - official["speed_fps"]) < 1e-9
    assert np.allclose(ours["success_curve"], official["succ_curve"], atol=1e-12)
    assert ours["frames"] == 3 * 8 - 1  # frame 0 and the one cover == 0 frame excluded
    assert [r["scored_frames"] for r in ours["per_sequence"]] == [8, 7, 8]


def test_report_gives_the_real_frame_rate_beside_the_toolkit_fps(tmp_path, capsys):
    """Frame 0 (given its box) takes almost no time, so the toolkit's mean of 1/t is many times
    the real rate: the report names both, and keeps no ambiguous `fps`."""
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=2, length=5)
    run = tmp_path / "run"
    layout.atomic_write(run / layout.MANIFEST, json.dumps(_manifest(root)))
    for seq in load_dataset("got10k", root, "val"):
        boxes = "".join(format_xywh(b) + "\n" for b in seq.boxes)
        layout.atomic_write(layout.times_path(run, "got10k", seq.name), "0.0001\n" + "0.2\n" * 4)
        layout.atomic_write(layout.boxes_path(run, "got10k", seq.name), boxes)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    report = json.loads((run / layout.REPORT).read_text())
    assert report["sequences"] == len(names)
    assert report["frames_per_second"] == pytest.approx(10 / (2 * 0.0001 + 8 * 0.2))
    assert report["fps_toolkit"] == pytest.approx((2 * 10000 + 8 * 5) / 10)
    assert "fps" not in report
    head, row = out.splitlines()[:2]
    assert head.split()[4:6] == ["frames/s", "fps_toolkit"]
    assert row.split()[4:6] == ["6.249", "2004.000"]
    assert "frames_per_second = frames / summed per-frame seconds" in out
    assert "fps_toolkit = mean of 1/t" in out


def test_a_run_whose_sequences_all_failed_says_so(tmp_path, capsys):
    """Not "(test split): not scored" for a val run: the footnote gives the real reason."""
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=2, length=4)
    for name in names:
        (root / "val" / name / "00000002.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "run"
    args = ["--dataset", "got10k", "--root", str(root), "--split", "val", "--out", str(out)]
    assert main(["eval", *args, "--baseline", "no-motion"]) == 1
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(not scored: all 2 sequences failed (reasons in <seq>/error.txt))" in printed
    assert "test split" not in printed
    report = json.loads((out / layout.REPORT).read_text())
    assert report["convention"] == "not scored: all 2 sequences failed (reasons in <seq>/error.txt)"
    assert report["missing"] == names and report["sequences"] == 0


def test_the_toolkit_runs_our_tracker(tmp_path, scripted):
    from got10k.experiments import ExperimentGOT10k

    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=2, length=6)
    tracker = GOT10kTracker(Tracker(scripted(white_blob_oracle), CONFIG), name="r1track")
    experiment = ExperimentGOT10k(
        str(root), subset="val", result_dir=str(tmp_path / "res"), report_dir=str(tmp_path / "rep")
    )
    experiment.run(tracker)
    official = experiment.report(["r1track"])["r1track"]["overall"]
    assert official["ao"] > 0.85
    # the same tracker through our runner gives the same boxes and the same AO
    run = tmp_path / "ours"
    sequences = load_dataset("got10k", root, "val")
    check_manifest(run, _manifest(root))
    run_eval(Tracker(scripted(white_blob_oracle), CONFIG), sequences, run, "got10k", progress=False)
    for seq in sequences:
        theirs = np.loadtxt(
            tmp_path / "res" / "GOT-10k" / "r1track" / seq.name / f"{seq.name}_001.txt",
            delimiter=",",
        )
        mine = np.loadtxt(layout.boxes_path(run, "got10k", seq.name), delimiter=",")
        assert np.allclose(theirs, mine, atol=1e-3)
    assert abs(score_run(run)["ao"] - official["ao"]) < 1e-4


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


def test_pack_got10k_test_submission(tmp_path, scripted):
    root = tmp_path / "data"
    names = write_got10k(root, "test", num_seqs=3, length=4)
    run = tmp_path / "run"
    check_manifest(run, _manifest(root.resolve(), split="test"))
    run_eval(
        Tracker(scripted(white_blob_oracle), CONFIG),
        load_dataset("got10k", root, "test"),
        run,
        "got10k",
        progress=False,
    )
    out, count = pack_got10k(run, tmp_path / "sub.zip")
    assert count == 3
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(
            f"{n}/{n}_{suffix}.txt" for n in names for suffix in ("001", "time")
        )
        assert len(archive.read(f"{names[0]}/{names[0]}_001.txt").decode().split()) == 4
    layout.times_path(run, "got10k", names[2]).unlink()
    with pytest.raises(UserError, match=f"1 of 3 test sequences have no results: {names[2]}"):
        pack_got10k(run, tmp_path / "sub2.zip")
    assert not (tmp_path / "sub2.zip").exists()


def test_text_init_and_ope_report(tmp_path, scripted):
    root = tmp_path / "tnl2k"
    write_tnl2k(root)
    sequences = load_dataset("tnl2k", root, "test")

    def answer(request):
        if len(request.images) == 1:  # grounding on the resized first frame
            return white_blob_oracle(GenerationRequest((None, request.images[0]), "", 1))
        return white_blob_oracle(request)

    run = tmp_path / "run"
    check_manifest(run, _manifest(root, split="test", dataset="tnl2k", init="text"))
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


def test_ope_metrics_by_hand():
    gt = np.array([[10, 10, 20, 20]] * 4, dtype=float)
    perfect = ope_sequence(gt.copy(), gt)
    assert perfect["auc"] == pytest.approx(20 / 21)  # IoU 1 is not > 1
    assert perfect["precision"] == 1 and perfect["norm_precision"] == 1
    shifted = gt.copy()
    shifted[:, 0] += 25  # 25 px away: no overlap, misses at 20 px and at 0.2 of the size
    far = ope_sequence(shifted, gt)
    assert far["auc"] == 0 and far["precision"] == 0 and far["norm_precision"] == 0
    nan = gt.copy()
    nan[1] = np.nan
    assert ope_sequence(nan, gt)["precision"] == 0.75
    invalid = gt.copy()
    invalid[2, 2] = 0  # a frame without a valid ground truth is not scored
    assert ope_sequence(gt.copy(), invalid)["frames"] == 3


def test_report_compares_runs_and_refuses_mixed_settings(tmp_path, scripted, capsys):
    root = tmp_path / "otb"
    write_otb(root)
    sequences = load_dataset("otb", root, "test")
    runs = []
    for name, config in (("small", CONFIG), ("large", TrackerConfig(crop_size=224))):
        run = tmp_path / name
        check_manifest(run, _manifest(root, split="test", dataset="otb"))
        run_eval(
            Tracker(scripted(white_blob_oracle), config), sequences, run, "otb", progress=False
        )
        runs.append(str(run))
    plot = tmp_path / "cmp.png"
    assert main(["report", *runs, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "small" in out and "large" in out and "auc" in out
    assert plot.stat().st_size > 1000
    with pytest.raises(UserError, match="other settings"):
        check_manifest(
            tmp_path / "small", _manifest(root, split="test", dataset="otb", init="text")
        )


def test_eval_bad_inputs_are_one_line_exit_2(tmp_path, capsys):
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=1, length=3)
    base = [
        "eval",
        "--dataset",
        "got10k",
        "--model",
        "m",
        *OPENAI_NO_SERVER,
        "--out",
        str(tmp_path / "o"),
    ]
    cases = {
        "no such dataset folder": ["--root", str(tmp_path / "nope")],
        "split must be one of": ["--root", str(root), "--split", "dev"],
        "expected K/N": ["--root", str(root), "--shard", "half"],
        "--batch must be at least 1": ["--root", str(root), "--batch", "0"],
        "has a description": ["--root", str(root), "--init", "text"],
    }
    for message, extra in cases.items():
        assert main([*base, *extra]) == 2, message
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_eval_without_split_uses_the_datasets_own_default(tmp_path, capsys):
    """`--split` defaults per dataset (OTB has no val split), and --help says which."""
    expected = {"got10k": "val", "lasot": "test", "otb": "test", "tnl2k": "test"}
    expected["trackingnet"] = "test"
    writers = {"lasot": write_lasot, "otb": write_otb, "tnl2k": write_tnl2k}
    writers["trackingnet"] = write_trackingnet
    writers["got10k"] = lambda root: write_got10k(root, "val", num_seqs=1, length=4)
    for dataset, split in expected.items():
        root = tmp_path / dataset
        writers[dataset](root)
        out = tmp_path / f"run-{dataset}"
        args = ["eval", "--dataset", dataset, "--root", str(root), "--baseline", "no-motion"]
        assert main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
        assert json.loads((out / layout.MANIFEST).read_text())["split"] == split
        assert json.loads((out / layout.REPORT).read_text())["sequences"] >= 1
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for dataset, split in expected.items():
        assert f"{dataset}: {split} (default)" in help_text


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
    check_manifest(legacy, _manifest(root))
    check_manifest(legacy, _manifest(root, weights="0123"))
    with pytest.raises(UserError, match="weights"):
        check_manifest(tmp_path / "run", _manifest(root, weights="0123"))


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


def test_a_bundled_model_is_recorded_by_name(tmp_path, tiny_model, monkeypatch, capsys):
    """`--model nano` records "nano", not its install path: a run resumes after the package
    is reinstalled elsewhere (same weights digest), also a run that recorded an old path."""
    import shutil

    from r1track import models

    installs = [tmp_path / f"site{i}" / "r1track" / "models" / "nano" for i in (1, 2)]
    for folder in installs:
        shutil.copytree(tiny_model, folder)
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=1, length=3)
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    args += ["--model", "nano", "--crop-size", "112"]
    run = tmp_path / "run"
    monkeypatch.setitem(models.BUNDLED, "nano", installs[0])
    assert main([*args, "--out", str(run)]) == 0
    manifest = json.loads((run / layout.MANIFEST).read_text())
    assert manifest["model"] == "nano"
    assert manifest["weights"] == models.weights_digest(str(installs[0]))
    monkeypatch.setitem(models.BUNDLED, "nano", installs[1])  # reinstalled elsewhere
    capsys.readouterr()
    assert main([*args, "--out", str(run)]) == 0
    assert "1 already done" in capsys.readouterr().err
    # a run.json of before: the absolute path of nano in an install that is gone
    legacy = tmp_path / "legacy"
    shutil.copytree(run, legacy)
    manifest["model"] = "/old/site-packages/r1track/models/nano"
    del manifest["tracker"]["layout"]  # and from before layouts: those runs used r1track's
    (legacy / layout.MANIFEST).write_text(json.dumps(manifest))
    assert main([*args, "--out", str(legacy)]) == 0
    assert "1 already done" in capsys.readouterr().err
    manifest["tracker"]["layout"] = "reference-eval"  # a run of another layout is not this one
    (legacy / layout.MANIFEST).write_text(json.dumps(manifest))
    assert main([*args, "--out", str(legacy)]) == 2
    assert "tracker differ" in capsys.readouterr().err
    # other weights under the name are still refused; a user's own path is kept as given
    (installs[1] / "config.json").write_text((installs[1] / "config.json").read_text() + " ")
    assert main([*args, "--out", str(run)]) == 2
    assert "(weights differ)" in capsys.readouterr().err
    assert models.model_identity(str(tmp_path / "models" / "nano")) == str(
        tmp_path / "models" / "nano"
    )


def test_weights_digest_of_large_files_samples_windows(tmp_path, monkeypatch):
    import r1track.models.digest as models

    monkeypatch.setattr(models, "DIGEST_FULL_BYTES", 1000)
    monkeypatch.setattr(models, "DIGEST_WINDOW", 100)
    data = bytearray(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (tmp_path / "model.bin").write_bytes(bytes(data))
    first = models.weights_digest(str(tmp_path))
    data[0] ^= 1  # inside the first window
    (tmp_path / "model.bin").write_bytes(bytes(data))
    second = models.weights_digest(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(bytes(data) + b"x")  # the size is part of it
    third = models.weights_digest(str(tmp_path))
    assert len({first, second, third}) == 3
    (tmp_path / "notes.txt").write_text("not a weight or config file")
    assert models.weights_digest(str(tmp_path)) == third


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


def test_shard_reports_say_partial_and_report_gives_the_whole(tmp_path, capsys):
    """Each `--shard K/N` run writes RUN/report.shard-K-of-N.json, marked partial, and leaves
    report.json alone; `r1track report RUN` scores the whole split and names what is missing."""
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=5, length=4)
    out = tmp_path / "run"
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    args += ["--baseline", "no-motion", "--out", str(out)]
    capsys.readouterr()
    assert main([*args, "--shard", "1/2"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[-1] == "partial: shard 1/2, 3 of 5 sequences"
    assert not (out / "report.json").exists() and not (out / "success.png").exists()
    first = json.loads((out / "report.shard-1-of-2.json").read_text())
    assert (first["shard"], first["complete"], first["split_sequences"]) == ("1/2", False, 5)
    assert [r["sequence"] for r in first["per_sequence"]] == names[0::2]

    assert main(["report", str(out)]) == 0  # the other shard has not run yet
    table = capsys.readouterr().out.splitlines()
    assert table[-1] == f"partial: 3 of 5 sequences; no results: {names[1]}, {names[3]}"
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is False and report["missing"] == [names[1], names[3]]

    assert main([*args, "--shard", "2/2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "partial: shard 2/2, 2 of 5 sequences"
    assert json.loads((out / "report.shard-1-of-2.json").read_text()) == first
    assert json.loads((out / "report.json").read_text()) == report  # not overwritten by a shard
    second = json.loads((out / "report.shard-2-of-2.json").read_text())
    assert [r["sequence"] for r in second["per_sequence"]] == names[1::2]

    assert main(["report", str(out)]) == 0
    table = capsys.readouterr().out
    assert "partial" not in table
    whole = json.loads((out / "report.json").read_text())
    assert whole["complete"] is True and whole["sequences"] == 5 and whole["missing"] == []
    assert "shard" not in whole
    assert sorted(r["sequence"] for r in whole["per_sequence"]) == sorted(names)
