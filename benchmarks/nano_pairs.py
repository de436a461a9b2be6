"""Per-pair accuracy of checkpoints on a built dataset's held-out pairs (the nano training log).

    python benchmarks/nano_pairs.py DATA CKPT [CKPT ...] [--limit 200]

Prints one JSON line per checkpoint: mean IoU of the model's boxes, of the model with search images
shuffled across pairs (equal to `miou` while the model ignores the search image), with template
images shuffled (equal to `miou` while it ignores the template) and of the trivial
answer (the template box centred in the search crop). See r1track.training.pair_eval.
"""

from __future__ import annotations

import argparse
import json
import time

from r1track.training.pair_eval import evaluate_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="dataset built by `r1track data build`")
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--limit", type=int, default=200, help="validation pairs")
    args = parser.parse_args()
    for checkpoint in args.checkpoints:
        t0 = time.perf_counter()
        result = evaluate_pairs(checkpoint, args.data, limit=args.limit)
        result = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
        result.update(checkpoint=checkpoint, seconds=round(time.perf_counter() - t0, 1))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
