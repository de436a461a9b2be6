"""Benchmark metrics as pure numpy functions, with each convention spelled out.

GOT-10k (as the official `got10k` toolkit 0.1.3 computes it on val):
- frame 0 is excluded, and so are frames whose `cover` label is 0 (target invisible);
- predictions *and* ground truth are clipped to the image the toolkit's way: x to [0, W], then
  w to [0, W - x] (so a box starting left of the image keeps its width: not an xyxy clip);
- IoU = intersection / (union + eps), clipped to [0, 1];
- IoUs of all frames of all sequences are pooled (frame-weighted): AO = mean IoU,
  SR0.5 = mean(IoU > 0.5), SR0.75 = mean(IoU > 0.75) (strict), success curve at 101 thresholds;
- speed (`fps_toolkit`) = mean of 1/t over all positive, finite per-frame times, frame 0 included.
A NaN prediction makes AO NaN, as in the toolkit.

The toolkit's speed is dominated by the fastest frames (frame 0, given its box, takes almost no
time), so it can be many times the real rate: reports also give `frames_per_second`, timed frames
over their summed seconds. Both come from the per-frame times the tracker records, which exclude
video decoding and file writes.

OPE benchmarks (OTB, LaSOT, TrackingNet, TNL2K), pytracking-style:
- per sequence, over frames with a valid ground-truth box (finite, w > 0, h > 0), frame 0 included;
- success: IoU > t for t in 0, 0.05, ..., 1 (21 thresholds, strict); AUC = mean over thresholds;
- precision: centre error <= 20 px; normalized precision: centre error divided by the
  ground-truth size (per axis) <= 0.2;
- averaged per sequence, then over sequences.

Lost and found (our own figures, issue 19; `recovery_rate`, `visibility_counts`): how a tracker
copes with a target that leaves the view or is fully covered and comes back. Both need per-frame
visibility labels (`Sequence.visible`; GOT-10k: cover > 0 and absence == 0) and pool over
sequences by counts, never by averaging per-sequence rates.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import numpy as np

from r1track.errors import check_at_least

GOT10K_THRESHOLDS = np.linspace(0, 1, 101)
OPE_THRESHOLDS = np.linspace(0, 1, 21)
OPE_CONVENTION = (
    "OPE, pytracking-style: per-sequence rates over frames with a valid ground-truth box "
    "(frame 0 included), then the mean over sequences; success AUC = mean of P(IoU > t) for "
    "t = 0, 0.05, ..., 1; precision = P(centre error <= 20 px); normalized precision = "
    "P(centre error / ground-truth size <= 0.2)"
)
GOT10K_CONVENTION = (
    "GOT-10k toolkit 0.1.3: frame 0 and cover == 0 frames excluded, boxes clipped to the image, "
    "IoUs pooled over all frames; AO = mean IoU, SRt = P(IoU > t)"
)
RECOVERY_MIN_GAP = 5
RECOVERY_WITHIN = 10
RECOVERY_THRESHOLD = 0.5
LOST_FOUND_CONVENTION = (
    f"recovery = share of the target's reappearances after >= {RECOVERY_MIN_GAP} invisible "
    f"frames with IoU > {RECOVERY_THRESHOLD} on a visible frame within {RECOVERY_WITHIN} frames "
    "of it; vis_f1 = F1 of the tracker's 'not visible' flag against the labels, frame 0 excluded"
)
SPEED_CONVENTION = (
    "frames_per_second = frames / summed per-frame seconds; fps_toolkit = mean of 1/t "
    "(GOT-10k toolkit rule, frame 0 included); per-frame times exclude video decoding and writes"
)


def got10k_clip(boxes: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """Clip `(N, 4)` x,y,w,h boxes to the image the way the GOT-10k toolkit does."""
    width, height = resolution
    b = np.array(boxes, dtype=np.float64, copy=True)
    b[:, 0] = np.clip(b[:, 0], 0, width)
    b[:, 1] = np.clip(b[:, 1], 0, height)
    b[:, 2] = np.clip(b[:, 2], 0, width - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, height - b[:, 1])
    return b


def xywh_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of `(N, 4)` x,y,w,h boxes, inter / (union + eps) clipped to [0, 1] (toolkit style)."""
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)


def frame_ious(
    pred: np.ndarray, gt: np.ndarray, resolution: tuple[int, int] | None = None
) -> np.ndarray:
    """The IoU of every frame, frame 0 included: boxes clipped to the image the GOT-10k way when
    its `resolution` (W, H) is given, unclipped (the OPE way) when not."""
    if pred.shape != gt.shape:
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} ground-truth boxes")
    if resolution is not None:
        pred, gt = got10k_clip(pred, resolution), got10k_clip(gt, resolution)
    return xywh_iou(pred, gt)


