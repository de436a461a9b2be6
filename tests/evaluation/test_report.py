"""Scoring runs (`r1track report`): frame rates, failed runs, comparisons, shard reports, the
lost-and-found figures."""

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
from r1track.tracking.types import FrameResult

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


def _write_labels(folder, invisible: list[int], length: int) -> None:
    """GOT-10k cover and absence labels with the target invisible on frames `invisible`."""
    cover = [0 if i in invisible else 8 for i in range(length)]
    (folder / "cover.label").write_text("".join(f"{c}\n" for c in cover))
    (folder / "absence.label").write_text("".join(f"{int(c == 0)}\n" for c in cover))


def test_report_scores_recovery_and_visibility_from_boxes_and_records(tmp_path, capsys):
    """Sequence 0: gaps of 6 (frames 2-7) and 5 (12-16) invisible frames; the track misses the
    first reappearance's whole window (8..17) and finds the second one on frame 18; it says "not
    visible" on 2-6 and (wrongly) 10, and on frame 0, which is not scored. Sequence 1: records
    without "visible" (= visible), one invisible frame (no gap long enough). Sequence 2: no
    track.jsonl at all (= visible), always visible."""
    root = tmp_path / "data"
    length = 20
    names = write_got10k(root, "val", num_seqs=3, length=length, size=(480, 200))
    _write_labels(root / "val" / names[0], [*range(2, 8), *range(12, 17)], length)
    run = tmp_path / "run"
    layout.atomic_write(run / layout.MANIFEST, json.dumps(run_manifest(root)))
    miss = (0.0, 0.0, 5.0, 5.0)
    for seq in load_dataset("got10k", root, "val"):
        pred = [tuple(b) for b in seq.boxes]
        records = [FrameResult(i, b).record() for i, b in enumerate(pred)]
        if seq.name == names[0]:
            for i in (*range(8, 12), 17):
                pred[i] = miss
            records = [FrameResult(i, b).record() for i, b in enumerate(pred)]
            for i in (0, *range(2, 7), 10):
                records[i]["visible"] = False
            for i in (1, 7, 8):
                records[i]["visible"] = True  # said outright, as said by default
        boxes = "".join(format_xywh(b) + "\n" for b in pred)
        layout.atomic_write(layout.boxes_path(run, "got10k", seq.name), boxes)
        if seq.name != names[2]:
            text = "".join(json.dumps(r) + "\n" for r in records)
            layout.atomic_write(layout.records_path(run, seq.name), text)
    assert main(["report", str(run)]) == 0
    report = json.loads((run / layout.REPORT).read_text())
    first, second, third = report["per_sequence"]
    assert first["recovery"] == {"recovered": 1, "reappearances": 2, "rate": 0.5}
    assert first["visibility_f1"] == {
        "f1": pytest.approx(10 / 17),
        "precision": pytest.approx(5 / 6),
        "recall": pytest.approx(5 / 11),
        "tp": 5,
        "fp": 1,
        "fn": 6,
        "tn": 7,
    }
    assert second["recovery"] == {"recovered": 0, "reappearances": 0, "rate": None}
    assert second["visibility_f1"] == {
        "f1": 0.0,
        "precision": None,
        "recall": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 1,
        "tn": 18,
    }
    assert third["visibility_f1"]["tn"] == 19 and third["visibility_f1"]["f1"] is None
    assert report["recovery"] == {"recovered": 1, "reappearances": 2, "rate": 0.5}
    overall = report["visibility_f1"]
    assert (overall["tp"], overall["fp"], overall["fn"], overall["tn"]) == (5, 1, 7, 44)
    assert overall["f1"] == pytest.approx(10 / 18)
    assert overall["precision"] == pytest.approx(5 / 6)
    assert overall["recall"] == pytest.approx(5 / 12)
    head, row = capsys.readouterr().out.splitlines()[:2]
    columns = head.split()
    assert columns[6:8] == ["recovery", "vis_f1"]
    assert "0.500 (1/2)" in row and row.split()[6:9] == ["0.500", "(1/2)", "0.556"]
    assert (
        "recovery = share of the target's reappearances after >= 5 invisible"
        in report["lost_found_convention"]
    )


def test_a_dataset_without_visibility_labels_has_no_recovery_figures(tmp_path, capsys):
    root = tmp_path / "otb"
    write_otb(root)
    run = tmp_path / "run"
    layout.atomic_write(run / layout.MANIFEST, json.dumps(run_manifest(root, "test", "otb")))
    for seq in load_dataset("otb", root, "test"):
        boxes = "".join(format_xywh(b) + "\n" for b in seq.boxes)
        layout.atomic_write(layout.boxes_path(run, "otb", seq.name), boxes)
    assert main(["report", str(run)]) == 0
    report = json.loads((run / layout.REPORT).read_text())
    assert "recovery" not in report and "visibility_f1" not in report
    assert "recovery" not in capsys.readouterr().out
