"""`r1track train vision`: give a from-scratch vision tower its first sense of position (nano).

A language model trained from scratch does not learn to read a random vision tower's tokens:
they differ little between images, and what differs is a small offset on one large shared vector
that RMSNorm mostly keeps (docs/nano.md, "Why a vision warm-up" and
"Why the vision tower's output is rescaled"). This stage fixes both before SFT:

1. regression: the tower, with a throw-away linear head on its visual tokens, learns to regress
   the search box `(x1, y1, x2, y2) / crop size` by mean squared error (the language model is not
   involved), so that its tokens carry where the target is;
2. centring: the merger's output layer is rescaled so that visual tokens of the training search
   images have mean zero and mean deviation norm 1, so that what the language model sees is the
   difference between images.

Its config is a training YAML (`configs/nano/vision.yaml`): model.path, data.path (a `data build`
dataset with one crop size), output_dir, optim (learning_rate, lr_scheduler_type and
warmup_ratio as transformers names them, max_steps, per-device batch size, seed),
logging.logging_steps (held-out R^2 printed every N steps), logging.save_steps /
save_total_limit (checkpoints) and the `vision` section. It holds `vision.pairs` search images in
memory (8000 at 112 px: ~2.4 GB) and takes minutes on a CPU for nano. Every `save_steps` steps it
writes `output_dir/checkpoint-N/vision_state.pt` (tower, head, optimizer, schedule and both random
generators); with `resume` (the default) a rerun continues from the newest one and ends with the
weights an uninterrupted run would have.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from r1track.errors import UserError
from r1track.training.checks import check_config
from r1track.training.config import TrainConfig
from r1track.training.resume import numbered_checkpoints
from r1track.training.trainers import TRAIN_INFO, load_data, load_model, write_trained_settings

VISION_STATE = "vision_state.pt"


def search_pixels(processor, rows):
    """Pixel patches of each row's search image, (rows, patches, dim), and one image's grid."""
    batch = processor.image_processor(images=[r[-1] for r in rows["images"]], return_tensors="pt")
    grid = batch["image_grid_thw"]
    if not bool((grid == grid[0]).all()):
        raise UserError("search images differ in size: build the dataset with one --sizes value")
    pixels = batch["pixel_values"]
    return pixels.view(len(grid), -1, pixels.shape[-1]), grid[:1]


def visual_tokens(model, pixels, grid):
    """Visual tokens of same-size images, flattened per image: (images, tokens * hidden)."""
    n = pixels.shape[0]
    out = model.model.visual(pixels.reshape(-1, pixels.shape[-1]), grid_thw=grid.repeat(n, 1))
    return out.pooler_output.reshape(n, -1)


def r2_score(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficient of determination per output column."""
    return 1 - ((pred - target) ** 2).sum(0) / ((target - target.mean(0)) ** 2).sum(0)


def _scheduler(optimizer, optim):
    """transformers' learning-rate schedule by name, as the SFT and GRPO trainers use it."""
    from transformers import get_scheduler

    try:
        return get_scheduler(
            optim.lr_scheduler_type,
            optimizer,
            num_warmup_steps=int(optim.warmup_ratio * optim.max_steps),
            num_training_steps=optim.max_steps,
        )
    except ValueError as exc:
        raise UserError(f"optim.lr_scheduler_type: {str(exc).splitlines()[0]}") from exc


def _checkpoints(out: Path) -> list[tuple[int, Path]]:
    """`checkpoint-N` folders of a vision run that hold a complete state, oldest first."""
    return [
        (step, path) for step, path in numbered_checkpoints(out) if (path / VISION_STATE).is_file()
    ]


