"""In-process backend on transformers: any Qwen2.5-VL checkpoint directory, CPU or GPU.

Inputs are built by `ImageTextProcessor` (the stock Qwen2.5-VL processor minus its video
processor, which needs torchvision), the same processor the trainers use.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path

from r1track.backends.base import GenerationRequest, PixelLimits
from r1track.errors import BackendError, UserError
from r1track.prompts import chat_messages

SUPPORTED_MODEL_TYPES = ("qwen2_5_vl",)
ADAPTER_CONFIG = "adapter_config.json"  # a LoRA adapter saved by `r1track train`


def load_model(path: str, dtype):
    """A Qwen2.5-VL model from a checkpoint, or base model + LoRA adapter (merged for speed)."""
    from transformers import AutoModelForImageTextToText

    adapter = Path(path) / ADAPTER_CONFIG
    if adapter.is_file() and not (Path(path) / "config.json").is_file():
        import json

        from peft import PeftModel

        base = json.loads(adapter.read_text())["base_model_name_or_path"]
        model = AutoModelForImageTextToText.from_pretrained(resolve_checkpoint(base), dtype=dtype)
        return PeftModel.from_pretrained(model, path).merge_and_unload()
    return AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)


def resolve_checkpoint(model: str) -> str:
    """Check that `model` names a checkpoint: a directory with config.json, or a Hub id
    (`org/name`). Raises `UserError` with the reason otherwise."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {model!r} is a file, not a checkpoint directory")
        if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
            raise UserError(f"model {model!r} is not a checkpoint directory (no config.json in it)")
        return str(path)
    looks_like_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise UserError(f"model {model!r}: no such directory")
    return model


class HFBackend:
    """Greedy generation with a transformers Qwen-VL model, batched over requests."""

    name = "hf"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        max_batch_size: int = 8,
    ):
        import torch
        from transformers import (
            AutoConfig,
            GenerationConfig,
        )
        from transformers.utils import logging as hf_logging

        from r1track.backends.processor import load_processor

        hf_logging.disable_progress_bar()
        path = resolve_checkpoint(model)
        try:
            adapter = Path(path) / ADAPTER_CONFIG
            if adapter.is_file() and not (Path(path) / "config.json").is_file():
                import json

                config = AutoConfig.from_pretrained(
                    resolve_checkpoint(json.loads(adapter.read_text())["base_model_name_or_path"])
                )
            else:
                config = AutoConfig.from_pretrained(path)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"could not load model {model!r}: {first}") from exc
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise UserError(
                f"model {model!r} is a {config.model_type!r} model; r1track needs one of "
                + ", ".join(SUPPORTED_MODEL_TYPES)
            )
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        self.device = torch.device(device)
        self._lock = threading.Lock()
        self.max_batch_size = max_batch_size
        try:
            self.processor = load_processor(path)
            self.model = load_model(path, getattr(torch, dtype)).to(self.device)
        except (OSError, ValueError) as exc:
            raise UserError(f"could not load model {model!r}: {str(exc).splitlines()[0]}") from exc
        self.model.eval()
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"
        image_processor = self.processor.image_processor
        eos = self.model.generation_config.eos_token_id or tokenizer.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos)
        # The end of the assistant turn always ends an answer, whatever the saved config says.
        eos |= {i for i in (tokenizer.convert_tokens_to_ids("<|im_end|>"),) if isinstance(i, int)}
        eos = sorted(eos)
        # A clean greedy config: released checkpoints ship sampling and repetition-penalty
        # defaults that must not leak into tracking.
        self.generation_config = GenerationConfig(
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )
        size = image_processor.size
        self._limits = PixelLimits(
            min_pixels=int(size["shortest_edge"]),
            max_pixels=int(size["longest_edge"]),
            factor=int(image_processor.patch_size * image_processor.merge_size),
        )

    @property
    def pixel_limits(self) -> PixelLimits:
        return self._limits

    def render(self, request: GenerationRequest) -> str:
        """The prompt text of one request, before image tokens are expanded."""
        return self.processor.apply_chat_template(
            chat_messages(len(request.images), request.text),
            tokenize=False,
            add_generation_prompt=True,
        )

    def encode(self, requests: Sequence[GenerationRequest]):
        """Model inputs of a batch (left-padded), images in request order."""
        images = [im for r in requests for im in r.images]
        return self.processor(
            text=[self.render(r) for r in requests],
            images=images or None,
            padding=True,
            return_tensors="pt",
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        answers: list[str] = []
        # transformers keeps per-call state on the model (Qwen's rope deltas): one call at a time.
        with self._lock:
            for start in range(0, len(requests), self.max_batch_size):
                answers += self._generate_batch(requests[start : start + self.max_batch_size])
        return answers

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        batch = self.encode(requests).to(self.device)
        config = copy.deepcopy(self.generation_config)
        config.max_new_tokens = max(r.max_new_tokens for r in requests)
        try:
            with torch.inference_mode():
                out = self.model.generate(**batch, generation_config=config)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"generation failed: {str(exc).splitlines()[0]}") from exc
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        tokenizer = self.processor.tokenizer
        # Each request keeps only its own budget, so batching never changes an answer's length.
        return [
            tokenizer.decode(row[: r.max_new_tokens], skip_special_tokens=True)
            for row, r in zip(new_tokens, requests, strict=True)
        ]

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
