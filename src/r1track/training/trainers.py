"""`r1track train sft|grpo`: thin layers over TRL's SFTTrainer and GRPOTrainer.

We only translate our config into TRL's, set up the model (full fine-tuning or LoRA, vision tower
trained or frozen) and save an output directory that the tracker loads directly: weights (or a
LoRA adapter), the processor (tokenizer, image processor, chat template) and the config used.
Multi-GPU and multi-node runs go through `accelerate launch` / `torchrun` unchanged.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict
from pathlib import Path

from r1track.errors import UserError
from r1track.models import ADAPTER_CONFIG, check_weights, choose_dtype, resolve_checkpoint
from r1track.training.checks import check_config
from r1track.training.config import TrainConfig
from r1track.training.resume import resume_checkpoint, resuming

TRAIN_INFO = "r1track_train.json"
# Qwen2.5-VL's vision linear layers: attention qkv / proj, the gated MLP, the merger's two
# linear layers (mlp.1 between them is its GELU)
VISION_LINEAR = (
    r".*visual\.(blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(gate|up|down)_proj)|merger\.mlp\.[02])"
)
REQUIRED_COLUMNS = {"prompt", "images", "solution"}


def _device_args() -> dict:
    import torch

    return {} if torch.cuda.is_available() else {"use_cpu": True}


def _check_report_to(services: list[str]) -> list[str]:
    for name in services:
        module = {"tensorboard": "tensorboard", "wandb": "wandb"}.get(name)
        if module is None:
            raise UserError(f"logging.report_to: unknown service {name!r} (tensorboard, wandb)")
        if importlib.util.find_spec(module) is None:
            raise UserError(f"logging.report_to: {name} is not installed (pip install {module})")
    return services or ["none"]


def load_data(config: TrainConfig):
    """The train and validation splits of a `r1track data build` dataset."""
    from datasets import DatasetDict, load_from_disk

    path = Path(config.data.path)
    if not path.is_dir():
        raise UserError(
            f"data.path {path}: no such dataset directory (make one with r1track data build)"
        )
    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"data.path {path}: not a saved dataset ({exc})") from exc
    if not isinstance(data, DatasetDict) or "train" not in data:
        raise UserError(f"data.path {path}: expected train and validation splits")
    missing = REQUIRED_COLUMNS - set(data["train"].column_names)
    if missing:
        raise UserError(f"data.path {path}: missing columns {sorted(missing)}")
    train = data["train"]
    if config.data.max_train_samples:
        train = train.select(range(min(len(train), config.data.max_train_samples)))
    if len(train) == 0:
        raise UserError(f"data.path {path}: the train split is empty")
    return train, data.get("validation")


def load_model(config: TrainConfig):
    """The model to train: full or LoRA, with the vision tower trained or frozen."""
    import torch
    from transformers import AutoModelForImageTextToText, set_seed

    path = resolve_checkpoint(config.model.path)
    check_weights(path)
    # seeded before the model is built: LoRA's initial adapter weights are drawn here, before the
    # Trainer seeds, and differed from run to run with the same seed
    set_seed(config.optim.seed)
    dtype = choose_dtype(config.model.dtype, torch.cuda.is_available())
    try:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=getattr(torch, dtype))
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load model {path!r}: {str(exc).splitlines()[0]}") from exc
    if config.lora.enabled:
        from peft import LoraConfig, get_peft_model

        if config.lora.vision and not config.model.train_vision:
            raise UserError(
                "lora.vision puts adapters on the vision tower: needs model.train_vision"
            )
        names = "|".join(config.lora.target_modules)
        targets = rf".*language_model.*\.({names})"
        if config.lora.vision:  # also every linear layer of the tower and its projector
            targets = rf"({targets})|{VISION_LINEAR}"
        lora = LoraConfig(
            r=config.lora.r,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=targets,
            # without lora.vision a trained tower is trained fully, saved with the adapter
            modules_to_save=["visual"]
            if config.model.train_vision and not config.lora.vision
            else None,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    else:
        for param in model.model.visual.parameters():
            param.requires_grad = config.model.train_vision
        frozen = 0
        for name, param in model.named_parameters():
            if any(part in name for part in config.model.freeze):
                param.requires_grad = False
                frozen += 1
        if config.model.freeze and not frozen:
            raise UserError(f"model.freeze {config.model.freeze}: matches no parameter")
    if config.lora.enabled and config.model.freeze:
        raise UserError("model.freeze applies to full training, not with lora.enabled")
    return model, path


def _common_args(config: TrainConfig) -> dict:
    o, log = config.optim, config.logging
    return dict(
        output_dir=config.output_dir,
        learning_rate=o.learning_rate,
        lr_scheduler_type=o.lr_scheduler_type,
        warmup_steps=o.warmup_ratio,  # a float in [0, 1) is a ratio in transformers 5
        weight_decay=o.weight_decay,
        num_train_epochs=o.num_train_epochs,
        max_steps=o.max_steps,
        per_device_train_batch_size=o.per_device_train_batch_size,
        gradient_accumulation_steps=o.gradient_accumulation_steps,
        bf16=o.bf16,
        gradient_checkpointing=o.gradient_checkpointing,
        max_grad_norm=o.max_grad_norm,
        seed=o.seed,
        logging_steps=log.logging_steps,
        save_steps=log.save_steps,
        save_total_limit=log.save_total_limit,
        report_to=_check_report_to(log.report_to),
        remove_unused_columns=False,
        **_device_args(),
    )


# What builds made before a setting was recorded used (the tracker's default differs for some).
_BUILT_BEFORE = {"layout": "r1track", "resize": "pil", "image_format": "jpeg"}


def settings_from_build(data_path: str | Path) -> dict:
    """The tracking settings a `data build` dataset was made with (its r1track_build.json), as
    `r1track_tracker.json` keys: each setting the build recorded under its name (prompt, think,
    layout, tint, resize, image format), the crop size and context factor when the build
    used one of each, and the grounding images' pixel limit when it made grounding samples. {}
    for data without that record
    (`data import`). Builds from before a setting existed get the value they were made with."""
    from r1track.tracking.settings import SETTINGS_KEYS
    from r1track.training.data import BUILD_INFO

    path = Path(data_path) / BUILD_INFO
    build = json.loads(path.read_text()).get("config") if path.is_file() else None
    if not build:
        return {}
    sampling = build["sampling"]
    # a setting the build recorded under its own name (in the build or its sampling section)
    record = {**_BUILT_BEFORE, **sampling, **{k: v for k, v in build.items() if k != "sampling"}}
    settings = {key: record[key] for key in SETTINGS_KEYS if key in record}
    if len(sampling["sizes"]) == 1:
        settings["crop_size"] = sampling["sizes"][0]
    low, high = sampling["context_range"]
    context = sampling.get("template_context") or (low if low == high else None)
    if context is not None:
        settings["context"] = context
    if sampling.get("grounding_rate"):  # trained to ground on frames of at most this many pixels
        settings["grounding_max_pixels"] = sampling["grounding_pixels"]
    return settings


def write_trained_settings(out: Path, base_path: str, data_path: str) -> None:
    """`r1track_tracker.json` for a trained checkpoint: the base model's settings (a bundle being
    fine-tuned), updated with those its training data were built with, so that `track` and `eval`
    use the geometry and prompt it was trained on without flags."""
    from r1track.models import read_settings, write_settings

    settings = {**read_settings(base_path), **settings_from_build(data_path)}
    if settings:
        write_settings(out, **settings)


def _save(trainer, model, processor, config: TrainConfig, base_path: str, metrics: dict) -> Path:
    """Write the final checkpoint the tracker loads: weights or adapter, processor, config."""
    from r1track.backends.processor import save_processor

    out = Path(config.output_dir)
    if not trainer.is_world_process_zero():
        return out
    if config.lora.enabled:
        if config.lora.merge:
            model.merge_and_unload().save_pretrained(out)
        else:
            model.save_pretrained(out)  # adapter_config.json + adapter weights
            adapter = json.loads((out / ADAPTER_CONFIG).read_text())
            adapter["base_model_name_or_path"] = str(base_path)
            (out / ADAPTER_CONFIG).write_text(json.dumps(adapter, indent=2))
    else:
        trainer.save_model(str(out))
    save_processor(processor, out)
    write_trained_settings(out, base_path, config.data.path)
    info = {"config": asdict(config), "metrics": metrics}
    (out / TRAIN_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return out


def run_sft(config: TrainConfig) -> Path:
    """Supervised fine-tuning on the dataset's completions (loss on the answer only)."""
    from trl import SFTConfig, SFTTrainer

    from r1track.backends.processor import load_processor

    check_config(config, "sft")
    train, val = load_data(config)
    model, base = load_model(config)
    processor = load_processor(base)
    do_eval = bool(val is not None and len(val) and config.logging.eval_steps)
    args = SFTConfig(
        **_common_args(config),
        max_length=config.sft.max_length,
        eval_strategy="steps" if do_eval else "no",
        eval_steps=config.logging.eval_steps if do_eval else None,
    )
    trainer = resuming(SFTTrainer)(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=val if do_eval else None,
        processing_class=processor,
    )
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    return _save(trainer, model, processor, config, base, result.metrics)


