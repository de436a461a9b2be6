"""Does a checkpoint's answer confidence tell a visible target from a gone one? Percentiles of the
recorded confidence (track.jsonl) on frames the labels call visible vs invisible (absence.label).

    python benchmarks/confidence_split.py RUN GOT10K_SPLIT_FOLDER

RUN is an `r1track eval` run directory of a backend that gives confidences (hf); the folder is
the dataset's split (ROOT/val), whose sequences carry absence.label.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def split(run: Path, root: Path) -> dict[str, np.ndarray]:
    by_label: dict[str, list[float]] = {"visible": [], "invisible": []}
    for records in sorted(run.glob("*/track.jsonl")):
        absent = (root / records.parent.name / "absence.label").read_text().split()
        for line in records.read_text().splitlines():
            r = json.loads(line)
            if r["index"] == 0 or r.get("confidence") is None:
                continue
            by_label["invisible" if int(absent[r["index"]]) else "visible"].append(r["confidence"])
    return {k: np.array(v) for k, v in by_label.items()}


def main() -> None:
    run, root = Path(sys.argv[1]), Path(sys.argv[2])
    print("| frames | n | p5 | p25 | median | p75 | p95 |\n|---|---|---|---|---|---|---|")
    for label, values in split(run, root).items():
        if len(values):
            cells = " | ".join(f"{v:.3f}" for v in np.percentile(values, [5, 25, 50, 75, 95]))
            print(f"| {label} | {len(values)} | {cells} |")


if __name__ == "__main__":
    main()
