"""Model backends behind one protocol: `hf` (transformers, in-process) and `openai` (a server)."""

from __future__ import annotations

from collections.abc import Sequence

from r1track.backends.base import (
    Answer,
    Backend,
    GenerationRequest,
    PixelLimits,
    answer_confidence,
    confidence_of,
)
from r1track.errors import UserError

BACKENDS = ("hf", "openai")


def load_backend(
    kind: str,
    model: str,
    *,
    base_url: str | Sequence[str] | None = None,
    server: str = "openai",
    device: str = "auto",
    batch_size: int = 8,
    timeout: float = 120.0,
    max_retries: int = 3,
    max_pixels: int | None = None,
    reuse_template: bool = True,
    draft: bool = True,
) -> Backend:
    """Build a backend by name. `model` is a checkpoint (hf) or the served model name (openai);
    `base_url` the openai backend's server URL, or several (serving the same model); `server` its
    server profile (`openai_api.SERVER_PROFILES`)."""
    if kind == "hf":
        from r1track.backends.hf import HFBackend

        return HFBackend(
            model,
            device=device,
            max_batch_size=batch_size,
            reuse_template=reuse_template,
            draft=draft,
        )
    if kind == "openai":
        from r1track.backends.openai_api import QWEN_DEFAULT_LIMITS, OpenAIBackend

        if not base_url:
            raise UserError("the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        limits = QWEN_DEFAULT_LIMITS
        if max_pixels is not None:
            limits = PixelLimits(min(limits.min_pixels, max_pixels), max_pixels, limits.factor)
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if len(set(urls)) != len(urls):
            raise UserError(f"--base-url: a server given twice: {', '.join(urls)}")
        return OpenAIBackend(
            urls,
            model,
            timeout=timeout,
            max_retries=max_retries,
            concurrency=batch_size,
            pixel_limits=limits,
            server=server,
        )
    raise UserError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "Answer",
    "Backend",
    "GenerationRequest",
    "PixelLimits",
    "answer_confidence",
    "confidence_of",
    "load_backend",
]
