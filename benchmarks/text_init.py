"""Text initialisation: in how many sequences did grounding the description find the target?

Reads an `r1track eval --init text` run and counts the sequences whose first box (the grounded
one) overlaps the first ground-truth box with IoU > 0.5 (issue 21's target: >= 50%). A sequence
whose grounding failed (an error file, no results) counts as not found.

    r1track eval --dataset got10k --root .cache/eval/val --split val --model M --init text \
        --batch 8 --out runs/eval/val/M-text
    python benchmarks/text_init.py --dataset got10k --root .cache/eval/val --split val \
        --run runs/eval/val/M-text
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from r1track.datasets import load_dataset
from r1track.datasets.base import read_boxes
from r1track.evaluation.layout import boxes_path
from r1track.geometry import iou_xyxy, xywh_to_xyxy


def first_box_ious(dataset: str, root: str, split: str, run: Path) -> dict[str, float]:
    """Each sequence's IoU of the run's first box with the ground truth's (0 when it has none)."""
    out = {}
    for seq in load_dataset(dataset, root, split):
        path = boxes_path(run, dataset, seq.name)
        if not path.is_file():  # grounding failed: the run wrote an error file instead
            out[seq.name] = 0.0
            continue
        box = read_boxes(path)[0]
        out[seq.name] = float(iou_xyxy(xywh_to_xyxy(box), xywh_to_xyxy(seq.init_box)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="got10k")
    parser.add_argument("--root", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--run", required=True, type=Path, help="an `r1track eval --init text` run")
    args = parser.parse_args()
    if not args.run.is_dir():  # else every sequence would count as "not found"
        parser.error(f"--run {args.run}: no such run folder")
    ious = first_box_ious(args.dataset, args.root, args.split, args.run)
    found = sum(v > 0.5 for v in ious.values())
    print(
        f"found {found} of {len(ious)} ({found / len(ious):.0%}); "
        f"mean first-frame IoU {np.mean(list(ious.values())):.3f}"
    )


if __name__ == "__main__":
    main()
