"""Backend for any OpenAI-compatible chat-completions server (vLLM, SGLang, ...).

Images travel as the tracker made them: the JPEG bytes of a crop it passed through JPEG
(`--image-format jpeg`, as R1-Track's inference sent them), else PNG data URLs (lossless), so the
server decodes exactly the pixels the in-process backend would be given. The official
`openai` client supplies the timeouts and the bounded retries with exponential backoff on
connection errors, timeouts, 429 and 5xx; requests of one call run concurrently on daemon threads,
so Ctrl-C while a request hangs ends the process at once instead of after the timeout.

Server prefix caching: the template comes first and is encoded once per track (`prefix_key`), so
its bytes are identical in every request of the track, and all per-frame text follows the images.
Stop strings are sent with vLLM's `include_stop_str_in_output`, so a box ends with its bracket.
"""

from __future__ import annotations

import base64
import io
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from PIL import Image

from r1track.backends.base import GenerationRequest, PixelLimits
from r1track.errors import BackendError

# Qwen2.5-VL's own processor defaults, which `vllm serve` uses unless told otherwise.
QWEN_DEFAULT_LIMITS = PixelLimits(min_pixels=56 * 56, max_pixels=28 * 28 * 16384)
MAX_TEMPLATES = 256  # encoded templates kept (least recently used ones are dropped)


def image_data_url(image: Image.Image) -> str:
    """Encode an image as a data URL (deterministic bytes): `data:image/jpeg;base64,...` with the
    JPEG bytes it was decoded from when the tracker sent it as JPEG (`geometry.sent_jpeg`), so
    the server decodes the very same pixels; else `data:image/png;base64,...` (lossless)."""
    from r1track.geometry import sent_jpeg

    data = sent_jpeg(image)
    if data is not None:
        return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class _DaemonPool:
    """Worker threads that the interpreter does not wait for at exit.

    `ThreadPoolExecutor` joins its workers when Python exits, so an interrupted run would wait for
    a hung request's timeout; these daemon workers die with the process.
    """

    def __init__(self, workers: int):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, arg = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled: its caller was interrupted
            try:
                future.set_result(fn(arg))
            except BaseException as exc:
                future.set_exception(exc)

    def map(self, fn: Callable, items: Sequence) -> list:
        """`[fn(x) for x in items]`, concurrently; an interrupt cancels the ones not started."""
        futures: list[Future] = []
        for item in items:
            futures.append(Future())
            self._queue.put((futures[-1], fn, item))
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def shutdown(self) -> None:
        """Let idle workers end; a busy one ends when its request does (or with the process)."""
        for _ in self._threads:
            self._queue.put(None)


class OpenAIBackend:
    """Greedy chat completions against a server, `concurrency` requests in flight at once."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 8,
        pixel_limits: PixelLimits = QWEN_DEFAULT_LIMITS,
    ):
        import openai

        self.base_url = base_url
        self.model = model
        self.max_retries = max_retries
        self._limits = pixel_limits
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout,
            max_retries=max_retries,
        )
        self._pool = _DaemonPool(max(1, concurrency))
        self._templates: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def pixel_limits(self) -> PixelLimits:
        return self._limits

    def messages(self, request: GenerationRequest) -> list[dict]:
        """The chat messages of one request: images first, all text after them."""
        urls = [self._first_image_url(request)] if request.images else []
        urls += [image_data_url(im) for im in request.images[1:]]
        content: list[dict] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        content.append({"type": "text", "text": request.text})
        return [{"role": "user", "content": content}]

    def _first_image_url(self, request: GenerationRequest) -> str:
        """The first image's data URL, encoded once per `prefix_key` (a track's template)."""
        key = request.prefix_key
        if key is None:
            return image_data_url(request.images[0])
        with self._lock:
            url = self._templates.get(key)
            if url is not None:
                self._templates.move_to_end(key)
                return url
        url = image_data_url(request.images[0])
        with self._lock:
            self._templates[key] = url
            while len(self._templates) > MAX_TEMPLATES:
                self._templates.popitem(last=False)
        return url

    def _complete(self, request: GenerationRequest) -> str:
        import openai

        extra = {}
        if request.stop:
            extra = {"stop": list(request.stop), "extra_body": {"include_stop_str_in_output": True}}
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=self.messages(request),
                max_tokens=request.max_new_tokens,
                temperature=0.0,
                **extra,
            )
        except openai.APIStatusError as exc:
            raise BackendError(
                f"server {self.base_url} answered HTTP {exc.status_code}: {_first_line(exc)}"
            ) from exc
        except openai.APIConnectionError as exc:  # also timeouts
            raise BackendError(
                f"no answer from {self.base_url} after {self.max_retries + 1} tries: "
                f"{_first_line(exc)}"
            ) from exc
        if not response.choices:
            raise BackendError(f"server {self.base_url} returned no choices")
        choice = response.choices[0]
        text = choice.message.content or ""
        # A server that ignores include_stop_str_in_output drops the stop string; vLLM and
        # SGLang say which one ended the answer in `stop_reason`: put it back.
        reason = getattr(choice, "stop_reason", None)
        if isinstance(reason, str) and reason in request.stop and not text.endswith(reason):
            text += reason
        return text

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        return self._pool.map(self._complete, requests)

    def close(self) -> None:
        self._pool.shutdown()
        self.client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