def _save_state(out: Path, step: int, state: dict, keep: int | None) -> None:
    """Write checkpoint-`step` atomically (a folder renamed into place), then prune old ones."""
    import torch

    final = out / f"checkpoint-{step}"
    tmp = out / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(state, tmp / VISION_STATE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if keep:
        for _, old in _checkpoints(out)[:-keep]:
            shutil.rmtree(old)


def with_boxes(rows):
    """The rows whose solution is a box (absent pairs, solution `[]`, left out)."""
    keep = [i for i, s in enumerate(rows["solution"]) if len(s) == 4]
    return rows if len(keep) == len(rows) else rows.select(keep)


def regress_boxes(model, processor, train, val, config: TrainConfig) -> np.ndarray:
    """Step 1: train the tower (and a linear head) to regress the search box. Returns the final
    held-out R^2 of x1, y1, x2, y2. Saves checkpoints and resumes from the newest one."""
    import torch

    v, o = config.vision, config.optim
    torch.manual_seed(o.seed)
    # The first `pairs` search images are decoded once and held in memory. (Drawing batches from
    # every pair, decoded when drawn, gave a tower whose SFT chain did not learn to read it; this
    # is the variant nano ships from: docs/nano.md, "Why the warm-up holds 8000 pairs in memory".)
    # absent pairs (solution `[]`, `data build --absent-rate`) have no box to regress
    train, val = with_boxes(train), with_boxes(val)
    train = train.select(range(min(v.pairs, len(train))))
    x_train, grid = search_pixels(processor, train)
    x_val, _ = search_pixels(processor, val)
    size = float(train[0]["size"])
    y_train = torch.tensor(train["solution"], dtype=torch.float32) / size
    y_val = np.array(val["solution"], dtype=np.float64) / size
    tower = model.model.visual
    for param in tower.parameters():
        param.requires_grad = True
    head = torch.nn.LazyLinear(4)
    with torch.no_grad():
        head(visual_tokens(model, x_val[:1], grid))  # materialise the lazy head
    optimizer = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=o.learning_rate)
    scheduler = _scheduler(optimizer, o)
    rng = np.random.default_rng(o.seed)
    out, log = Path(config.output_dir), config.logging
    start = 0
    saved = _checkpoints(out) if config.resume else []
    if saved:
        start, path = saved[-1]
        state = torch.load(path / VISION_STATE, weights_only=False)
        tower.load_state_dict(state["tower"])
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"vision: resumed from {path}", file=sys.stderr)
    t0 = time.perf_counter()
    r2 = np.zeros(4)
    for step in range(start, o.max_steps + 1):
        if step % config.logging.logging_steps == 0 or step == o.max_steps:
            tower.eval()
            with torch.no_grad():
                tokens = visual_tokens(model, x_val, grid) * v.head_scale
                r2 = r2_score(head(tokens).numpy(), y_val)
            tower.train()
            elapsed = time.perf_counter() - t0
            print(
                f"vision step {step}/{o.max_steps} ({elapsed:.0f} s): held-out R^2 of the box "
                f"{np.round(r2, 3).tolist()}",
                file=sys.stderr,
                flush=True,
            )
        if step == o.max_steps:
            break
        idx = torch.as_tensor(rng.integers(0, len(x_train), o.per_device_train_batch_size))
        pred = head(visual_tokens(model, x_train[idx], grid) * v.head_scale)
        loss = ((pred - y_train[idx]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if log.save_steps and (step + 1) % log.save_steps == 0 and step + 1 < o.max_steps:
            state = {
                "tower": tower.state_dict(),
                "head": head.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
            }
            _save_state(out, step + 1, state, log.save_total_limit)
    tower.eval()
    return r2


def centre_tokens(model, processor, rows) -> tuple[float, float]:
    """Step 2: rescale the merger's output layer so that the visual tokens of `rows`' search
    images have mean zero and mean deviation norm 1. Returns the mean token's norm before and
    after."""
    import torch

    pixels, grid = search_pixels(processor, rows)
    last = model.model.visual.merger.mlp[-1]
    with torch.no_grad():
        tokens = visual_tokens(model.eval(), pixels, grid).view(-1, last.out_features)
        mean = tokens.mean(0)
        scale = 1.0 / (tokens - mean).norm(dim=-1).mean()
        last.weight.mul_(scale)
        last.bias.mul_(scale).sub_(mean * scale)
        after = visual_tokens(model, pixels, grid).view(-1, last.out_features).mean(0)
    return float(mean.norm()), float(after.norm())


def run_vision(config: TrainConfig) -> Path:
    """Both steps, then save the checkpoint (weights, processor, its other files) to output_dir."""
    from r1track.backends.processor import load_processor, save_processor

    if config.lora.enabled:
        raise UserError("train vision trains the tower fully: lora.enabled must be false")
    check_config(config, "vision")
    train, val = load_data(config)
    if val is None or len(val) == 0:
        raise UserError(f"data.path {config.data.path}: train vision needs a validation split")
    val = val.select(range(min(config.vision.eval_pairs, len(val))))
    model, base = load_model(config)  # regress_boxes makes the whole tower trainable
    processor = load_processor(base)
    r2 = regress_boxes(model, processor, train, val, config)
    centre_rows = train.select(range(min(config.vision.centre_pairs, len(train))))
    before, after = centre_tokens(model, processor, centre_rows)
    print(f"centred visual tokens: mean token norm {before:.3f} -> {after:.2e}", file=sys.stderr)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if Path(base).is_dir() and Path(base).resolve() != out.resolve():
        for item in Path(base).iterdir():  # the checkpoint's other files (settings), not subfolders
            if item.is_file():
                shutil.copy2(item, out / item.name)
    model.save_pretrained(out)
    save_processor(processor, out)
    write_trained_settings(out, base, config.data.path)
    metrics = {"heldout_r2_box": [round(float(x), 4) for x in r2], "mean_token_norm": before}
    info = {"config": asdict(config), "metrics": metrics}
    (out / TRAIN_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return out
