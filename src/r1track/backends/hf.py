"""In-process backend on transformers: any Qwen2.5-VL checkpoint directory, CPU or GPU.

The stock `Qwen2_5_VLProcessor` cannot be built without a video processor, which needs
torchvision; torchvision is not installable on CPU-only machines here. `QwenVLInputs` does the
processor's job for images with only the tokenizer and the PIL image processor.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from r1track.backends.base import GenerationRequest, PixelLimits
from r1track.errors import BackendError, UserError
from r1track.prompts import chat_messages

SUPPORTED_MODEL_TYPES = ("qwen2_5_vl",)
IMAGE_TOKEN = "<|image_pad|>"


def resolve_checkpoint(model: str) -> str:
    """Check that `model` names a checkpoint: a directory with config.json, or a Hub id
    (`org/name`). Raises `UserError` with the reason otherwise."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {model!r} is a file, not a checkpoint directory")
        if not (path / "config.json").is_file():
            raise UserError(f"model {model!r} is not a checkpoint directory (no config.json in it)")
        return str(path)
    looks_like_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise UserError(f"model {model!r}: no such directory")
    return model


class QwenVLInputs:
    """Turns (images, text) requests into the tensors Qwen-VL's `generate` takes.

    Renders the chat template, expands every `<|image_pad|>` into one token per merged patch,
    tokenises with left padding, and marks image tokens in `mm_token_type_ids` (without which
    transformers silently falls back to 1-D rotary positions).
    """

    def __init__(self, tokenizer, image_processor, chat_template: str):
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        self.image_processor = image_processor
        self.chat_template = chat_template
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    def render(self, num_images: int, text: str) -> str:
        """The prompt text of one request, before image tokens are expanded."""
        return self.tokenizer.apply_chat_template(
            chat_messages(num_images, text),
            chat_template=self.chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )

    def __call__(self, requests: Sequence[tuple[Sequence[Image.Image], str]]):
        images = [im for ims, _ in requests for im in ims]
        vision = self.image_processor(images=images, return_tensors="pt") if images else {}
        merge = self.image_processor.merge_size**2
        counts = (vision["image_grid_thw"].prod(-1) // merge).tolist() if images else []
        texts, k = [], 0
        for ims, text in requests:
            parts = self.render(len(ims), text).split(IMAGE_TOKEN)
            if len(parts) - 1 != len(ims):
                raise BackendError(
                    f"chat template produced {len(parts) - 1} image slots for {len(ims)} images"
                )
            expanded = parts[0]
            for part in parts[1:]:
                expanded += IMAGE_TOKEN * counts[k] + part
                k += 1
            texts.append(expanded)
        batch = self.tokenizer(texts, padding=True, return_tensors="pt")
        batch["mm_token_type_ids"] = (batch["input_ids"] == self.image_token_id).int()
        if images:
            batch["pixel_values"] = vision["pixel_values"]
            batch["image_grid_thw"] = vision["image_grid_thw"]
        return batch


def _chat_template(path: str, tokenizer) -> str:
    """The checkpoint's chat template: tokenizer's, else chat_template.jinja / .json beside it."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    local = Path(path)
    if (local / "chat_template.jinja").is_file():
        return (local / "chat_template.jinja").read_text()
    if (local / "chat_template.json").is_file():
        import json

        return json.loads((local / "chat_template.json").read_text())["chat_template"]
    raise UserError(f"model {path!r} has no chat template (tokenizer or chat_template.jinja)")


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
            AutoModelForImageTextToText,
            AutoTokenizer,
            GenerationConfig,
            Qwen2VLImageProcessorPil,
        )
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = resolve_checkpoint(model)
        try:
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
            tokenizer = AutoTokenizer.from_pretrained(path)
            image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
            self.model = AutoModelForImageTextToText.from_pretrained(
                path, dtype=getattr(torch, dtype)
            ).to(self.device)
        except (OSError, ValueError) as exc:
            raise UserError(f"could not load model {model!r}: {str(exc).splitlines()[0]}") from exc
        self.model.eval()
        self.inputs = QwenVLInputs(tokenizer, image_processor, _chat_template(path, tokenizer))
        self.tokenizer = tokenizer
        eos = self.model.generation_config.eos_token_id or tokenizer.eos_token_id
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

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        answers: list[str] = []
        # transformers keeps per-call state on the model (Qwen's rope deltas): one call at a time.
        with self._lock:
            for start in range(0, len(requests), self.max_batch_size):
                answers += self._generate_batch(requests[start : start + self.max_batch_size])
        return answers

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        batch = self.inputs([(r.images, r.text) for r in requests]).to(self.device)
        config = copy.deepcopy(self.generation_config)
        config.max_new_tokens = max(r.max_new_tokens for r in requests)
        try:
            with torch.inference_mode():
                out = self.model.generate(**batch, generation_config=config)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"generation failed: {str(exc).splitlines()[0]}") from exc
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        # Each request keeps only its own budget, so batching never changes an answer's length.
        return [
            self.tokenizer.decode(row[: r.max_new_tokens], skip_special_tokens=True)
            for row, r in zip(new_tokens, requests, strict=True)
        ]

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
