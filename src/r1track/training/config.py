"""Training configuration: nested dataclasses, defaults <- YAML file <- `key=value` overrides.

Unknown keys are rejected by their dotted name (a typo must not silently fall back to a default);
the values' ranges are checked by `r1track.training.checks.check_config`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from r1track.errors import UserError, shorten


@dataclass
class ModelSection:
    path: str = ""
    """Checkpoint to start from (a directory, or a Hub id on a machine with internet)."""
    dtype: str = "auto"
    """auto (bf16 on GPU, fp32 on CPU), bfloat16, float16 or float32."""
    train_vision: bool = True
    """Train the vision tower and projector (fully, also with LoRA); False freezes them."""
    freeze: list[str] = field(default_factory=list)
    """Also freeze every parameter whose name contains one of these strings (full training only),
    e.g. `visual.merger.mlp.2` keeps the projector's output layer at its initial weights."""


@dataclass
class LoraSection:
    enabled: bool = False
    """LoRA on the language model's linear layers instead of full fine-tuning."""
    r: int = 12
    alpha: int = 24
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
    )
    """Linear layers of the language model that get adapters."""
    vision: bool = False
    """Adapters on the vision tower's and projector's linear layers too, instead of training the
    tower fully: R1-Track's SFT (LLaMA-Factory, LoRA on all linear layers with the vision tower
    unfrozen). Needs model.train_vision."""
    merge: bool = False
    """Merge the adapters into the weights when saving (a plain checkpoint); otherwise the
    output holds the adapter, which `r1track track/eval --model OUT` also loads."""


@dataclass
class DataSection:
    path: str = ""
    """A dataset written by `r1track data build` (train and validation splits)."""
    max_train_samples: int | None = None
    """Use only the first N training rows."""


@dataclass
class OptimSection:
    learning_rate: float = 1e-5
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    num_train_epochs: float = 2.0
    max_steps: int = -1
    """Stop after this many optimiser steps (-1: run num_train_epochs)."""
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    bf16: bool = False
    gradient_checkpointing: bool = False
    max_grad_norm: float = 1.0
    seed: int = 42


@dataclass
class LoggingSection:
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 3
    report_to: list[str] = field(default_factory=list)
    """Any of tensorboard, wandb (must be installed); empty: no logging service."""
    eval_steps: int | None = None
    """Evaluate on the validation split every N steps (SFT; None: never)."""


@dataclass
class SFTSection:
    max_length: int | None = None
    """Truncate sequences to this many tokens (None: never; image tokens must not be cut)."""


@dataclass
class GRPOSection:
    reward: str = "nothink"
    """nothink, think (R1-Track's rewards), think_v1 (the think reward before the reference's
    mid-May revision, which trained the released GRPO checkpoints), iou, giou, format (a bare
    list of numbers), or
    r1track's own: giou_l1 (GIoU + coordinate L1), giou_size (GIoU - log size error), l1
    (coordinate L1 alone, no size bias), hit (the answer's centre inside the true box)."""
    num_generations: int = 5
    """Group size: completions sampled per prompt."""
    beta: float = 0.01
    """KL coefficient (0 disables the reference model)."""
    loss_type: str = "dapo"
    """TRL loss: grpo, dapo, dr_grpo, bnpo, ..."""
    scale_rewards: str = "group"
    """Divide advantages by the reward's std: group (GRPO), batch, or none (Dr. GRPO: near-equal
    rewards in a group then stay small instead of being blown up to +-1)."""
    max_completion_length: int = 64
    temperature: float = 1.0
    updates_per_rollout: int = 1
    """Optimiser steps per rollout (generation) batch: each rollout is split into this many
    clipped updates, EasyR1's rollout batch / global batch (R1-Track: 512 / 128 = 4 for 5k,
    768 / 128 = 6 for 100k). TRL's steps_per_generation is this x
    optim.gradient_accumulation_steps (it counts micro-batches)."""
    num_iterations: int = 1
    """Passes over each rollout batch (TRL's mu; EasyR1's PPO epochs, 1 in R1-Track)."""
    epsilon: float = 0.2
    """PPO clip range of the policy ratio (TRL's default; EasyR1's clip ratio is not in our
    notes on the reference)."""
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    """colocate or server (then start `trl vllm-serve` separately)."""
    vllm_server_base_url: str | None = None


@dataclass
class VisionSection:
    """`r1track train vision` (r1track.training.vision): box regression, then centring."""

    pairs: int = 8000
    """The first N training pairs, whose search images are held in memory for the regression."""
    eval_pairs: int = 300
    """Validation pairs for the held-out R^2 printed every logging.logging_steps."""
    centre_pairs: int = 400
    """Training pairs whose visual tokens set the centring."""
    head_scale: float = 10.0
    """Visual tokens are multiplied by this before the linear head (they start small)."""


@dataclass
class TrainConfig:
    output_dir: str = ""
    resume: bool = True
    """Resume from the newest checkpoint in output_dir when there is one."""
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    sft: SFTSection = field(default_factory=SFTSection)
    grpo: GRPOSection = field(default_factory=GRPOSection)
    vision: VisionSection = field(default_factory=VisionSection)


def _coerce(value, annotation, key: str):
    """Check/convert a YAML value against a field's type annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if origin is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list):
            raise UserError(f"config key {key!r}: expected a list, got {value!r}")
        return [_coerce(v, args[0], key) for v in value]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config key {key!r}: expected true or false, got {value!r}")
    if isinstance(value, str) and annotation in (int, float):
        # PyYAML reads 1e-6 (no dot) as text; accept any number written as text
        with contextlib.suppress(ValueError):
            value = int(value) if annotation is int else float(value)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"config key {key!r}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise UserError(f"config key {key!r}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"config key {key!r}: expected text, got {value!r}")
    raise UserError(f"config key {key!r}: unsupported type {annotation}")  # pragma: no cover


def _build(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise UserError(f"config section {prefix.rstrip('.') or '<root>'!r}: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"unknown config key {prefix + unknown[0]!r}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, prefix + name)
    return cls(**kwargs)


def apply_override(data: dict, assignment: str) -> None:
    """Apply one `dotted.key=value` (value parsed as YAML) to a nested dict."""
    if "=" not in assignment:
        raise UserError(f"override {shorten(assignment)}: expected KEY=VALUE")
    key, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"override {shorten(assignment)}: {part!r} is not a section")
    node[parts[-1]] = value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults <- YAML file <- overrides. Raises `UserError` on any unknown key or bad value."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"--config {path}: no such file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise UserError(
                f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})"
            ) from exc
    for assignment in overrides:
        apply_override(data, assignment)
    config = _build(TrainConfig, data)
    if not config.output_dir:
        raise UserError("config: output_dir is required")
    if not config.model.path:
        raise UserError("config: model.path is required")
    if not config.data.path:
        raise UserError("config: data.path is required")
    return config
