"""Official metrics: GOT-10k's toolkit and the OPE metrics (AUC, precision)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_manifest, write_got10k
from r1track.datasets import load_dataset
from r1track.evaluation import layout
from r1track.evaluation.metrics import ope_sequence
from r1track.evaluation.report import score_run
from r1track.outputs import format_xywh


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
    layout.atomic_write(run / layout.MANIFEST, json.dumps(run_manifest(root)))

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
