"""Is tracker B's AO really different from tracker A's? A paired bootstrap over sequences.

    python benchmarks/paired_ao.py --a RUN [RUN ...] --b RUN [RUN ...] [--samples 10000]

Each RUN is an `r1track eval` run on GOT-10k-layout data with its report.json (`r1track report
RUN` rewrites it); the i-th run of --a and the i-th of --b must be on the same dataset (several
pairs pool several sets).
Sequences are resampled with replacement and the pooled AO (each sequence's AO weighted by its
scored frames, as the GOT-10k toolkit pools) of B minus A is recomputed per sample; prints the
difference and its 95% interval. An interval that contains 0 means the sets cannot tell them apart.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def per_sequence(run: str) -> dict[str, tuple[float, int]]:
    """Each sequence's AO and the number of frames it pools (the report's `scored_frames`)."""
    report = json.loads((Path(run) / "report.json").read_text())
    rows = report["per_sequence"]
    if any("scored_frames" not in r for r in rows):
        raise SystemExit(f"{run}: report.json has no scored_frames; run `r1track report {run}`")
    return {r["sequence"]: (r["ao"], r["scored_frames"]) for r in rows}


def paired(a_runs: list[str], b_runs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sequence AO of A, of B, and frame weights, over all pairs of runs."""
    if len(a_runs) != len(b_runs):
        raise SystemExit("give as many --a runs as --b runs (one pair per dataset)")
    ao_a, ao_b, weight = [], [], []
    for run_a, run_b in zip(a_runs, b_runs, strict=True):
        a, b = per_sequence(run_a), per_sequence(run_b)
        if set(a) != set(b):
            raise SystemExit(f"{run_a} and {run_b} hold different sequences")
        for seq in sorted(a):
            ao_a.append(a[seq][0])
            ao_b.append(b[seq][0])
            weight.append(a[seq][1])
    return np.array(ao_a), np.array(ao_b), np.array(weight, dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="+", required=True)
    parser.add_argument("--b", nargs="+", required=True)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ao_a, ao_b, w = paired(args.a, args.b)
    print(json.dumps(compare(ao_a, ao_b, w, args.samples, args.seed)))


def compare(ao_a, ao_b, w, samples: int = 10000, seed: int = 0) -> dict:
    """Pooled AO of A and B, B minus A and its 95% bootstrap interval over sequences."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(w), size=(samples, len(w)))
    diffs = ((ao_b[idx] - ao_a[idx]) * w[idx]).sum(1) / w[idx].sum(1)
    pooled = lambda ao: float((ao * w).sum() / w.sum())  # noqa: E731
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {
        "sequences": len(w),
        "ao_a": round(pooled(ao_a), 4),
        "ao_b": round(pooled(ao_b), 4),
        "b_minus_a": round(pooled(ao_b) - pooled(ao_a), 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
        "b_better_in": round(float((ao_b > ao_a).mean()), 3),
    }


if __name__ == "__main__":
    main()
