"""In-process backend on transformers: any Qwen2.5-VL checkpoint directory, CPU or GPU.

Inputs are built by `ImageTextProcessor` (the stock Qwen2.5-VL processor minus its video
processor, which needs torchvision), the same processor the trainers use.

Template reuse: a track's template image is the same every frame, and so is everything before it
in the prompt. For a request with a `prefix_key`, that prefix (chat header + template image) is
encoded and prefilled once; each frame then prefills only the search image and the text on top of
the cached keys and values, with Qwen's 3-D rotary positions computed over the whole sequence.
A batch of tracks decodes on a stacked copy of their prefixes' caches (`kv.stack_caches`), so
reuse holds at `--batch N` too. Answers are the same as without reuse.

Draft-verified decoding: the search crop is centred on the last box, so this frame's answer is
mostly last frame's. The track's previous answer tokens are appended to the prefill as a draft;
the logits at each draft position say what greedy decoding would choose there, so the longest
draft prefix the model agrees with is kept, with the model's own next token after it, in one
forward pass; decoding goes on one token per forward from there. The answers are greedy
decoding's by construction (a draft only decides which forwards are needed); `draft=False` turns
it off. Guesses cost compute (a forward's cost grows with the tokens it feeds), so a forward
checks at most `DRAFT_BUDGET` guess tokens across its rows: all of a short answer alone, a few
per row in a batch.

Per-frame inputs: a track's search image has the same size every frame, so the suffix's tokens
and rotary positions are computed once per prefix and size and kept with the prefix; a batch's
search images go through the image processor in one call.

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
from dataclasses import dataclass, field

from r1track.backends.base import (
    REPETITION_PENALTY,
    Answer,
    GenerationRequest,
    PixelLimits,
    answer_confidence,
)
from r1track.backends.devices import check_device
from r1track.backends.kv import row_cache, stack_caches
from r1track.backends.scoring import ChosenLogprobs, NoAbsent
from r1track.errors import BackendError, UserError, shorten
from r1track.models import adapter_base, check_weights, choose_dtype, resolve_checkpoint
from r1track.prompts import ABSENT_ANSWER, chat_messages

SUPPORTED_MODEL_TYPES = ("qwen2_5_vl",)
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
MAX_PREFIXES = 16  # cached track prefixes (least recently used ones are dropped)
DRAFT_BUDGET = 16  # draft tokens checked per forward pass, over all its rows
MIN_DRAFT_WINDOW = 2  # draft tokens a row checks per forward, however large the batch
MAX_SUFFIXES = 4  # suffix texts and sizes whose tokens a prefix keeps (least recently used go)
DRAFT_MISSES = 2  # forwards in a row without a draft token kept, after which a row stops guessing


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


@dataclass
class _Prefix:
    """A track's cached prompt prefix: tokens up to the template's end, and their KV cache."""

    text: str
    ids: object  # (1, P) token ids
    grid: object  # (1, 3) template image grid
    cache: object  # DynamicCache holding exactly P positions between uses
    suffixes: dict = field(default_factory=dict)
    """(suffix text, search grids) -> (suffix ids, their rotary positions): the same each frame."""


@dataclass
class _Row:
    """One request of a decoding batch, split at its template's end."""

    request: GenerationRequest
    prefix: _Prefix
    suffix: object  # (1, S) token ids after the template: search image, text, turn header
    pixels: object  # the search image's pixel values
    grid: object  # (1, 3) its grid
    positions: object  # (3, 1, S) the suffix's rotary positions
    draft: list[int]  # the track's previous answer tokens: checked in the prefill


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
        draft: bool = True,
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
        self.draft = draft
        """Check the track's previous answer as a draft of this one (same answers, fewer
        forward passes)."""
        self.draft_budget = DRAFT_BUDGET
        """Draft tokens checked per forward over all its rows (each row at least
        `MIN_DRAFT_WINDOW`)."""
        self._max_prefixes = max(MAX_PREFIXES, 2 * max_batch_size)
        self._drafts: OrderedDict[str, list[int]] = OrderedDict()
        self.last_drafted: list[int] = []
        """Diagnostics: draft tokens checked in the last call (per request)."""
        self.last_accepted: list[int] = []
        """Diagnostics: of those, the ones the model agreed with."""
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
        prefix (up to the template's end) and the suffix, as `_rows` tokenises them."""
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
        answers: list[Answer | None] = [None] * len(requests)
        generated = [0] * len(requests)
        rendered = [self.render(r) for r in requests]
        # requests with a template before the search image decode on the template's cache
        cached = [
            i for i, r in enumerate(requests) if len(r.images) >= 2 and VISION_END in rendered[i]
        ]
        plain = sorted(set(range(len(requests))) - set(cached))
        # transformers keeps per-call state on the model (Qwen's rope deltas): one call at a time.
        with self._lock:
            for group in (cached, plain):
                for start in range(0, len(group), self.max_batch_size):
                    part = group[start : start + self.max_batch_size]
                    batch = [requests[i] for i in part]
                    if group is cached:
                        out = self._decode(batch, [rendered[i] for i in part])
                    else:
                        out = self._generate_batch(batch)
                    for i, answer, count in zip(part, out, self.last_generated, strict=True):
                        answers[i], generated[i] = answer, count
            self.last_generated = generated
        return answers  # type: ignore[return-value]

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Answer]:
        import torch

        batch = self.encode(requests).to(self.device)
        config = self._config(requests)
        chosen = ChosenLogprobs()
        no_absent = None  # box_only rows: the absent answer ruled out, its probability kept
        if any(r.box_only for r in requests):
            absent_ids = self.processor.tokenizer.encode(ABSENT_ANSWER, add_special_tokens=False)
            no_absent = NoAbsent(absent_ids, [r.box_only for r in requests])
        try:
            with torch.inference_mode():
                out = self.model.generate(
                    **batch,
                    generation_config=config,
                    logits_processor=[chosen] if no_absent is None else [no_absent, chosen],
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
        absent = no_absent.absent if no_absent else [None] * len(requests)
        for row, row_logprobs, row_picks, r, row_absent in zip(
            new_tokens, logprobs, picks, requests, absent, strict=True
        ):
            # Each request keeps only its own budget, so batching never changes an answer's length.
            row = row[: r.max_new_tokens]
            end = self._answer_length(row, r)  # the rest is padding after the row's end
            # the recorder's picks are the tokens: it saw the scores they were chosen from
            sure = row_picks[:end] == row[:end]
            confidence = self._confidence(row[:end], row_logprobs[:end]) if sure else None
            text = tokenizer.decode(row, skip_special_tokens=True)
            answers.append(Answer(text, confidence, row_absent))
        return answers

    def _config(self, requests: Sequence[GenerationRequest]):
        config = copy.deepcopy(self.generation_config)
        config.max_new_tokens = max(r.max_new_tokens for r in requests)
        stops = sorted({s for r in requests for s in r.stop})
        config.stop_strings = stops or None
        config.return_dict_in_generate = True
        config.output_scores = self.keep_scores
        return config

    def _prefixes_of(self, requests: Sequence[GenerationRequest], texts: Sequence[str]) -> list:
        """Each request's prompt prefix up to the template's end (`texts`) with its KV cache: from
        the track's cache when reuse is on, else computed now; the ones computed are prefilled
        together, one forward per prefix text and template size, and kept when reuse is on."""
        import torch

        prefixes: list[_Prefix | None] = [None] * len(requests)
        todo: dict[tuple, list[int]] = {}
        for i, (request, text) in enumerate(zip(requests, texts, strict=True)):
            key = request.prefix_key if self.reuse_template else None
            prefix = self._prefixes.get(key) if key else None
            if prefix is not None and prefix.text == text:
                self._prefixes.move_to_end(key)
                prefixes[i] = prefix
            else:
                todo.setdefault((text, requests[i].images[0].size), []).append(i)
        for (text, _), rows in todo.items():
            ids, pixels, grid = self.tokenize_with_images(
                text * len(rows), [requests[i].images[0] for i in rows]
            )
            ids = ids.view(len(rows), -1)  # the same tokens per row: one text, one image size
            with torch.inference_mode():
                out = self.model(
                    input_ids=ids,
                    pixel_values=pixels,
                    image_grid_thw=grid,
                    mm_token_type_ids=(ids == self.processor.image_token_id).int(),
                    use_cache=True,
                )
            for b, i in enumerate(rows):
                prefix = _Prefix(
                    text, ids[b : b + 1], grid[b : b + 1], row_cache(out.past_key_values, b)
                )
                prefixes[i] = prefix
                key = requests[i].prefix_key if self.reuse_template else None
                if key:
                    self._prefixes[key] = prefix
                    while len(self._prefixes) > self._max_prefixes:
                        self._prefixes.popitem(last=False)
        return prefixes

    def tokenize_with_images(self, text: str, images):
        """Token ids of `text` with each `<|image_pad|>` expanded to its image's merged patches,
        and the images' pixel values and grids: `(ids, pixel_values, image_grid_thw)`."""
        pixels, grids = self._vision(images)
        return self._tokens(text, grids), pixels, grids

    def _vision(self, images):
        """The images' pixel values and grids, `(pixel_values, image_grid_thw)`, on the device:
        one image-processor call for them all."""
        vision = self.processor.image_processor(images=list(images), return_tensors="pt")
        return (
            vision["pixel_values"].to(self.device, self.model.dtype),
            vision["image_grid_thw"].to(self.device),
        )

    def _tokens(self, text: str, grids):
        """Token ids `(1, n)` of `text`, each `<|image_pad|>` expanded to the merged patches of
        its image's grid."""
        merge = self.processor.image_processor.merge_size**2
        parts = text.split(IMAGE_PAD)
        expanded = parts[0] + "".join(
            IMAGE_PAD * (int(g.prod()) // merge) + part
            for g, part in zip(grids, parts[1:], strict=True)
        )
        ids = self.processor.tokenizer(expanded, add_special_tokens=False, return_tensors="pt")
        return ids["input_ids"].to(self.device)

    def _rows(self, requests: Sequence[GenerationRequest], prefixes, tails) -> list[_Row]:
        """Requests split at their templates' ends: the cached prefix, the suffix's tokens,
        images and rotary positions (`tails`: the suffixes' texts), and the track's draft. The
        search images go through the image processor together; the suffix's tokens and
        positions come from the prefix's own store when it has them for this text and size."""
        searches = [list(r.images[1:]) for r in requests]
        pixels, grids = self._vision([im for images in searches for im in images])
        patches = [int(g.prod()) for g in grids]
        rows, image, patch = [], 0, 0
        for request, prefix, tail, images in zip(requests, prefixes, tails, searches, strict=True):
            grid = grids[image : image + len(images)]
            size = sum(patches[image : image + len(images)])
            own = pixels[patch : patch + size]
            image, patch = image + len(images), patch + size
            key = (tail, tuple(grid.flatten().tolist()))
            if key in prefix.suffixes:
                suffix, positions = prefix.suffixes.pop(key)  # back in as the newest
            else:
                suffix = self._tokens(tail, grid)
                positions = self._suffix_positions(prefix, suffix, grid)[
                    :, :, prefix.ids.shape[1] :
                ]
            prefix.suffixes[key] = (suffix, positions)
            while len(prefix.suffixes) > MAX_SUFFIXES:
                del prefix.suffixes[next(iter(prefix.suffixes))]
            rows.append(_Row(request, prefix, suffix, own, grid, positions, self._draft(request)))
        return rows

    def _draft(self, request: GenerationRequest) -> list[int]:
        """The track's previous answer tokens, as far as their logits would decide anything:
        never the answer's end, never past its budget."""
        key = request.prefix_key if self.draft else None
        draft = self._drafts.get(key, []) if key else []
        while draft and draft[-1] in self.generation_config.eos_token_id:
            draft = draft[:-1]
        return draft[: request.max_new_tokens - 1]

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

    def _decode(self, requests: Sequence[GenerationRequest], rendered: Sequence[str]) -> list:
        """Greedy decoding of requests that start with a template (`rendered`: their prompts, see
        the module docstring): one forward pass over each row's search image, text and draft,
        then one per correction."""
        import torch

        parts = [text.partition(VISION_END) for text in rendered]
        prefixes = self._prefixes_of(requests, [head + sep for head, sep, _ in parts])
        rows = self._rows(requests, prefixes, [tail for _, _, tail in parts])
        single = len(rows) == 1
        try:
            with torch.inference_mode():
                decoded, accepted = self._decode_rows(rows, single)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"generation failed: {str(exc).splitlines()[0]}") from exc
        finally:  # a single row decodes on its prefix's own cache: back to the bare prefix
            if single:
                cache = rows[0].prefix.cache
                cache.crop(rows[0].prefix.ids.shape[1] - cache.get_seq_length())
        tokenizer = self.processor.tokenizer
        answers = []
        for row, (tokens, logprobs) in zip(rows, decoded, strict=True):
            key = row.request.prefix_key
            if key and self.draft:
                self._drafts[key] = tokens
                self._drafts.move_to_end(key)
                while len(self._drafts) > self._max_prefixes:
                    self._drafts.popitem(last=False)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            answers.append(Answer(text, self._confidence(tokens, logprobs)))
        self.last_generated = [len(tokens) for tokens, _ in decoded]
        self.last_drafted = [len(row.draft) for row in rows]
        self.last_accepted = accepted
        return answers

    def _decode_rows(self, rows: list[_Row], single: bool):
        """Greedy decoding of `rows` on their prefixes' caches (a row's own cache when `single`,
        else a stacked copy). Every forward feeds each row's last known token and a guess of the
        tokens after it, the draft's tokens at those answer positions (at most `draft_budget`
        over the rows, at least `MIN_DRAFT_WINDOW` each):
        the first forward the suffix and the draft's start, later ones the last token chosen and
        the draft's tail. The guesses are kept as far as the model's own choices agree with
        them, which it makes from those very logits; the rest leave the cache (one row) or the
        attention mask (a batch). A row that kept none of its guesses `DRAFT_MISSES` forwards
        in a row guesses no more.
        Returns (tokens, logprobs) per row, and the draft tokens kept per row."""
        import torch

        device = self.device
        pad = self.processor.tokenizer.pad_token_id or 0  # padding columns are masked anyway
        if single:
            cache, mask = rows[0].prefix.cache, None
        else:
            lengths = [row.prefix.ids.shape[1] for row in rows]
            cache, mask = stack_caches([row.prefix.cache for row in rows], lengths)
        starts = [int(row.positions.max()) + 1 for row in rows]  # first answer token's position
        tokens: list[list[int]] = [[] for _ in rows]
        logprobs: list[list[float]] = [[] for _ in rows]
        scores: list[list] = [[] for _ in rows]
        done = [False] * len(rows)
        accepted = [0] * len(rows)
        guessing = [True] * len(rows)
        misses = [0] * len(rows)  # forwards in a row with no guess kept
        window = max(MIN_DRAFT_WINDOW, self.draft_budget // len(rows))
        first = True
        while not all(done):
            feeds = []  # per row: (known ids, their positions (3, n), guesses)
            for i, row in enumerate(rows):
                n = len(tokens[i])
                guess = row.draft[n : n + window] if guessing[i] and not done[i] else []
                if first:
                    known, where = row.suffix[0].tolist(), row.positions[:, 0]
                elif done[i]:
                    known, where = [], None  # a finished row feeds nothing (masked padding)
                else:
                    known = [tokens[i][-1]]
                    where = torch.full((3, 1), starts[i] + n - 1, device=device)
                feeds.append((known, where, guess))
            # columns: the known tokens end together at `end` (left-padded), the guesses follow
            # (right-padded), so a column past every row's kept guesses can leave the cache
            end = max(len(known) for known, _, _ in feeds)
            chunk = end + max(len(guess) for _, _, guess in feeds)
            ids = torch.full((len(rows), chunk), pad, dtype=torch.long, device=device)
            positions = torch.ones((3, len(rows), chunk), dtype=torch.long, device=device)
            fed = torch.zeros((len(rows), chunk), dtype=torch.long, device=device)
            for i, (known, where, guess) in enumerate(feeds):
                if not known:
                    continue
                span = slice(end - len(known), end + len(guess))
                ids[i, span] = torch.tensor(known + guess, dtype=torch.long, device=device)
                n = len(tokens[i])
                ahead = torch.arange(starts[i] + n, starts[i] + n + len(guess), device=device)
                positions[:, i, span] = torch.cat([where, ahead.expand(3, -1)], dim=1)
                fed[i, span] = 1
            if mask is not None:
                mask = torch.cat([mask, fed], dim=1)
            inputs = {}
            if first:
                inputs["pixel_values"] = torch.cat([row.pixels for row in rows])
                inputs["image_grid_thw"] = torch.cat([row.grid for row in rows])
            logits = self.model(
                input_ids=ids,
                position_ids=positions,
                attention_mask=mask,
                past_key_values=cache,
                use_cache=True,
                **inputs,
            ).logits
            first = False
            kept = [0] * len(rows)
            for i, (known, _, guess) in enumerate(feeds):
                if not known:
                    continue
                for j in range(len(guess) + 1):  # logits after the known token, then each guess
                    done[i] = self._choose(
                        logits[i, end - 1 + j], rows[i].request, tokens[i], logprobs[i], scores[i]
                    )
                    agrees = j < len(guess) and tokens[i][-1] == guess[j]
                    kept[i] += agrees
                    if done[i] or not agrees:
                        break
                accepted[i] += kept[i]
                misses[i] = misses[i] + 1 if guess and not kept[i] else 0
                if misses[i] == DRAFT_MISSES:  # the answer left the draft: guess no more
                    guessing[i] = False
            # rejected guesses leave the cache where no row kept one, else the row's mask
            needed = end + max((kept[i] for i in range(len(rows)) if not done[i]), default=0)
            if chunk > needed:
                cache.crop(needed - chunk)
                if mask is not None:
                    mask = mask[:, : mask.shape[1] - (chunk - needed)]
            if mask is not None:
                for i in range(len(rows)):
                    if not done[i] and kept[i] < needed - end:
                        mask[i, mask.shape[1] - (needed - end - kept[i]) :] = 0
        if self.keep_scores:
            steps = max(len(s) for s in scores)
            self.last_scores = [
                torch.stack([s[k] if k < len(s) else torch.zeros_like(s[0]) for s in scores])
                for k in range(steps)
            ]
        else:
            self.last_scores = None
        return list(zip(tokens, logprobs, strict=True)), accepted

    def _choose(self, logits, request: GenerationRequest, tokens, logprobs, scores) -> bool:
        """Append the greedy token of `logits` (one row's next-token logits) and its
        log-probability; True when the answer ends with it (`_ends`, or the token budget)."""
        import torch

        if self.keep_scores:
            scores.append(logits.clone())
        token = int(logits.argmax(-1))
        tokens.append(token)
        logprobs.append(float(torch.log_softmax(logits.float(), -1)[token]))
        return self._ends(tokens, request) or len(tokens) >= request.max_new_tokens

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