def got10k_sequence_ious(
    pred: np.ndarray, gt: np.ndarray, cover: np.ndarray, resolution: tuple[int, int]
) -> np.ndarray:
    """The IoUs one sequence contributes to GOT-10k's pool (frame 0 and cover == 0 dropped)."""
    return frame_ious(pred, gt, resolution)[1:][np.asarray(cover)[1:] > 0]


def reappearances(visible: np.ndarray, min_gap: int = RECOVERY_MIN_GAP) -> list[int]:
    """The frames where the target is visible again after at least `min_gap` invisible frames.

    `visible` is the labels' per-frame flag (GOT-10k: cover > 0 and absence == 0). A gap is a
    maximal run of invisible frames that comes after a visible frame; frame `r` is a
    reappearance when `visible[r]` and the gap that ends at `r - 1` is `min_gap` frames or more.
    A run that starts at frame 0 is no gap (the target was never seen, so nothing was lost: a
    track starts on a frame that shows it), and a run that reaches the last frame has no
    reappearance.
    """
    check_at_least("min_gap", min_gap, 1)
    visible = np.asarray(visible, dtype=bool)
    found, seen, run = [], False, 0
    for i, v in enumerate(visible):
        if not v:
            run += seen  # invisible frames count only once the target has been seen
            continue
        if run >= min_gap:
            found.append(i)
        seen, run = True, 0
    return found


def recovery_rate(
    ious: np.ndarray,
    visible: np.ndarray,
    min_gap: int = RECOVERY_MIN_GAP,
    within: int = RECOVERY_WITHIN,
    threshold: float = RECOVERY_THRESHOLD,
) -> tuple[int, int]:
    """(recovered, total) of one sequence's reappearances (`reappearances(visible, min_gap)`).

    A reappearance at frame `r` is recovered when, on some frame `j` of `r .. r + within - 1`
    (clipped at the sequence end) where the target is visible, the track's IoU with the ground
    truth is above `threshold` (strict, as SR0.5; a NaN IoU is a miss). Invisible frames of the
    window do not count: the ground truth of an unseen target is no place to be. `ious` has one
    value per frame, frame 0 included (`frame_ious`). Pool sequences by summing both counts
    (`pooled_recovery`), so a sequence with many reappearances weighs as many.
    """
    check_at_least("within", within, 1)
    ious, visible = np.asarray(ious, dtype=np.float64), np.asarray(visible, dtype=bool)
    if ious.shape != visible.shape:
        raise ValueError(f"{len(ious)} IoUs for {len(visible)} visibility labels")
    hits = visible & (ious > threshold)
    found = reappearances(visible, min_gap)
    return sum(bool(hits[r : r + within].any()) for r in found), len(found)


def pooled_recovery(counts: Seq[tuple[int, int]]) -> dict:
    """`{"recovered", "reappearances", "rate"}` of (recovered, total) pairs summed; the rate is
    None when there is no reappearance."""
    recovered = sum(c[0] for c in counts)
    total = sum(c[1] for c in counts)
    return {
        "recovered": recovered,
        "reappearances": total,
        "rate": recovered / total if total else None,
    }


def visibility_counts(predicted: np.ndarray, visible: np.ndarray) -> dict:
    """Confusion counts of the tracker's per-frame visible flag against the labels' one.

    The positive class is *not visible*: the figure asks whether the tracker says when the target
    is gone. With visible as the positive class a tracker that always says "visible" (every
    tracker before issue 19) would score an F1 near 1 on any set where the target is mostly in
    view; with "not visible" positive it scores 0 recall, as it should. Counted over the frames
    GOT-10k scores, frame 0 excluded (the track starts from a given box there), but invisible
    frames *included* (they are this figure's positives). `tp`: both say not visible; `fp`: the
    tracker says not visible, the labels visible; `fn`: the tracker says visible, the labels not;
    `tn`: both say visible. Sum the counts over sequences, then `visibility_scores`.
    """
    predicted, visible = np.asarray(predicted, dtype=bool), np.asarray(visible, dtype=bool)
    if predicted.shape != visible.shape:
        raise ValueError(f"{len(predicted)} visible flags for {len(visible)} visibility labels")
    gone, said_gone = ~visible[1:], ~predicted[1:]
    return {
        "tp": int(np.sum(gone & said_gone)),
        "fp": int(np.sum(~gone & said_gone)),
        "fn": int(np.sum(gone & ~said_gone)),
        "tn": int(np.sum(~gone & ~said_gone)),
    }


