"""The small protocol every model backend implements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

REPETITION_PENALTY = 1.0
"""The repetition penalty both backends decode with (1.0: none), whatever a checkpoint's
generation_config.json says (Qwen2.5-VL-3B-Instruct's has 1.05, and its fine-tunes ship it
unless changed). The reference's inference script sent none; a penalty also pushes the answer
away from digits the prompt already holds (the template box)."""


class Answer(str):
    """A model's answer: its text (a `str`, so it is used as one) and how sure the model was.

    `confidence` is `answer_confidence` of the answer's tokens, or None where the backend could
    not say (a server that gives no token log-probabilities). `absent`, for a `box_only` request
    (`GenerationRequest.box_only`), is the probability the model gave the absent answer; None
    otherwise. String methods return plain `str`: a changed text has no confidence
    (`confidence_of` is then None).
    """

    __slots__ = ("absent", "confidence")

    confidence: float | None
    absent: float | None

    def __new__(
        cls, text: str = "", confidence: float | None = None, absent: float | None = None
    ) -> Answer:
        answer = super().__new__(cls, text)
        answer.confidence = confidence
        answer.absent = absent
        return answer

    def __reduce__(self):
        return (Answer, (str(self), self.confidence, self.absent))


def answer_confidence(logprobs: Sequence[float]) -> float | None:
    """The confidence of an answer from its tokens' log-probabilities (natural log, each of the
    token the model chose): exp of their mean, i.e. the geometric mean of the chosen tokens'
    probabilities, in [0, 1]; None for no tokens (or a NaN among them). Every backend computes
    confidence with this one function.

    >>> answer_confidence([-0.5, -1.5])  # exp(-1)
    0.36787944117144233
    >>> answer_confidence([0.0, 0.0])
    1.0
    >>> answer_confidence([]) is None
    True
    """
    values = [min(float(v), 0.0) for v in logprobs]  # a server's rounding may give +1e-7
    if not values or any(math.isnan(v) for v in values):
        return None
    return math.exp(math.fsum(values) / len(values))


def confidence_of(answer: str) -> float | None:
    """The confidence an answer carries (`Answer.confidence`); None for a plain `str` (a
    third-party backend's answer, or text changed after the backend returned it)."""
    return getattr(answer, "confidence", None)


@dataclass(frozen=True)
class GenerationRequest:
    """One chat turn for the model: images (template, search) and the task text, laid out in the
    user turn as `layout` says (`r1track.prompts.chat_messages`, the same for every backend)."""

    images: tuple[Image.Image, ...]
    """The images, in the order the prompt refers to them."""
    text: str
    """The task text (in the default layout: all of the text, after the images)."""
    max_new_tokens: int = 64
    """Upper bound on the answer length in tokens."""
    stop: tuple[str, ...] = ()
    """Decoding ends as soon as the answer contains one of these strings (kept in the answer)."""
    prefix_key: str | None = None
    """Identifies requests that share their first image (a track's template): backends may
    compute the shared prefix once (`hf`: the KV cache; `openai`: the image encoding)."""
    think: bool = False
    """Add the think instruction where `layout` puts it (think checkpoints)."""
    layout: str = "r1track"
    """The message layout (`r1track.prompts.LAYOUTS`)."""
    box_only: bool = False
    """Decode a box even where the absent answer (`prompts.ABSENT_ANSWER`) is likelier, and say
    in `Answer.absent` how likely the model found it (text init in windows weighs each window's
    box by it). The `hf` backend does, for requests without a template image; others leave
    `absent` None (so a caller can tell)."""


@dataclass(frozen=True)
class PixelLimits:
    """The pixel range a Qwen-VL image processor resizes every image into (see `smart_resize`)."""

    min_pixels: int
    max_pixels: int
    factor: int = 28
    """Patch size x merge size: both sides of a processed image are multiples of it."""


class Backend(Protocol):
    """Answers chat requests with text. Greedy decoding: the same request gives the same answer.

    A backend that loads a checkpoint may also expose it as `checkpoint` (a path or Hub id): a
    `Tracker` made without a config then uses that checkpoint's `r1track_tracker.json` settings.
    """

    name: str
    """Short name for logs and reports (`hf`, `openai`)."""

    @property
    def pixel_limits(self) -> PixelLimits:
        """How the backend's processor resizes images; the tracker needs it for grounding."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Answer several requests, batched or concurrently; one answer per request, in order.

        The built-in backends return `Answer`s, which carry the model's confidence in each
        (`answer_confidence` of its tokens' log-probabilities; None where the backend cannot
        say). A plain `str` is accepted too (a third-party backend): it has no confidence. Read
        it with `confidence_of`.

        Raises `BackendError` when the model cannot answer at all (not for a bad answer).
        """
        ...

    def close(self) -> None:
        """Release resources (threads, connections)."""
        ...
