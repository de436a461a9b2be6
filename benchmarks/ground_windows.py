"""Text initialisation in windows: how each way of choosing among the windows' answers does.

For a checkpoint with `grounding_windows` (benchmarks/nano.md, experiment 18) this asks every
window of each sequence's first frame once (`Tracker.ground_candidates`), keeps the answers in
`--out` (JSON, so a rule can be tried again without the model), and counts in how many sequences
each rule's box overlaps the first ground-truth box with IoU > 0.5 (issue 21's target: >= 50%):
`surest` (the box of the window where the absent answer was least likely) and `pooled@T`
(`redetect.pooled_box`: the box whose overlapping boxes, IoU >= T, add up to the most presence,
averaged with them; at T = `redetect.POOL_IOU` the tracker's rule). With `--candidates FILE` it
reads a saved run instead of asking the model. As controls, `--descriptions shifted` gives each
sequence the next one's description and `--text TEXT` gives all the same one: what is found then
is found without reading the description.

    python benchmarks/ground_windows.py --root .cache/eval/val --split val --model runs/nano-sft-g \
        --image-format png --out runs/eval/val/sft-g-windows.json
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from r1track.geometry import iou_xyxy, xywh_to_xyxy
from r1track.tracking.redetect import POOL_IOU, best_candidate, pooled_box

POOL_IOUS = sorted({0.3, POOL_IOU, 0.7})


def ask(args: argparse.Namespace) -> list[dict]:
    """Each sequence's first-frame windows: boxes, presence, usable, and the ground truth."""
    from r1track.backends import load_backend
    from r1track.cli import _tracker_config, build_parser
    from r1track.datasets import load_dataset
    from r1track.models import resolve_model
    from r1track.tracking.tracker import Tracker

    model = resolve_model(args.model)
    flags = ["eval", "--dataset", args.dataset, "--root", args.root, "--model", model]
    flags += ["--out", "unused", "--image-format", args.image_format]
    if args.grounding_windows is not None:
        flags += ["--grounding-windows", str(args.grounding_windows)]
    config = _tracker_config(build_parser().parse_args(flags))
    if config.grounding_windows < 1:
        raise SystemExit(f"{args.model}: not a checkpoint with grounding_windows set")
    tracker = Tracker(load_backend("hf", model, batch_size=args.batch), config)
    rows = []
    sequences = list(load_dataset(args.dataset, args.root, args.split))[: args.limit]
    described = [seq for seq in sequences if seq.description]
    texts = [seq.description for seq in described]
    if args.descriptions == "shifted":
        texts = texts[1:] + texts[:1]
    for seq, text in zip(tqdm(described, desc="sequences"), texts, strict=True):
        found = tracker.ground_candidates(next(seq.frames()), args.text or text)
        rows.append({
            "name": seq.name,
            "text": args.text or text,
            "truth": xywh_to_xyxy(seq.init_box).tolist(),
            "windows": [[w.x0, w.y0, w.side] for w in found.windows],
            "boxes": [np.asarray(b).tolist() for b in found.boxes],
            "presence": found.presence,
            "usable": found.usable,
        })  # fmt: skip
    return rows


def found_by(rows: list[dict], choose) -> list[float]:
    """Each sequence's IoU of the chosen frame box (xyxy) with the truth (0 for None)."""
    return [
        0.0 if (box := choose(row)) is None else float(iou_xyxy(box, np.asarray(row["truth"])))
        for row in rows
    ]


def surest(row: dict) -> np.ndarray | None:
    best = best_candidate(row["presence"], row["usable"], 0.0)
    return None if best is None else np.asarray(row["boxes"][best])


def pooled(row: dict, min_iou: float) -> np.ndarray | None:
    found = pooled_box(
        [np.asarray(b) for b in row["boxes"]], row["presence"], row["usable"], min_iou
    )
    return None if found is None else found[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="got10k")
    parser.add_argument("--root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", help="a checkpoint trained with data build --grounding-windows")
    parser.add_argument("--image-format", default="png")
    parser.add_argument("--grounding-windows", type=int, help="instead of the checkpoint's")
    parser.add_argument("--batch", type=int, default=16, help="windows per model call")
    parser.add_argument("--limit", type=int, default=None, help="the first N sequences only")
    parser.add_argument("--out", type=Path, help="where to keep every window's answer (JSON)")
    parser.add_argument("--candidates", type=Path, help="a saved --out instead of the model")
    parser.add_argument(
        "--descriptions",
        choices=("own", "shifted"),
        default="own",
        help="shifted: each sequence asked with the next one's description (a control)",
    )
    parser.add_argument("--text", help="every sequence asked with this description (a control)")
    args = parser.parse_args()
    if args.candidates:
        if not args.candidates.is_file():
            parser.error(f"--candidates {args.candidates}: no such file")
        rows = json.loads(args.candidates.read_text())
    else:
        if not (args.root and args.model):
            parser.error("give --root and --model (or --candidates)")
        rows = ask(args)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows))
    rules = {"surest": surest} | {f"pooled@{t}": partial(pooled, min_iou=t) for t in POOL_IOUS}
    print(f"{len(rows)} sequences")
    for name, rule in rules.items():
        ious = found_by(rows, rule)
        found = sum(v > 0.5 for v in ious)
        print(f"{name:>12}: found {found} ({found / len(rows):.0%}), mean IoU {np.mean(ious):.3f}")


if __name__ == "__main__":
    main()
