"""How a tracker's box size drifts: the median ratio of predicted to true box side over frames.

    python benchmarks/nano_sizes.py ROOT RUN [RUN ...] [--split val] [--frames 1,10,20,40]

ROOT is a GOT-10k-layout dataset, each RUN an `r1track eval` run on it. For each run and each
frame index, the median over sequences of sqrt(predicted area / true area), on frames where the
target is visible; 1.0 is no drift, a ratio growing with the frame index is a size error that
compounds through the tracker's crops (benchmarks/nano.md, experiment 9).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from r1track.datasets import load_dataset
from r1track.datasets.base import read_boxes
from r1track.evaluation.layout import boxes_path


def size_ratios(root: str, run: str, split: str, frames: list[int]) -> dict[int, float]:
    per_frame: dict[int, list[float]] = {f: [] for f in frames}
    for seq in load_dataset("got10k", root, split):
        pred = read_boxes(boxes_path(Path(run), "got10k", seq.name))
        for f in frames:
            if f >= len(seq.boxes) or (seq.visible is not None and not seq.visible[f]):
                continue
            true_area = seq.boxes[f, 2] * seq.boxes[f, 3]
            if true_area > 0:
                per_frame[f].append(float(np.sqrt(pred[f, 2] * pred[f, 3] / true_area)))
    return {f: round(float(np.median(v)), 3) for f, v in per_frame.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--split", default="val")
    parser.add_argument("--frames", default="1,10,20,40")
    args = parser.parse_args()
    frames = [int(f) for f in args.frames.split(",")]
    for run in args.runs:
        print(
            json.dumps(
                {"run": run, "median_side_ratio": size_ratios(args.root, run, args.split, frames)}
            )
        )


if __name__ == "__main__":
    main()
