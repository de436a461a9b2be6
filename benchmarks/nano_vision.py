"""Does a checkpoint's vision tower encode where the target is? (nano diagnostics, issue 5)

    python benchmarks/nano_vision.py DATA CKPT [--pairs 800]

Ridge regression (best of six strengths, 80/20 split of DATA's training pairs) from the search
image's visual tokens, concatenated, to the search box centre; prints held-out R^2 for x, y.
Training the tower for position (box regression, then centring its tokens) is a pipeline stage:
`r1track train vision --config configs/nano/vision.yaml` (r1track.training.vision).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from r1track.training.vision import r2_score, search_pixels, visual_tokens, with_boxes


def probe(data: str, checkpoint: str, pairs: int) -> None:
    from datasets import load_from_disk
    from transformers import Qwen2_5_VLForConditionalGeneration

    from r1track.backends.processor import load_processor

    rows = with_boxes(load_from_disk(data)["train"]).select(range(pairs))  # no absent pairs
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint).eval()
    pixels, grid = search_pixels(load_processor(checkpoint), rows)
    with torch.no_grad():
        x = torch.cat([visual_tokens(model, pixels[k : k + 64], grid) for k in range(0, pairs, 64)])
    x = x.numpy().astype(np.float64)
    s = np.array(rows["solution"], dtype=float)
    y = np.c_[(s[:, 0] + s[:, 2]) / 2, (s[:, 1] + s[:, 3]) / 2]
    k = int(pairs * 0.8)
    x = (x - x[:k].mean(0)) / (x[:k].std(0) + 1e-6)
    x = np.c_[x, np.ones(len(x))]
    best = np.full(2, -np.inf)
    for lam in (0.1, 1, 10, 100, 1e3, 1e4):
        w = np.linalg.solve(x[:k].T @ x[:k] + lam * np.eye(x.shape[1]), x[:k].T @ y[:k])
        best = np.maximum(best, r2_score(x[k:] @ w, y[k:]))
    print(f"{checkpoint}: held-out R^2 of the search box centre (x, y): {np.round(best, 3)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("checkpoint")
    parser.add_argument("--pairs", type=int, default=800)
    args = parser.parse_args()
    probe(args.data, args.checkpoint, args.pairs)


if __name__ == "__main__":
    main()
