"""Resuming training from a `checkpoint-N` folder of the output directory: which one
(`resume_checkpoint`: the newest complete one), and a Trainer whose reload restores every
trained tensor (`resuming`), which transformers' own reload does not for Qwen2.5-VL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from r1track.errors import UserError
from r1track.models import check_weights
from r1track.training.config import TrainConfig


def load_checkpoint_weights(model, checkpoint: str | Path) -> None:
    """Load a Trainer checkpoint's full weights into `model`, every tensor or an error.

    `save_pretrained` writes Qwen2.5-VL's weights under their original checkpoint names
    (`model.layers.*`, `visual.*`), while the live model names them `model.language_model.*` and
    `model.visual.*`. transformers' Trainer reloads a checkpoint with a non-strict
    `load_state_dict` on the saved names, so on resume no tensor matches and training silently
    continues from the initial weights. `from_pretrained` applies the model's own name mapping;
    its tensors are then copied in strictly.
    """
    import torch

    dtype = next(model.parameters()).dtype
    try:
        loaded = type(model).from_pretrained(str(checkpoint), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise UserError(f"resume: cannot read {checkpoint}: {str(exc).splitlines()[0]}") from exc
    try:
        with torch.no_grad():
            model.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as exc:
        raise UserError(
            f"resume: {checkpoint} does not fit this model: {str(exc).splitlines()[0]}"
        ) from exc


def _has_file(checkpoint: str, *names: str) -> bool:
    return any((Path(checkpoint) / name).is_file() for name in names)


def resuming(trainer_class):
    """`trainer_class` whose resume restores every trained tensor of the checkpoint.

    Two gaps in transformers' reload are closed: full weights go through
    `load_checkpoint_weights` (the saved names differ from the live ones); and a LoRA checkpoint
    that also holds sub-folder adapters (TRL's GRPO saves its reference copy in `ref/`) gets its
    top-level adapter loaded too, which transformers skips whenever sub-folders exist.
    DeepSpeed and FSDP checkpoints keep their own loaders.
    """
    from transformers.utils import (
        ADAPTER_SAFE_WEIGHTS_NAME,
        ADAPTER_WEIGHTS_NAME,
        SAFE_WEIGHTS_INDEX_NAME,
        SAFE_WEIGHTS_NAME,
    )

    class Resuming(trainer_class):
        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            target = self.model if model is None else model
            plain = target is self.model and not (self.is_deepspeed_enabled or self.is_fsdp_enabled)
            peft = hasattr(target, "active_adapter") and hasattr(target, "load_adapter")
            full = _has_file(resume_from_checkpoint, SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)
            if plain and full and not peft:
                load_checkpoint_weights(target, resume_from_checkpoint)
                return
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            adapter = _has_file(
                resume_from_checkpoint, ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME
            )
            if plain and peft and adapter:
                target.load_adapter(
                    resume_from_checkpoint, target.active_adapter, is_trainable=True
                )

    Resuming.__name__ = Resuming.__qualname__ = trainer_class.__name__
    return Resuming


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a Trainer checkpoint cannot be resumed from (None when it can): a kill while it was
    being written leaves it without `trainer_state.json` (written last), or a file is missing or
    cut short."""
    if not (checkpoint / "trainer_state.json").is_file():
        return "no trainer_state.json"
    deepspeed = any(checkpoint.glob("global_step*"))
    for name in ("optimizer.pt", "scheduler.pt"):
        if not deepspeed and not (checkpoint / name).is_file():
            return f"no {name}"
    try:
        check_weights(checkpoint)
    except UserError as exc:
        return str(exc)
    return None


def numbered_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """The `checkpoint-N` folders of an output directory with their step N, oldest first (the
    Trainer's naming; `train vision` uses it too)."""
    found = []
    for path in out.glob("checkpoint-*") if out.is_dir() else []:
        step = path.name.removeprefix("checkpoint-")
        if path.is_dir() and step.isdigit():
            found.append((int(step), path))
    return sorted(found)


def resume_checkpoint(config: TrainConfig) -> str | None:
    """The newest complete `checkpoint-N` of `output_dir` to resume from (None: start afresh).
    Newer incomplete ones are passed over, each with a one-line note."""
    out = Path(config.output_dir)
    if not config.resume:
        return None
    found = numbered_checkpoints(out)
    for _, path in reversed(found):
        problem = checkpoint_problem(path)
        if problem is None:
            return str(path)
        _note(f"not resuming from {path}: {problem} (killed while saving?)")
    if found:
        _note(f"no complete checkpoint in {out}: training starts from model.path")
    return None


def _note(text: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # once, also under torchrun / accelerate launch
        print(f"r1track: note: {text}", file=sys.stderr)