def run_grpo(config: TrainConfig) -> Path:
    """GRPO with R1-Track's rule-based rewards (or plain IoU / GIoU)."""
    from trl import GRPOConfig, GRPOTrainer

    from r1track.backends.processor import load_processor
    from r1track.training.rewards import REWARDS

    check_config(config, "grpo")
    g = config.grpo
    if g.reward not in REWARDS:
        raise UserError(f"grpo.reward must be one of {', '.join(REWARDS)}, got {g.reward!r}")
    if g.scale_rewards not in ("group", "batch", "none"):
        raise UserError(f"grpo.scale_rewards must be group, batch or none, got {g.scale_rewards!r}")
    train, _ = load_data(config)
    model, base = load_model(config)
    processor = load_processor(base)
    vllm = {}
    if g.use_vllm:
        vllm = {"use_vllm": True, "vllm_mode": g.vllm_mode}
        if g.vllm_server_base_url:
            vllm["vllm_server_base_url"] = g.vllm_server_base_url
    args = GRPOConfig(
        **_common_args(config),
        num_generations=g.num_generations,
        beta=g.beta,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        steps_per_generation=g.updates_per_rollout * config.optim.gradient_accumulation_steps,
        num_iterations=g.num_iterations,
        epsilon=g.epsilon,
        **vllm,
    )
    trainer = resuming(GRPOTrainer)(
        model=model,
        reward_funcs=[REWARDS[g.reward]],
        args=args,
        train_dataset=train,
        processing_class=processor,
    )
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    return _save(trainer, model, processor, config, base, result.metrics)
