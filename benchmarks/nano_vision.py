"""Does a checkpoint's vision tower encode where the target is? (nano diagnostics, issue 5)

    python benchmarks/nano_vision.py probe DATA CKPT [--pairs 800]
    python benchmarks/nano_vision.py pretrain DATA CKPT OUT [--steps 3000 --lr 2e-3 --pairs 8000]
    python benchmarks/nano_vision.py centre DATA CKPT OUT [--pairs 400]

`probe`: ridge regression (best of six strengths, 80/20 split of DATA's training pairs) from the
search image's visual tokens, concatenated, to the search box centre; prints held-out R^2 for x, y.
`pretrain`: trains the vision tower alone with a linear head to regress the search box
(x1, y1, x2, y2) / crop size by mean squared error, bypassing the language model; prints held-out
R^2 every 100 steps and saves CKPT with the trained tower to OUT. It shows whether the tower can
learn the position at all, and gives later SFT runs a tower that already has it.
`centre`: rescales the merger's output layer so that visual tokens of DATA's search images have
mean zero and mean deviation norm 1 (the position is then not a small offset on a constant vector
that the language model's RMSNorm mostly keeps); saves to OUT.
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
import torch


def _load(checkpoint: str):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from r1track.backends.processor import load_processor

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint)
    return model, load_processor(checkpoint)


def _search_pixels(processor, rows):
    """Pixel patches of each row's search image, (pairs, patches, dim), and one image's grid."""
    batch = processor.image_processor(images=[r[-1] for r in rows["images"]], return_tensors="pt")
    grid = batch["image_grid_thw"]
    if not bool((grid == grid[0]).all()):
        raise SystemExit("search images differ in size: build DATA with one --sizes value")
    pixels = batch["pixel_values"]
    return pixels.view(len(grid), -1, pixels.shape[-1]), grid[:1]


def _tokens(model, pixels, grid) -> torch.Tensor:
    """Visual tokens per image, flattened: (pairs, tokens * hidden)."""
    n = pixels.shape[0]
    out = model.model.visual(pixels.reshape(-1, pixels.shape[-1]), grid_thw=grid.repeat(n, 1))
    return out.pooler_output.reshape(n, -1)


def _save(model, checkpoint: str, out: str) -> None:
    """OUT: the checkpoint's files (processor, settings) with the model's current weights."""
    shutil.copytree(checkpoint, out, dirs_exist_ok=True)
    model.save_pretrained(out)
    print(f"saved {out}")


def _r2(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    return 1 - ((pred - target) ** 2).sum(0) / ((target - target.mean(0)) ** 2).sum(0)


def probe(data: str, checkpoint: str, pairs: int) -> None:
    from datasets import load_from_disk

    rows = load_from_disk(data)["train"].select(range(pairs))
    model, processor = _load(checkpoint)
    pixels, grid = _search_pixels(processor, rows)
    model.eval()
    with torch.no_grad():
        x = torch.cat([_tokens(model, pixels[k : k + 64], grid) for k in range(0, pairs, 64)])
    x = x.numpy().astype(np.float64)
    s = np.array(rows["solution"], dtype=float)
    y = np.c_[(s[:, 0] + s[:, 2]) / 2, (s[:, 1] + s[:, 3]) / 2]
    k = int(pairs * 0.8)
    x = (x - x[:k].mean(0)) / (x[:k].std(0) + 1e-6)
    x = np.c_[x, np.ones(len(x))]
    best = np.full(2, -np.inf)
    for lam in (0.1, 1, 10, 100, 1e3, 1e4):
        w = np.linalg.solve(x[:k].T @ x[:k] + lam * np.eye(x.shape[1]), x[:k].T @ y[:k])
        best = np.maximum(best, _r2(x[k:] @ w, y[k:]))
    print(f"{checkpoint}: held-out R^2 of the search box centre (x, y): {np.round(best, 3)}")


def pretrain(data: str, checkpoint: str, out: str, steps: int, lr: float, pairs: int) -> None:
    from datasets import load_from_disk

    torch.manual_seed(0)
    dataset = load_from_disk(data)
    model, processor = _load(checkpoint)
    train_rows = dataset["train"].select(range(min(pairs, len(dataset["train"]))))
    val_rows = dataset["validation"].select(range(min(300, len(dataset["validation"]))))
    x_train, grid = _search_pixels(processor, train_rows)
    x_val, _ = _search_pixels(processor, val_rows)
    size = float(train_rows[0]["size"])
    y_train = torch.tensor(train_rows["solution"], dtype=torch.float32) / size
    y_val = torch.tensor(val_rows["solution"], dtype=torch.float32) / size
    tower = model.model.visual
    head = torch.nn.LazyLinear(4)
    with torch.no_grad():
        head(_tokens(model, x_val[:2], grid))  # materialise the lazy head
    optimizer = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=lr)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for step in range(steps + 1):
        if step % 100 == 0 or step == steps:
            with torch.no_grad():
                r2 = _r2(head(_tokens(model, x_val, grid) * 10).numpy(), y_val.numpy())
            print(f"step {step} ({time.perf_counter() - t0:.0f} s): held-out R^2 {np.round(r2, 3)}")
        if step == steps:
            break
        idx = torch.as_tensor(rng.integers(0, len(x_train), 32))
        loss = ((head(_tokens(model, x_train[idx], grid) * 10) - y_train[idx]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _save(model, checkpoint, out)


def centre(data: str, checkpoint: str, out: str, pairs: int) -> None:
    from datasets import load_from_disk

    rows = load_from_disk(data)["train"].select(range(pairs))
    model, processor = _load(checkpoint)
    pixels, grid = _search_pixels(processor, rows)
    last = model.model.visual.merger.mlp[-1]
    with torch.no_grad():
        tokens = _tokens(model.eval(), pixels, grid).view(-1, last.out_features)
        mean = tokens.mean(0)
        scale = 1.0 / (tokens - mean).norm(dim=-1).mean()
        last.weight.mul_(scale)
        last.bias.mul_(scale).sub_(mean * scale)
        after = _tokens(model, pixels, grid).view(-1, last.out_features)
    print(f"mean token norm {float(mean.norm()):.3f} -> {float(after.mean(0).norm()):.2e}")
    _save(model, checkpoint, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe")
    p.add_argument("data")
    p.add_argument("checkpoint")
    p.add_argument("--pairs", type=int, default=800)
    t = sub.add_parser("pretrain")
    c = sub.add_parser("centre")
    for writer, pairs in ((t, 8000), (c, 400)):
        writer.add_argument("data")
        writer.add_argument("checkpoint")
        writer.add_argument("out")
        writer.add_argument("--pairs", type=int, default=pairs)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    if args.command == "probe":
        probe(args.data, args.checkpoint, args.pairs)
    elif args.command == "centre":
        centre(args.data, args.checkpoint, args.out, args.pairs)
    else:
        pretrain(args.data, args.checkpoint, args.out, args.steps, args.lr, args.pairs)


if __name__ == "__main__":
    main()
