"""In-process backend on transformers: any Qwen2.5-VL checkpoint directory, CPU or GPU.

Inputs are built by `ImageTextProcessor` (the stock Qwen2.5-VL processor minus its video
processor, which needs torchvision), the same processor the trainers use.

Template reuse: a track's template image is the same every frame, and so is everything before it
in the prompt. For a request with a `prefix_key`, that prefix (chat header + template image) is
encoded and prefilled once; each frame then prefills only the search image and the text on top of
the cached keys and values, with Qwen's 3-D rotary positions computed over the whole sequence, and
decodes greedily with one forward per token. Answers are the same as without reuse. It applies to
requests answered one at a time; a batch of several requests takes the batched path without reuse.

Confidence: every answer is an `Answer` whose confidence is `answer_confidence` of the
log-probabilities the model gave the tokens it chose (the raw next-token distribution: greedy
decoding here applies no logits processor), from the answer's first token through its last, the
one that completes a stop string included. The end-of-turn token that ends an answer is not
counted: it is not part of the answer's text. Both paths give the same confidence.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from r1track.backends.base import (
    REPETITION_PENALTY,
    Answer,
    GenerationRequest,
    PixelLimits,
    answer_confidence,
)
from r1track.errors import BackendError, UserError, shorten
from r1track.models import adapter_base, check_weights, choose_dtype, resolve_checkpoint
from r1track.prompts import chat_messages

SUPPORTED_MODEL_TYPES = ("qwen2_5_vl",)
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
MAX_PREFIXES = 16  # cached track prefixes (least recently used ones are dropped)


def load_model(path: str, dtype):
    """A Qwen2.5-VL model from a checkpoint, or base model + LoRA adapter (merged for speed)."""
    from transformers import AutoModelForImageTextToText

    base = adapter_base(path)
    if base is not None:
        from peft import PeftModel

        check_weights(base)
        check_weights(path)
        model = AutoModelForImageTextToText.from_pretrained(base, dtype=dtype)
        return PeftModel.from_pretrained(model, path).merge_and_unload()
    check_weights(path)
    return AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)


def check_device(device: str) -> str:
    """The torch device to run on: `auto` (CUDA when there is a GPU, else the CPU) or a device
    this machine has (`cpu`, `cuda`, `cuda:N`, `mps`); refuses anything else in one line."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda", "mps"):
        raise UserError(
            f"--device {shorten(device)}: not a valid device; use auto, cpu, cuda, cuda:N or mps"
        )
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"--device {device}: CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= count:
            raise UserError(f"--device {device}: this machine has {count} CUDA device(s)")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS (Apple GPU) is not available on this machine")
    return device


class _ChosenLogprobs:
    """A logits processor for `generate` that changes nothing: it records, each step, every row's
    greedy pick (the argmax of the scores, as `generate` takes it when no processor follows this
    one) and that token's log-probability. Two numbers per row and step: no logits are kept."""

    def __init__(self):
        self.steps: list = []

    def __call__(self, input_ids, scores):
        import torch

        picks = scores.argmax(-1, keepdim=True)
        logprobs = torch.log_softmax(scores.float(), -1).gather(-1, picks)
        self.steps.append((logprobs[:, 0], picks[:, 0]))
        return scores

    def per_row(self) -> tuple[list[list[float]], list[list[int]]]:
        """The log-probabilities and the tokens picked, per row: `(logprobs, tokens)`."""
        import torch

        logprobs = torch.stack([lp for lp, _ in self.steps], 1).tolist()
        return logprobs, torch.stack([t for _, t in self.steps], 1).tolist()


@dataclass
class _Prefix:
    """A track's cached prompt prefix: tokens up to the template's end, and their KV cache."""

    text: str
    ids: object  # (1, P) token ids
    grid: object  # (1, 3) template image grid
    cache: object  # DynamicCache holding exactly P positions between uses


