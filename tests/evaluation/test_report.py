"""Scoring runs (`r1track report`): frame rates, failed runs, comparisons, shard reports."""

from __future__ import annotations

import json

import pytest

from helpers import run_manifest, white_blob_oracle, write_got10k, write_otb
from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.errors import UserError
from r1track.evaluation import layout
from r1track.evaluation.runner import check_manifest, run_eval
from r1track.outputs import format_xywh
from r1track.tracking import Tracker, TrackerConfig

CONFIG = TrackerConfig(crop_size=112)


def test_report_gives_the_real_frame_rate_beside_the_toolkit_fps(tmp_path, capsys):
    """Frame 0 (given its box) takes almost no time, so the toolkit's mean of 1/t is many times
    the real rate: the report names both, and keeps no ambiguous `fps`."""
    root = tmp_path / "data"
    names = write_got10k(root, "val", num_seqs=2, length=5)
    run = tmp_path / "run"
    layout.atomic_write(run / layout.MANIFEST, json.dumps(run_manifest(root)))
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


def test_report_compares_runs_and_refuses_mixed_settings(tmp_path, scripted, capsys):
    root = tmp_path / "otb"
    write_otb(root)
    sequences = load_dataset("otb", root, "test")
    runs = []
    for name, config in (("small", CONFIG), ("large", TrackerConfig(crop_size=224))):
        run = tmp_path / name
        check_manifest(run, run_manifest(root, split="test", dataset="otb"))
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
            tmp_path / "small", run_manifest(root, split="test", dataset="otb", init="text")
        )


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
