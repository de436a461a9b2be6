"""Frames/s of nano's evaluation at --batch 8 for several draft budgets (draft tokens checked per
forward over the batch's rows), drafts off, and --batch 1, with the boxes of every variant
compared: drafts decide only which forwards run, so every variant must write the same boxes.

A forward's cost grows with the tokens it feeds (rows x columns), and a batch's columns are its
widest row's: checking 16 draft tokens per row at batch 8 feeds 128 guesses a forward, most of
them past the first wrong digit. Variants run interleaved (forward, then backward order),
`--repeats` times each, on a GOT-10k-format split made by `r1track data synth`; a figure is the
median frames/s over repeats with its spread, a speed-up the median of per-repeat ratios.

    python benchmarks/draft_budget.py --root .cache/eval/val [--split val] [--repeats 5]
        [--budgets 128,32,16] [--model nano]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from eval_speed import print_speedups, speedup, summary, timed_eval
from frame_overhead import machine


def boxes_of(out: Path) -> dict[str, bytes]:
    """Every sequence's box file of a run, by name."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*_001.txt"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a GOT-10k-format dataset root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--model", default="nano")
    parser.add_argument("--budgets", default="128,32,16", help="draft budgets at batch 8")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/draft_budget.json")
    args = parser.parse_args()

    from r1track.backends.hf import DRAFT_BUDGET, HFBackend
    from r1track.datasets import load_dataset
    from r1track.tracking import Tracker, TrackerConfig

    budgets = [int(b) for b in args.budgets.split(",")]
    variants: dict[str, dict] = {
        f"batch 8, draft budget {b}": dict(batch=8, draft=True, budget=b) for b in budgets
    }
    variants["batch 8, drafts off"] = dict(batch=8, draft=False, budget=DRAFT_BUDGET)
    variants["batch 1, drafts on"] = dict(batch=1, draft=True, budget=DRAFT_BUDGET)
    sequences = load_dataset("got10k", Path(args.root), args.split)
    backend = HFBackend(args.model, device="cpu", max_batch_size=8)
    config = TrackerConfig.for_checkpoint(backend.checkpoint)
    runs: dict[str, list[dict]] = {}
    boxes: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            names = list(variants) if rep % 2 == 0 else list(variants)[::-1]
            for name in names:
                v = variants[name]
                backend._prefixes.clear()
                backend._drafts.clear()
                backend.draft, backend.draft_budget = v["draft"], v["budget"]
                out = Path(tmp) / f"{len(runs.get(name, []))}-{name}".replace(" ", "_")
                row = timed_eval(Tracker(backend, config), sequences, out, v["batch"])
                runs.setdefault(name, []).append(row)
                assert boxes_of(out), f"{name}: no box files under {out}"
                boxes.setdefault(name, boxes_of(out))
                assert boxes_of(out) == boxes[name], f"{name}: boxes changed between repeats"
                print(name, json.dumps(row), flush=True)
    reference = boxes["batch 8, drafts off"]
    same = {name: b == reference for name, b in boxes.items()}
    default = f"batch 8, draft budget {DRAFT_BUDGET}"
    speedups = {
        name: speedup(runs[name], runs[default]) for name in variants if name.startswith("batch 8")
    }
    result = {
        "command": f"python benchmarks/draft_budget.py --root {args.root} --split {args.split} "
        f"--repeats {args.repeats} --budgets {args.budgets} --model {args.model}",
        "machine": machine(),
        "dataset": f"{args.root} ({args.split}): {len(sequences)} sequences, "
        f"{sum(len(s) for s in sequences)} frames",
        "variants": {name: summary(r) for name, r in runs.items()},
        "boxes_equal_to_drafts_off": same,
        f"budget {DRAFT_BUDGET} (the default) over": speedups,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| variant | frames/s (median) [spread] | boxes = drafts off |")
    print("|---|---|---|")
    for name, v in result["variants"].items():
        lo, hi = v["spread"]
        print(f"| {name} | {v['fps']:.1f} [{lo:.1f}, {hi:.1f}] | {same[name]} |")
    print_speedups(speedups, "default over {}")


if __name__ == "__main__":
    main()