class HFBackend:
    """Greedy generation with a transformers Qwen-VL model, batched over requests."""

    name = "hf"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        max_batch_size: int = 8,
        reuse_template: bool = True,
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
        self.checkpoint = path
        """The checkpoint loaded (a directory or a Hub id): `Tracker` takes its settings."""
        try:
            config = AutoConfig.from_pretrained(adapter_base(path) or path)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"could not load model {shorten(model)}: {first}") from exc
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise UserError(
                f"model {shorten(model)} is a {config.model_type!r} model; r1track needs one of "
                + ", ".join(SUPPORTED_MODEL_TYPES)
            )
        device = check_device(device)
        dtype = choose_dtype(dtype, device.startswith("cuda"))
        self.device = torch.device(device)
        self._lock = threading.Lock()
        self.max_batch_size = max_batch_size
        self.reuse_template = reuse_template
        self.keep_scores = False
        """Diagnostics: keep the last call's next-token scores in `last_scores`."""
        self.last_scores = None
        self.last_generated: list[int] = []
        """Diagnostics: tokens generated by the last call (per request)."""
        self._prefixes: OrderedDict[str, _Prefix] = OrderedDict()
        try:
            self.processor = load_processor(path)
            self.model = load_model(path, getattr(torch, dtype)).to(self.device)
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()[0]
            raise UserError(f"could not load model {shorten(model)}: {first}") from exc
        self.model.eval()
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"
        image_processor = self.processor.image_processor
        eos = self.model.generation_config.eos_token_id or tokenizer.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos)
        # The end of the assistant turn always ends an answer, whatever the saved config says.
        eos |= {i for i in (tokenizer.convert_tokens_to_ids("<|im_end|>"),) if isinstance(i, int)}
        eos = sorted(eos)
        # A clean greedy config, with the penalty the openai backend asks servers for: released
        # checkpoints ship sampling and repetition-penalty (1.05) defaults that must not leak into
        # tracking. `generate` fills every field a passed config leaves unset from the model's
        # own config, so that is replaced too: nothing of generation_config.json reaches decoding.
        self.generation_config = GenerationConfig(
            do_sample=False,
            repetition_penalty=REPETITION_PENALTY,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )
        self.model.generation_config = copy.deepcopy(self.generation_config)
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
            chat_messages(request.layout, len(request.images), request.text, request.think),
            tokenize=False,
            add_generation_prompt=True,
        )

    def input_ids(self, request: GenerationRequest) -> list[int]:
        """The token ids `generate` feeds the model for one request answered alone: the cached
        prefix (up to the template's end) and the suffix, as `_generate_single` tokenises them."""
        head, sep, tail = self.render(request).partition(VISION_END)
        if not (sep and len(request.images) >= 2):
            return self.encode([request])["input_ids"][0].tolist()
        prefix, _, _ = self.tokenize_with_images(head + sep, request.images[:1])
        suffix, _, _ = self.tokenize_with_images(tail, request.images[1:])
        return prefix[0].tolist() + suffix[0].tolist()

    def encode(self, requests: Sequence[GenerationRequest]):
        """Model inputs of a batch (left-padded), images in request order."""
        images = [im for r in requests for im in r.images]
        return self.processor(
            text=[self.render(r) for r in requests],
            images=images or None,
            padding=True,
            return_tensors="pt",
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Answer]:
        answers: list[Answer] = []
        # transformers keeps per-call state on the model (Qwen's rope deltas): one call at a time.
        with self._lock:
            if len(requests) == 1 and len(requests[0].images) >= 2:
                return [self._generate_single(requests[0])]
            for start in range(0, len(requests), self.max_batch_size):
                answers += self._generate_batch(requests[start : start + self.max_batch_size])
        return answers

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Answer]:
        import torch

        batch = self.encode(requests).to(self.device)
        config = self._config(requests)
        chosen = _ChosenLogprobs()
        try:
            with torch.inference_mode():
                out = self.model.generate(
                    **batch,
                    generation_config=config,
                    logits_processor=[chosen],
                    tokenizer=self.processor.tokenizer,
                )
            self.last_scores = out.scores
            self.last_generated = [out.sequences.shape[1] - batch["input_ids"].shape[1]] * len(
                requests
            )
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"generation failed: {str(exc).splitlines()[0]}") from exc
        new_tokens = out.sequences[:, batch["input_ids"].shape[1] :].tolist()
        logprobs, picks = chosen.per_row()
        tokenizer = self.processor.tokenizer
        answers = []
        for row, row_logprobs, row_picks, r in zip(
            new_tokens, logprobs, picks, requests, strict=True
        ):
            # Each request keeps only its own budget, so batching never changes an answer's length.
            row = row[: r.max_new_tokens]
            end = self._answer_length(row, r)  # the rest is padding after the row's end
            # the recorder's picks are the tokens: it saw the scores they were chosen from
            sure = row_picks[:end] == row[:end]
            confidence = self._confidence(row[:end], row_logprobs[:end]) if sure else None
            answers.append(Answer(tokenizer.decode(row, skip_special_tokens=True), confidence))
        return answers

    def _config(self, requests: Sequence[GenerationRequest]):
        config = copy.deepcopy(self.generation_config)
        config.max_new_tokens = max(r.max_new_tokens for r in requests)
        stops = sorted({s for r in requests for s in r.stop})
        config.stop_strings = stops or None
        config.return_dict_in_generate = True
        config.output_scores = self.keep_scores
        return config

    def _prefix(self, request: GenerationRequest, prefix_text: str) -> _Prefix:
        """The prompt prefix up to the template's end with its KV cache: from the track's cache
        when reuse is on (computed on first use), else computed now and not kept."""
        import torch

        key = request.prefix_key if self.reuse_template else None
        prefix = self._prefixes.get(key) if key else None
        if prefix is not None and prefix.text == prefix_text:
            self._prefixes.move_to_end(key)
            return prefix
        ids, pixels, grid = self.tokenize_with_images(prefix_text, request.images[:1])
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                pixel_values=pixels,
                image_grid_thw=grid,
                mm_token_type_ids=(ids == self.processor.image_token_id).int(),
                use_cache=True,
            )
        prefix = _Prefix(prefix_text, ids, grid, out.past_key_values)
        if key:
            self._prefixes[key] = prefix
            while len(self._prefixes) > MAX_PREFIXES:
                self._prefixes.popitem(last=False)
        return prefix

    def tokenize_with_images(self, text: str, images):
        """Token ids of `text` with each `<|image_pad|>` expanded to its image's merged patches,
        and the images' pixel values and grids: `(ids, pixel_values, image_grid_thw)`."""
        vision = self.processor.image_processor(images=list(images), return_tensors="pt")
        merge = self.processor.image_processor.merge_size**2
        parts = text.split(IMAGE_PAD)
        expanded = parts[0] + "".join(
            IMAGE_PAD * (int(g.prod()) // merge) + part
            for g, part in zip(vision["image_grid_thw"], parts[1:], strict=True)
        )
        ids = self.processor.tokenizer(expanded, add_special_tokens=False, return_tensors="pt")
        return (
            ids["input_ids"].to(self.device),
            vision["pixel_values"].to(self.device, self.model.dtype),
            vision["image_grid_thw"].to(self.device),
        )

    def _generate_single(self, request: GenerationRequest) -> Answer:
        """One request as prefix (template, cached when reuse is on) + suffix prefill + greedy
        decoding (see the module docstring)."""
        import torch

        head, sep, tail = self.render(request).partition(VISION_END)
        if not sep:
            return self._generate_batch([request])[0]
        prefix = self._prefix(request, head + sep)
        tokenizer = self.processor.tokenizer
        suffix, pixels, grid = self.tokenize_with_images(tail, request.images[1:])
        n_prefix = prefix.ids.shape[1]
        try:
            with torch.inference_mode():
                positions = self._suffix_positions(prefix, suffix, grid)
                out = self._prefill_suffix(prefix, suffix, pixels, grid, positions)
                tokens, logprobs, scores = self._greedy(
                    out.logits[:, -1], int(positions.max()) + 1, prefix.cache, request
                )
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"generation failed: {str(exc).splitlines()[0]}") from exc
        finally:  # back to the bare prefix for the next frame
            prefix.cache.crop(n_prefix - prefix.cache.get_seq_length())
        self.last_scores = scores if self.keep_scores else None
        self.last_generated = [len(tokens)]
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        return Answer(text, self._confidence(tokens, logprobs))

    def _suffix_positions(self, prefix: _Prefix, suffix, grid):
        """Qwen's 3-D rotary positions of prefix + suffix (they depend on everything before, so
        they are computed over the whole sequence); `(3, 1, prefix + suffix length)`."""
        import torch

        ids = torch.cat([prefix.ids, suffix], dim=1)
        positions, _ = self.model.model.get_rope_index(
            ids,
            mm_token_type_ids=(ids == self.processor.image_token_id).int(),
            image_grid_thw=torch.cat([prefix.grid, grid]),
        )
        return positions

    def _prefill_suffix(self, prefix: _Prefix, suffix, pixels, grid, positions):
        """Prefill the search image and the text on top of the cached template prefix (the cache
        grows by the suffix; the caller crops it back)."""
        return self.model(
            input_ids=suffix,
            pixel_values=pixels,
            image_grid_thw=grid,
            position_ids=positions[:, :, prefix.ids.shape[1] :],
            past_key_values=prefix.cache,
            use_cache=True,
        )

    def _greedy(self, logits, position: int, cache, request: GenerationRequest):
        """Greedy decoding from prefilled logits: one forward per token, text positions from
        `position` on; ends after an end-of-turn token, a stop string, or the token budget.
        (The same decisions as `generate` with this config, without its per-token machinery: it
        applies no repetition penalty, which is right while `REPETITION_PENALTY` is 1.0.)
        Returns the tokens, the log-probability of each (from one log-softmax of the logits it
        was chosen from) and, when `keep_scores`, those logits."""
        import torch

        tokens: list[int] = []
        logprobs: list[float] = []
        scores = []
        for step in range(request.max_new_tokens):
            if self.keep_scores:
                scores.append(logits.clone())
            token = int(logits.argmax(-1))
            tokens.append(token)
            logprobs.append(float(torch.log_softmax(logits[0].float(), -1)[token]))
            if self._ends(tokens, request) or step + 1 == request.max_new_tokens:
                break
            out = self.model(
                input_ids=torch.tensor([[token]], device=self.device),
                position_ids=torch.full((3, 1, 1), position + step, device=self.device),
                past_key_values=cache,
                use_cache=True,
            )
            logits = out.logits[:, -1]
        return tokens, logprobs, scores

    def _ends(self, tokens: list[int], request: GenerationRequest) -> bool:
        """Whether the answer ends with the last of `tokens`: an end-of-turn token, or the one
        that completes a stop string (both paths end answers here)."""
        if tokens[-1] in self.generation_config.eos_token_id:
            return True
        decode = self.processor.tokenizer.decode
        return bool(request.stop) and any(s in decode(tokens) for s in request.stop)

    def _answer_length(self, tokens: list[int], request: GenerationRequest) -> int:
        """How many of a batch row's tokens (within its budget) are the answer's: through the
        first one that ends it (`_ends`), else all of them."""
        eos = self.generation_config.eos_token_id
        length = next((i + 1 for i, t in enumerate(tokens) if t in eos), len(tokens))
        text = self.processor.tokenizer.decode(tokens[:length])
        if any(s in text for s in request.stop):  # find the token that completed it
            length = next(i + 1 for i in range(length) if self._ends(tokens[: i + 1], request))
        return length

    def _confidence(self, tokens: Sequence[int], logprobs: Sequence[float]) -> float | None:
        """`answer_confidence` of an answer's tokens: all of them but an end-of-turn token,
        which is not part of the answer's text."""
        eos = self.generation_config.eos_token_id
        return answer_confidence([p for t, p in zip(tokens, logprobs, strict=True) if t not in eos])

    def close(self) -> None:
        self._prefixes.clear()
        self.model = None  # type: ignore[assignment]
