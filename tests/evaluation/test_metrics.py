"""Official metrics (GOT-10k's toolkit, the OPE metrics) and our lost-and-found figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_manifest, write_got10k
from r1track.datasets import load_dataset
from r1track.errors import ConfigError
from r1track.evaluation import layout
from r1track.evaluation.metrics import (
    frame_ious,
    ope_sequence,
    pooled_recovery,
    reappearances,
    recovery_rate,
    visibility_counts,
    visibility_scores,
)
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


# -- lost and found: reappearances, recovery rate, visibility F1 ---------------------------------

T, F = True, False


def test_reappearances_are_first_visible_frames_after_long_enough_gaps():
    five = [T, F, F, F, F, F, T, T]  # frames 1-5 invisible: a gap of exactly 5
    assert reappearances(np.array(five)) == [6]
    assert reappearances(np.array(five), min_gap=6) == []
    assert reappearances(np.array([T, F, F, F, F, T, T])) == []  # 4 frames: too short
    # several gaps: only those of min_gap frames or more count; the frame after each
    visible = [T, *[F] * 5, T, *[F] * 7, T, F, F, T]
    assert reappearances(np.array(visible)) == [6, 14]
    assert reappearances(np.array(visible), min_gap=1) == [6, 14, 17]


def test_reappearances_need_the_target_seen_before_and_after():
    assert reappearances(np.array([F] * 6 + [T, T])) == []  # never seen before: nothing lost
    assert reappearances(np.array([F, T, *[F] * 5, T])) == [7]  # frame 0's run is no gap
    assert reappearances(np.array([T, *[F] * 8])) == []  # still gone at the end
    assert reappearances(np.zeros(0, bool)) == []
    with pytest.raises(ConfigError):
        reappearances(np.array([T, F]), min_gap=0)


def test_recovery_needs_iou_above_the_threshold_within_the_window():
    visible = np.array([T, *[F] * 5, *[T] * 12])  # a reappearance at frame 6, window 6..15
    ious = np.zeros(18)
    assert recovery_rate(ious, visible) == (0, 1)
    for frame, recovered in ((6, 1), (15, 1), (16, 0), (5, 0)):  # 5: before it, 16: too late
        late = ious.copy()
        late[frame] = 0.9
        assert recovery_rate(late, visible) == (recovered, 1), frame
    edge = ious.copy()
    edge[8] = 0.5  # IoU > 0.5, strict
    assert recovery_rate(edge, visible) == (0, 1)
    assert recovery_rate(edge, visible, threshold=0.4) == (1, 1)
    nan = ious.copy()
    nan[6:] = np.nan  # a NaN prediction is a miss
    assert recovery_rate(nan, visible) == (0, 1)
    late = ious.copy()
    late[16] = 0.9
    assert recovery_rate(late, visible, within=11) == (1, 1)  # frame 16 is in an 11-frame window


def test_recovery_counts_only_visible_frames_and_clips_the_window_at_the_end():
    # gone again on frame 7: a high IoU there (against a box nobody sees) is no recovery
    visible = np.array([T, *[F] * 5, T, F, T, T])
    ious = np.zeros(10)
    ious[7] = 0.9
    assert recovery_rate(ious, visible) == (0, 1)
    ious[9] = 0.9  # the last frame: the window 6..15 is clipped to 6..9
    assert recovery_rate(ious, visible) == (1, 1)
    # two reappearances, one recovered
    visible = np.array([T, *[F] * 5, T, T, T, *[F] * 6, T, T])
    ious = np.zeros(len(visible))
    ious[16] = 0.8  # after the first one's window (6..15)
    assert reappearances(visible) == [6, 15] and recovery_rate(ious, visible) == (1, 2)
    with pytest.raises(ValueError, match="IoUs for"):
        recovery_rate(np.zeros(3), np.ones(4, bool))


def test_recovery_pools_counts_not_rates():
    pooled = pooled_recovery([(1, 1), (0, 0), (1, 3)])
    assert pooled == {"recovered": 2, "reappearances": 4, "rate": 0.5}  # not mean(1, 1/3)
    assert pooled_recovery([(0, 0)])["rate"] is None
    assert pooled_recovery([]) == {"recovered": 0, "reappearances": 0, "rate": None}


def test_visibility_counts_not_visible_as_positive_without_frame_0():
    said = np.array([F, T, F, F, T])
    labels = np.array([T, T, F, T, F])
    # frame 0 (said not visible, is visible) would be a false positive: it is not scored
    assert visibility_counts(said, labels) == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}
    scores = visibility_scores([visibility_counts(said, labels)])
    assert scores["precision"] == scores["recall"] == scores["f1"] == 0.5
    with pytest.raises(ValueError, match="visible flags for"):
        visibility_counts(np.ones(2, bool), np.ones(3, bool))


def test_a_tracker_that_always_says_visible_scores_zero():
    labels = np.array([T, T, F, F, T, T, T, T, T, T])
    scores = visibility_scores([visibility_counts(np.ones(10, bool), labels)])
    assert scores == {
        "f1": 0.0,
        "precision": None,
        "recall": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 2,
        "tn": 7,
    }
    nothing = visibility_scores([visibility_counts(np.ones(4, bool), np.ones(4, bool))])
    assert nothing["f1"] is None and nothing["precision"] is None and nothing["recall"] is None
    perfect = visibility_scores([visibility_counts(labels, labels)])
    assert perfect["f1"] == perfect["precision"] == perfect["recall"] == 1.0


def test_visibility_pools_counts_over_sequences():
    right = visibility_counts(np.array([T, F, F, T]), np.array([T, F, F, T]))  # tp 2
    missed = visibility_counts(np.array([T, T, T, T]), np.array([T, F, F, T]))  # fn 2
    wrong = visibility_counts(np.array([T, F, T, T]), np.array([T, T, T, T]))  # fp 1
    scores = visibility_scores([right, missed, wrong])
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (2, 1, 2, 4)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(4 / 7)  # 2 tp / (2 tp + fp + fn); not a mean of F1s


def test_frame_ious_clip_to_the_image_when_its_size_is_known():
    gt = np.array([[10.0, 10, 20, 20], [-10, 0, 20, 10]])
    pred = np.array([[10.0, 10, 20, 20], [0, 0, 10, 10]])
    assert frame_ious(pred, gt).tolist() == pytest.approx([1.0, 0.5])
    # toolkit clipping: x to [0, W] keeps the width: both become 0,0,20,10 and 0,0,10,10
    assert frame_ious(pred, gt, (100, 100)).tolist() == pytest.approx([1.0, 0.5])
    off = np.array([[150.0, 10, 20, 20], [0, 0, 10, 10]])
    assert frame_ious(off, np.array([[150.0, 10, 20, 20], [0, 0, 10, 10]]), (100, 100))[0] == 0
