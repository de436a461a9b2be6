"""Checks of a training config that its types cannot express: values that torch, transformers
or TRL would reject only once the model is loaded, refused up front in config keys.
"""

from __future__ import annotations

import math
import os

from r1track.errors import UserError
from r1track.training.config import TrainConfig

DTYPES = ("auto", "bfloat16", "float16", "float32")
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)


def _require(ok: bool, key: str, value, rule: str) -> None:
    if not ok:
        raise UserError(f"{key}={value} {rule}")


def _finite(value: float) -> bool:
    return math.isfinite(value)


def check_config(config: TrainConfig, algorithm: str = "sft", world_size: int | None = None):
    """Refuse, naming the key, values that torch, transformers or TRL would reject only once the
    model is loaded (or would quietly read as something else: `optim.max_steps=0` runs the
    epochs, `data.max_train_samples=0` every row). `algorithm`: sft, grpo or vision;
    `world_size`: processes in the run (default: $WORLD_SIZE, as torchrun and accelerate set)."""
    o, log = config.optim, config.logging
    _require(
        config.model.dtype in DTYPES,
        "model.dtype",
        config.model.dtype,
        "is not one of " + ", ".join(DTYPES),
    )
    _require(
        o.learning_rate > 0 and _finite(o.learning_rate),
        "optim.learning_rate",
        o.learning_rate,
        "must be a positive number",
    )
    _require(
        o.lr_scheduler_type in SCHEDULERS,
        "optim.lr_scheduler_type",
        o.lr_scheduler_type,
        "is not one of " + ", ".join(SCHEDULERS),
    )
    _require(0 <= o.warmup_ratio < 1, "optim.warmup_ratio", o.warmup_ratio, "must be in [0, 1)")
    _require(
        o.weight_decay >= 0 and _finite(o.weight_decay),
        "optim.weight_decay",
        o.weight_decay,
        "must be >= 0",
    )
    _require(
        o.max_steps == -1 or o.max_steps >= 1,
        "optim.max_steps",
        o.max_steps,
        "must be at least 1, or -1 to run optim.num_train_epochs",
    )
    if o.max_steps == -1:
        _require(
            o.num_train_epochs > 0 and _finite(o.num_train_epochs),
            "optim.num_train_epochs",
            o.num_train_epochs,
            "must be positive",
        )
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps"):
        _require(getattr(o, key) >= 1, f"optim.{key}", getattr(o, key), "must be at least 1")
    _require(
        o.max_grad_norm >= 0 and _finite(o.max_grad_norm),
        "optim.max_grad_norm",
        o.max_grad_norm,
        "must be >= 0 (0: no clipping)",
    )
    for key in ("logging_steps", "save_steps"):
        _require(getattr(log, key) >= 1, f"logging.{key}", getattr(log, key), "must be at least 1")
    for key in ("save_total_limit", "eval_steps"):
        value = getattr(log, key)
        _require(
            value is None or value >= 1, f"logging.{key}", value, "must be at least 1 (or null)"
        )
    samples = config.data.max_train_samples
    _require(
        samples is None or samples >= 1,
        "data.max_train_samples",
        samples,
        "must be at least 1 (or null: every row)",
    )
    length = config.sft.max_length
    _require(
        length is None or length >= 1, "sft.max_length", length, "must be at least 1 (or null)"
    )
    for key, names in (
        ("model.freeze", config.model.freeze),
        ("lora.target_modules", config.lora.target_modules),
        ("logging.report_to", config.logging.report_to),
    ):  # OmegaConf lets a mapping or list through as an element of a list[str]
        _require(all(isinstance(n, str) for n in names), key, names, "must be a list of names")
    if config.lora.enabled:
        lora = config.lora
        _require(lora.r >= 1, "lora.r", lora.r, "must be at least 1")
        _require(lora.alpha > 0, "lora.alpha", lora.alpha, "must be positive")
        _require(0 <= lora.dropout < 1, "lora.dropout", lora.dropout, "must be in [0, 1)")
    if algorithm == "grpo":
        _check_grpo(config, world_size)
    if algorithm == "vision":
        v = config.vision
        for key in ("pairs", "eval_pairs", "centre_pairs"):
            _require(getattr(v, key) >= 1, f"vision.{key}", getattr(v, key), "must be at least 1")
        _require(
            v.head_scale > 0 and _finite(v.head_scale),
            "vision.head_scale",
            v.head_scale,
            "must be positive",
        )


def _check_grpo(config: TrainConfig, world_size: int | None) -> None:
    """TRL's GRPOConfig rules, in config keys: groups of `grpo.num_generations` completions
    (at least 2) must fill the generation batch, per-device batch x processes x accumulation."""
    o, g = config.optim, config.grpo
    _require(
        g.num_generations >= 2,
        "grpo.num_generations",
        g.num_generations,
        "must be at least 2 (GRPO compares completions within a group)",
    )
    processes = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    _require(
        g.updates_per_rollout >= 1,
        "grpo.updates_per_rollout",
        g.updates_per_rollout,
        "must be at least 1",
    )
    _require(g.num_iterations >= 1, "grpo.num_iterations", g.num_iterations, "must be at least 1")
    _require(0 < g.epsilon < 1, "grpo.epsilon", g.epsilon, "must be in (0, 1)")
    batch = o.per_device_train_batch_size * processes * o.gradient_accumulation_steps
    rollout = batch * max(g.updates_per_rollout, 1)
    updates = (
        f" x grpo.updates_per_rollout {g.updates_per_rollout}" if g.updates_per_rollout > 1 else ""
    )
    _require(
        rollout % g.num_generations == 0,
        "grpo.num_generations",
        g.num_generations,
        f"must divide the generation batch {rollout} (optim.per_device_train_batch_size "
        f"{o.per_device_train_batch_size} x {processes} process(es) x "
        f"optim.gradient_accumulation_steps {o.gradient_accumulation_steps}{updates})",
    )
    _require(g.beta >= 0 and _finite(g.beta), "grpo.beta", g.beta, "must be >= 0")
    _require(
        g.max_completion_length >= 1,
        "grpo.max_completion_length",
        g.max_completion_length,
        "must be at least 1",
    )
    _require(
        g.temperature > 0 and _finite(g.temperature),
        "grpo.temperature",
        g.temperature,
        "must be positive",
    )
    _require(
        g.vllm_mode in ("colocate", "server"),
        "grpo.vllm_mode",
        g.vllm_mode,
        "must be colocate or server",
    )
