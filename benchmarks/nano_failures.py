"""Where tracks are lost on a GOT-10k-layout val set (the nano training log, experiment 11).

    python benchmarks/nano_failures.py ROOT RUN [RUN ...]

A track is *lost* at the first frame that starts five frames in a row with IoU < 0.05. For each
run, prints one JSON line: sequences, how many were lost, how many of those losses had no
occluder, exit or cut in the six frames before (cover.label, cut_by_image.label: the tracker
jumped to another object or the background), how many came in the first ten frames, and how many
tracks found the target again (IoU > 0.3 later).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from r1track.datasets import load_dataset
from r1track.datasets.base import read_boxes
from r1track.evaluation.layout import boxes_path
from r1track.geometry import iou_xyxy, xywh_to_xyxy

LOST_IOU, LOST_RUN, BEFORE = 0.05, 5, 6


def lost_at(ious: np.ndarray) -> int | None:
    """First frame (>= 1) that starts LOST_RUN frames with IoU below LOST_IOU, or None."""
    low = ious < LOST_IOU
    for t in range(1, len(ious) - LOST_RUN + 1):
        if low[t : t + LOST_RUN].all():
            return t
    return None


def summarise(root: str, run: Path) -> dict:
    sequences = load_dataset("got10k", root, "val")
    lost = unexplained = early = recovered = 0
    for seq in sequences:
        pred = read_boxes(boxes_path(run, "got10k", seq.name))
        ious = np.asarray(iou_xyxy(xywh_to_xyxy(seq.boxes), xywh_to_xyxy(pred)))
        t = lost_at(ious)
        if t is None:
            continue
        lost += 1
        window = slice(max(0, t - BEFORE), t + 1)
        cover, cut = seq.attributes["cover"][window], seq.attributes["cut_by_image"][window]
        unexplained += int(cover.min() >= 5 and cut.max() == 0)
        early += int(t <= 10)
        recovered += int((ious[t:] > 0.3).any())
    return {
        "run": str(run),
        "sequences": len(sequences),
        "lost": lost,
        "lost_without_occlusion_or_exit": unexplained,
        "lost_by_frame_10": early,
        "found_again": recovered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="dataset root holding val/list.txt")
    parser.add_argument("runs", nargs="+", help="`r1track eval` output folders")
    args = parser.parse_args()
    for run in args.runs:
        print(json.dumps(summarise(args.root, Path(run))), flush=True)


if __name__ == "__main__":
    main()
