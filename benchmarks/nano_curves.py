"""Training curves of a run from its trainer_state.json: a table and a PNG.

    python benchmarks/nano_curves.py RUN_DIR --keys loss reward --out curve.png

RUN_DIR is a training output directory (its newest checkpoint-*/trainer_state.json is read) or a
checkpoint directory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def log_history(run: Path) -> list[dict]:
    state = run / "trainer_state.json"
    if not state.is_file():
        checkpoints = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if not checkpoints:
            raise SystemExit(f"{run}: no trainer_state.json and no checkpoint-*/")
        state = checkpoints[-1] / "trainer_state.json"
    return json.loads(state.read_text())["log_history"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--keys", nargs="+", default=["loss"])
    parser.add_argument("--out", type=Path, help="PNG to write")
    parser.add_argument("--every", type=int, default=1, help="print every N-th logged step")
    args = parser.parse_args()
    rows = [r for r in log_history(args.run) if any(k in r for k in args.keys)]
    print("| step | " + " | ".join(args.keys) + " |")
    print("|---" * (len(args.keys) + 1) + "|")
    for i, r in enumerate(rows):
        if i % args.every == 0 or i == len(rows) - 1:
            values = " | ".join(f"{r[k]:.3f}" if k in r else "-" for k in args.keys)
            print(f"| {r['step']} | {values} |")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(args.keys), figsize=(4.5 * len(args.keys), 3.2))
        for ax, key in zip(axes if len(args.keys) > 1 else [axes], args.keys, strict=True):
            points = [(r["step"], r[key]) for r in rows if key in r]
            ax.plot(*zip(*points, strict=True))
            ax.set_xlabel("step")
            ax.set_title(f"{args.run.name}: {key}")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.out, dpi=100)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
