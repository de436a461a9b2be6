"""A Qwen2.5-VL processor that carries only the image processor and the tokenizer.

The stock `Qwen2_5_VLProcessor` also wants a video processor, which needs torchvision; on
CPU-only machines torchvision is not installable (and a broken install breaks transformers' Qwen
image processors). This subclass drops the video processor and keeps everything else of the
stock class: the chat template, image-token expansion, `mm_token_type_ids` (which Qwen's 3-D
rotary positions need), `batch_decode`. The tracker and the trainers both use it, so training and
inference tokenise identically.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, Qwen2_5_VLProcessor, Qwen2VLImageProcessorPil

from r1track.errors import UserError


class ImageTextProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` without a video processor (images and text only)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


def chat_template_of(path: str | Path, tokenizer) -> str:
    """The checkpoint's chat template: the tokenizer's, else chat_template.jinja / .json."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    local = Path(path)
    if (local / "chat_template.jinja").is_file():
        return (local / "chat_template.jinja").read_text()
    if (local / "chat_template.json").is_file():
        return json.loads((local / "chat_template.json").read_text())["chat_template"]
    raise UserError(f"model {str(path)!r} has no chat template (tokenizer or chat_template.jinja)")


def load_processor(path: str | Path) -> ImageTextProcessor:
    """Tokenizer + PIL image processor + chat template of a checkpoint (local dir or Hub id)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
    return ImageTextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=chat_template_of(path, tokenizer),
    )


def save_processor(processor: ImageTextProcessor, out_dir: str | Path) -> None:
    """Save so that `load_processor` (and stock loaders) read it back: tokenizer files,
    preprocessor_config.json and chat_template.jinja."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor.tokenizer.save_pretrained(out)
    processor.image_processor.save_pretrained(out)
    if processor.chat_template:
        (out / "chat_template.jinja").write_text(processor.chat_template)
