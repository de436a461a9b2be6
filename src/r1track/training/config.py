"""Training configuration: nested dataclasses, defaults <- YAML file <- `key=value` overrides,
merged by OmegaConf (structured configs, as EasyR1 loads its own).

Unknown keys are rejected by their dotted name (a typo must not silently fall back to a default),
values of the wrong type by key and expected type; the values' ranges are checked by
`r1track.training.checks.check_config`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import Container, DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    InterpolationResolutionError,
    OmegaConfBaseException,
    ValidationError,
)

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


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _expected(key: str) -> str:
    """What the field at dotted `key` (`model.freeze[0]`: an element of it) takes, in words."""
    hint = TrainConfig
    for part in key.split("[")[0].split("."):
        hint = typing.get_type_hints(hint)[part]
    if dataclasses.is_dataclass(hint):
        return "a section (a mapping of its keys)"
    if typing.get_origin(hint) is list:
        return _KINDS[typing.get_args(hint)[0]] if "[" in key else "a list, e.g. [a, b]"
    kinds = [_KINDS[a] for a in typing.get_args(hint) or (hint,) if a is not type(None)]
    return " or ".join(kinds + ["null"] * (type(None) in typing.get_args(hint)))


def _user_error(exc: OmegaConfBaseException, merging: tuple[str, object]) -> UserError:
    """OmegaConf's error as ours, naming the dotted key. `merging`: the key and value being
    merged, for the errors that OmegaConf raises without them (a YAML section's bad value)."""
    key, value = (exc.full_key, exc.value) if exc.full_key else merging
    if isinstance(exc, (ConfigKeyError, ConfigAttributeError)):
        return UserError(f"unknown config key {key!r}")
    if isinstance(exc, ValidationError) and not isinstance(exc, InterpolationResolutionError):
        if isinstance(value, Container):
            value = OmegaConf.to_container(value)
        got = "null" if value is None else shorten(value) if isinstance(value, str) else value
        with contextlib.suppress(KeyError, TypeError):
            return UserError(f"config key {key!r}: expected {_expected(key)}, got {got}")
    return UserError(f"config key {key!r}: {str(exc.msg).splitlines()[0]}")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong, and on which line."""
    mark = getattr(exc, "problem_mark", None)
    where = f", line {mark.line + 1}" if mark else ""
    return (getattr(exc, "problem", None) or str(exc).splitlines()[0]) + where


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults <- YAML file <- `dotted.key=value` overrides (value read as YAML), merged by
    OmegaConf into the dataclasses' schema. Raises `UserError` on any unknown key or bad value."""
    merged = OmegaConf.structured(TrainConfig)  # struct mode: an unknown key is an error
    merging: tuple[str, object] = ("", None)
    try:
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise UserError(f"--config {path}: no such file")
            try:
                data = OmegaConf.load(path)
            except yaml.YAMLError as exc:  # also a key given twice
                raise UserError(f"--config {path}: not valid YAML ({_yaml_problem(exc)})") from exc
            if not isinstance(data, DictConfig):
                raise UserError(f"--config {path}: expected a mapping of config keys")
            for key, value in OmegaConf.to_container(data).items():
                merging = (str(key), value)  # one section at a time: its bad value names it
                merged.merge_with({key: value})
        for assignment in overrides:
            if "=" not in assignment:
                raise UserError(f"override {shorten(assignment)}: expected KEY=VALUE")
            merging = (assignment.split("=", 1)[0], None)
            try:
                merged.merge_with_dotlist([assignment])
            except yaml.YAMLError as exc:
                bad = shorten(assignment)
                raise UserError(f"override {bad}: not valid YAML ({_yaml_problem(exc)})") from exc
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise _user_error(exc, merging) from None
    if not config.output_dir:
        raise UserError("config: output_dir is required")
    if not config.model.path:
        raise UserError("config: model.path is required")
    if not config.data.path:
        raise UserError("config: data.path is required")
    return config
