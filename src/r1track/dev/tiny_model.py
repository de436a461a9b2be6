"""Build a tiny, randomly initialised Qwen2.5-VL checkpoint entirely offline.

Tests and smoke runs need a real checkpoint directory (config, weights, tokenizer, image processor,
chat template) that loads through exactly the same code path as a released model, but nothing
can be downloaded on our machines. This module trains a small byte-level BPE tokenizer locally,
wraps it in transformers' `Qwen2Tokenizer` with the Qwen special tokens, and saves a
`Qwen2_5_VLForConditionalGeneration` with a few thousand parameters per layer.

The model is random: its answers are noise, and the tracker falls back on every frame.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

# Qwen's special tokens, in the order Qwen2.5-VL's vocabulary lists them.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# A chat template that renders the same text as Qwen2.5-VL's own for the messages we send:
# a default system turn, images as <|vision_start|><|image_pad|><|vision_end|>, text verbatim.
CHAT_TEMPLATE = (
    "{%- set nl = '\\n' -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "<|im_start|>system{{ nl }}You are a helpful assistant.<|im_end|>{{ nl }}"
    "{%- endif -%}"
    "<|im_start|>{{ message['role'] }}{{ nl }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or part['type'] == 'image_url' -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}"
    "{{ part['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "<|im_end|>{{ nl }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{ nl }}{%- endif -%}"
)


@dataclass(frozen=True)
class TinyModelConfig:
    """Sizes of the tiny model. The defaults build in about a second and run ~100 frames/s."""

    text_hidden: int = 64
    """Hidden size of the language model."""
    text_layers: int = 2
    """Number of decoder layers."""
    text_heads: int = 4
    """Attention heads; head_dim = text_hidden / text_heads must be even."""
    vision_hidden: int = 32
    """Hidden size of the vision tower."""
    vision_depth: int = 2
    """Number of vision blocks."""
    vocab_size: int = 600
    """Target size of the locally trained BPE vocabulary (before special tokens)."""
    seed: int = 0
    """Seed for the tokenizer corpus and the weight initialisation."""
    rope_theta: float = 1e6
    """Rotary base of the language model (Qwen2.5-VL's own: 1e6)."""
    mrope_section: tuple[int, int, int] | None = None
    """Rotary frequencies given to (time, height, width), highest first; None: ~equal thirds."""
    visual_scale: float = 1.0
    """Multiplies the vision merger's output layer at initialisation (visual token size)."""
    merge_size: int = 2
    """Patches merged into one visual token per side (Qwen's 2: a token per 28 x 28 pixels)."""
    vision_heads: int | None = None
    """Attention heads of the vision tower; None: vision_hidden / 64, at least 2."""


# Named sizes for `r1track dev tiny-model --size`: "small" is large enough that model compute,
# not Python overhead, dominates a frame on a CPU (for speed measurements).
SIZES = {
    "tiny": TinyModelConfig(),
    "small": TinyModelConfig(
        text_hidden=512, text_layers=8, text_heads=8, vision_hidden=256, vision_depth=8
    ),
    # The starting point of r1track-nano (~7.4M parameters, ~29 MB in fp32): one visual token per
    # 112 px crop (merge 8), so where the target is must be in what the token says, not in which
    # token says it; a from-scratch decoder did not learn to compare 4 x 4 token grids by position
    # in 53k pairs (docs/nano.md, "Why one visual token per crop"). `r1track train vision` then
    # teaches the tower the position and centres its tokens before SFT (docs/nano.md,
    # "Why a vision warm-up" and "Why the vision tower's output is rescaled").
    "nano": TinyModelConfig(
        text_hidden=256,
        text_layers=4,
        text_heads=4,
        vision_hidden=32,
        vision_depth=4,
        vision_heads=2,
        visual_scale=0.1,
        merge_size=8,
    ),
}


def _tokenizer_corpus(rng: random.Random) -> list[str]:
    # Imported here so that the corpus always matches the prompts the tracker sends.
    from r1track.prompts import GROUNDING_TEMPLATE, THINK_INSTRUCTION, TRACKING_TEMPLATES

    lines = [
        THINK_INSTRUCTION,
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "bbox_2d",
        "```json",
    ]
    for _ in range(400):
        box = "[" + ",".join(str(rng.randint(0, 999)) for _ in range(4)) + "]"
        # The variants the tiny tokenizer has always been trained on, so that it stays the same
        # (`5k-oneline` has the words of `5k`, one newline less).
        for variant in ("5k", "100k", "nano"):
            lines.append(TRACKING_TEMPLATES[variant].format(box=box))
        lines.append(GROUNDING_TEMPLATE.format(description="the red car on the left"))
        lines.append('{"bbox_2d": ' + box + ', "label": "target"}')
    lines += ["the quick brown fox jumps over the lazy dog", "You are a helpful assistant."]
    return lines


def build_tokenizer(config: TinyModelConfig = TinyModelConfig()):
    """Train a byte-level BPE tokenizer locally and wrap it as a transformers `Qwen2Tokenizer`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    rng = random.Random(config.seed)
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(rng), trainer=trainer)
    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    merges = [
        tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]
    ]
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.eos_token = "<|im_end|>"  # as in Qwen's instruct tokenizers: a turn ends the answer
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(out_dir: str | Path, config: TinyModelConfig = TinyModelConfig()) -> Path:
    """Write a complete tiny Qwen2.5-VL checkpoint to `out_dir` and return its path."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )
    from transformers.utils import logging as hf_logging

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(config)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = config.text_hidden // config.text_heads
    half = head_dim // 2
    # mrope splits the rotary half-dimension into temporal, height, width sections.
    mrope = [half - 2 * (half // 3), half // 3, half // 3]
    if config.mrope_section is not None:
        mrope = list(config.mrope_section)
        if sum(mrope) != half:
            raise ValueError(f"mrope_section {mrope} must sum to head_dim / 2 = {half}")
    vocab = len(tokenizer)
    token_side = 14 * config.merge_size  # pixels per visual token side (patch 14)
    model_config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": config.text_hidden,
            "intermediate_size": config.text_hidden * 2,
            "num_hidden_layers": config.text_layers,
            "num_attention_heads": config.text_heads,
            "num_key_value_heads": max(1, config.text_heads // 2),
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": mrope,
                "rope_theta": config.rope_theta,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": config.vision_depth,
            "hidden_size": config.vision_hidden,
            "intermediate_size": config.vision_hidden * 2,
            "num_heads": config.vision_heads or max(2, config.vision_hidden // 64),
            "out_hidden_size": config.text_hidden,
            "fullatt_block_indexes": [config.vision_depth - 1],
            "spatial_merge_size": config.merge_size,
            "window_size": max(112, token_side),
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(config.seed)
    model = Qwen2_5_VLForConditionalGeneration(model_config).eval()
    if config.visual_scale != 1.0:
        with torch.no_grad():
            model.model.visual.merger.mlp[-1].weight.mul_(config.visual_scale)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    hf_logging.disable_progress_bar()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    Qwen2VLImageProcessorPil(
        min_pixels=max(56 * 56, token_side * token_side),
        max_pixels=28 * 28 * 1280,
        merge_size=config.merge_size,
    ).save_pretrained(out)
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return out