def visibility_scores(counts: Seq[dict]) -> dict:
    """Precision, recall and F1 of "not visible" from `visibility_counts` summed over sequences.

    precision = tp / (tp + fp), None when the tracker never says "not visible"; recall =
    tp / (tp + fn), None when the labels have no invisible frame; f1 = 2 tp / (2 tp + fp + fn),
    None only when both are None (nothing to find and nothing claimed), else 0 when tp is 0.
    """
    total = {k: sum(c[k] for c in counts) for k in ("tp", "fp", "fn", "tn")}
    tp, fp, fn = total["tp"], total["fp"], total["fn"]
    return {
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        **total,
    }


def speeds(times: Seq[np.ndarray]) -> dict:
    """Both speeds of per-sequence per-frame times: the toolkit's mean of 1/t and the real rate.

    `fps_toolkit` is what the GOT-10k toolkit reports; `frames_per_second` (timed frames / their
    summed seconds) is the throughput. Non-finite or non-positive times are left out of both.
    """
    all_times = (
        np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in times])
        if len(times)
        else np.zeros(0)
    )
    all_times = all_times[np.isfinite(all_times) & (all_times > 0)]
    if not len(all_times):
        return {"fps_toolkit": None, "frames_per_second": None}
    return {
        "fps_toolkit": float(np.mean(1.0 / all_times)),
        "frames_per_second": float(len(all_times) / np.sum(all_times)),
    }


def got10k_scores(ious: Seq[np.ndarray], times: Seq[np.ndarray] = ()) -> dict:
    """AO, SR0.5, SR0.75, both speeds and the success curve from per-sequence IoUs and times."""
    pooled = np.concatenate(list(ious)) if len(ious) else np.zeros(0)
    return {
        "ao": float(np.mean(pooled)) if len(pooled) else float("nan"),
        "sr50": float(np.mean(pooled > 0.5)) if len(pooled) else float("nan"),
        "sr75": float(np.mean(pooled > 0.75)) if len(pooled) else float("nan"),
        **speeds(times),
        "frames": len(pooled),
        "success_curve": [
            float(v) for v in np.mean(pooled[:, None] > GOT10K_THRESHOLDS[None], axis=0)
        ]
        if len(pooled)
        else [],
    }


def ope_sequence(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Success curve, AUC, precision@20px and normalized precision@0.2 of one sequence."""
    if pred.shape != gt.shape:
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} ground-truth boxes")
    valid = np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    p, g = pred[valid], gt[valid]
    if not len(g):
        return {
            "success_curve": [],
            "auc": float("nan"),
            "precision": float("nan"),
            "norm_precision": float("nan"),
            "frames": 0,
        }
    ious = xywh_iou(p, g)
    curve = np.mean(ious[:, None] > OPE_THRESHOLDS[None], axis=0)
    centre_p = p[:, :2] + p[:, 2:] / 2
    centre_g = g[:, :2] + g[:, 2:] / 2
    error = np.linalg.norm(centre_p - centre_g, axis=1)
    norm_error = np.linalg.norm((centre_p - centre_g) / g[:, 2:], axis=1)
    # A NaN prediction counts as a miss, never as a hit.
    error = np.where(np.isfinite(error), error, np.inf)
    norm_error = np.where(np.isfinite(norm_error), norm_error, np.inf)
    return {
        "success_curve": [float(v) for v in curve],
        "auc": float(curve.mean()),
        "precision": float(np.mean(error <= 20.0)),
        "norm_precision": float(np.mean(norm_error <= 0.2)),
        "frames": int(valid.sum()),
    }


def ope_scores(per_sequence: Seq[dict]) -> dict:
    """Mean over sequences of the per-sequence OPE metrics."""
    rows = [r for r in per_sequence if r["frames"]]
    if not rows:
        return {
            "auc": float("nan"),
            "precision": float("nan"),
            "norm_precision": float("nan"),
            "success_curve": [],
            "sequences": 0,
        }
    return {
        "auc": float(np.mean([r["auc"] for r in rows])),
        "precision": float(np.mean([r["precision"] for r in rows])),
        "norm_precision": float(np.mean([r["norm_precision"] for r in rows])),
        "success_curve": [float(v) for v in np.mean([r["success_curve"] for r in rows], axis=0)],
        "sequences": len(rows),
    }
