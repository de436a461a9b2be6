"""Backend for any OpenAI-compatible chat-completions server (vLLM, SGLang, ...).

Images travel as the tracker made them: the JPEG bytes of a crop it passed through JPEG
(`--image-format jpeg`, as R1-Track's inference sent them), else PNG data URLs (lossless), so the
server decodes exactly the pixels the in-process backend would be given. The official
`openai` client supplies the timeouts and the bounded retries with exponential backoff on
connection errors, timeouts, 429 and 5xx; requests of one call run concurrently on daemon threads,
so Ctrl-C while a request hangs ends the process at once instead of after the timeout.

Server prefix caching: the template comes first and is encoded once per track (`prefix_key`), so
its bytes are identical in every request of the track, and all per-frame text follows the images.

Server profiles (`--server`): `openai` (the default) sends only fields of the standard
chat-completions schema, which any compatible server accepts (a strict one, such as the OpenAI API
or `transformers serve`, answers HTTP 422 to any other field): `model`, `messages`, `max_tokens`,
`temperature` 0, `frequency_penalty` 0 and `logprobs` true. It sends no `stop` either: a server
that strips the stop string (as the standard says) cannot then tell it from the end of the turn,
and `transformers serve` fails on stop strings with a vision model (it hands `generate` the
processor as its tokenizer). A trained checkpoint ends its turn right after the box; the answer is
cut after the first stop string here. `vllm` adds `stop` with vLLM's own
`include_stop_str_in_output`, and `repetition_penalty` 1.0 (which overrides the 1.05 a vLLM started
with `--generation-config auto` would take from the checkpoint's generation_config.json). Either
way an answer ends with its stop string, as the `hf` backend's do: see `end_at_stop`.

Several servers: `base_url` may be a list. Each request goes to the server with the fewest
requests in flight; a server that fails one (no answer after the client's retries, HTTP 429 or
5xx) is reported on stderr and left out while another one answers, and the request is sent to
the next server. When every server has failed, each request tries them all once more before it
fails. Decoding is greedy, so the answers do not depend on which server gave them.

Confidence: every request asks for the answer tokens' log-probabilities (`logprobs`, standard;
vLLM gives them), and the answer's confidence is `answer_confidence` of those of its
tokens (`answer_logprobs`). A server that gives none (`transformers serve` accepts the field and
ignores it) leaves every confidence None, and the backend says so once, in a note on stderr.
"""

from __future__ import annotations

import base64
import io
import os
import queue
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from PIL import Image

from r1track.backends.base import (
    REPETITION_PENALTY,
    Answer,
    GenerationRequest,
    PixelLimits,
    answer_confidence,
)
from r1track.errors import BackendError
from r1track.prompts import chat_messages

# Qwen2.5-VL's own processor defaults, which `vllm serve` uses unless told otherwise.
QWEN_DEFAULT_LIMITS = PixelLimits(min_pixels=56 * 56, max_pixels=28 * 28 * 16384)
MAX_TEMPLATES = 256  # encoded templates kept (least recently used ones are dropped)
SERVER_PROFILES = ("openai", "vllm")
"""`--server`: which request fields the server takes (see the module docstring)."""


def request_fields(request: GenerationRequest, server: str = "openai") -> dict:
    """The decoding fields of one request for a server profile: greedy (temperature 0) and no
    penalty everywhere, and the answer tokens' log-probabilities (`logprobs`, for the answer's
    confidence). `frequency_penalty` 0 is the standard default, sent so that
    `transformers serve` (which maps it to `repetition_penalty = 1 + frequency_penalty`) does
    not take the checkpoint's repetition penalty. Stop strings go only to vLLM, with its
    `include_stop_str_in_output` and `repetition_penalty` in the `extra_body`."""
    if server not in SERVER_PROFILES:
        raise ValueError(f"unknown server profile {server!r}; expected one of {SERVER_PROFILES}")
    fields: dict = {
        "max_tokens": request.max_new_tokens,
        "temperature": 0.0,
        "frequency_penalty": 0.0,
        "logprobs": True,
    }
    if server == "vllm":
        extra: dict = {"repetition_penalty": REPETITION_PENALTY}
        if request.stop:
            fields["stop"] = list(request.stop)
            extra["include_stop_str_in_output"] = True
        fields["extra_body"] = extra
    return fields


def end_at_stop(
    text: str, finish_reason: str | None, stop_reason: object, stops: Sequence[str]
) -> str:
    """The answer up to and including the first stop string, as the `hf` backend's ends.

    A server that was sent no stop strings (the `openai` profile) answers to the end of the
    turn: the text is cut after the first stop string in it. One that kept the stop string
    (vLLM with `include_stop_str_in_output`) ends with it: unchanged, never doubled. vLLM and
    SGLang strip it otherwise, and then say which one ended the answer in `stop_reason` (None
    or a token id when the turn ended): it is put back."""
    cuts = [text.find(s) + len(s) for s in stops if s and s in text]
    if cuts:
        return text[: min(cuts)]
    if finish_reason == "stop" and isinstance(stop_reason, str) and stop_reason in stops:
        return text + stop_reason
    return text


def answer_logprobs(tokens: Sequence[tuple[str, float]], answer: str) -> list[float]:
    """The log-probabilities of the answer's tokens, from the server's `(token text, logprob)`
    for the text it returned: those up to the token that completes `answer` when their texts
    spell it (the tokens after it are past the stop string `end_at_stop` cut the answer at, or
    the end-of-turn token); all of them otherwise (a stop string the server stripped and the
    answer put back, or token texts that do not spell the text, such as raw bytes).

    >>> answer_logprobs([("[1,", -0.1), ("2]", -0.2), (" is", -3.0)], "[1,2]")
    [-0.1, -0.2]
    >>> answer_logprobs([("[1,", -0.1), ("2", -0.2)], "[1,2]")  # "]" put back
    [-0.1, -0.2]
    """
    spelled, count = "", 0
    for text, _ in tokens:
        if len(spelled) >= len(answer):
            break
        spelled, count = spelled + text, count + 1
    if not spelled.startswith(answer):
        count = len(tokens)
    return [logprob for _, logprob in tokens[:count]]


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


class _Server:
    """One server of the backend: its client, requests in flight and answered, why it failed."""

    def __init__(self, url: str, client):
        self.url = url
        self.client = client
        self.in_flight = 0
        self.answered = 0
        self.failed: str | None = None


class _ServerFailed(Exception):
    """A request that failed on one server and may be answered by another."""

    def __init__(self, error: BackendError):
        super().__init__(str(error))
        self.error = error


class OpenAIBackend:
    """Greedy chat completions against one server or several, `concurrency` requests in flight."""

    name = "openai"

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 8,
        pixel_limits: PixelLimits = QWEN_DEFAULT_LIMITS,
        server: str = "openai",
    ):
        import openai

        if server not in SERVER_PROFILES:
            raise ValueError(
                f"unknown server profile {server!r}; expected one of {SERVER_PROFILES}"
            )
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls or len(set(urls)) != len(urls):
            raise ValueError(f"base_url: one or more distinct server URLs, got {urls!r}")
        self.model = model
        self.server = server
        """The server profile: which request fields are sent (`SERVER_PROFILES`)."""
        self.max_retries = max_retries
        self._limits = pixel_limits
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.servers = [
            _Server(
                url,
                openai.OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=max_retries),
            )
            for url in urls
        ]
        self._pool = _DaemonPool(max(1, concurrency))
        self._templates: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._noted_no_logprobs = False

    @property
    def pixel_limits(self) -> PixelLimits:
        return self._limits

    def messages(self, request: GenerationRequest) -> list[dict]:
        """The chat messages of one request, laid out by `chat_messages` (as `hf` lays them out),
        each image as a data URL."""
        urls = [self._first_image_url(request)] if request.images else []
        urls += [image_data_url(im) for im in request.images[1:]]
        return chat_messages(
            request.layout,
            len(urls),
            request.text,
            request.think,
            image_part=lambda i: {"type": "image_url", "image_url": {"url": urls[i]}},
        )

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

    def _pick(self, tried: set[int]) -> _Server | None:
        """The server for a request's next try: of those it has not tried, the working ones
        first (fewest in flight, then fewest answered), then the failed ones."""
        with self._lock:
            left = [i for i in range(len(self.servers)) if i not in tried]
            if not left:
                return None
            pick = min(
                left,
                key=lambda i: (
                    self.servers[i].failed is not None,
                    self.servers[i].in_flight,
                    self.servers[i].answered,
                    i,
                ),
            )
            tried.add(pick)
            self.servers[pick].in_flight += 1
            return self.servers[pick]

    def _complete(self, request: GenerationRequest) -> Answer:
        tried: set[int] = set()
        error = BackendError("no server to send the request to")
        while (server := self._pick(tried)) is not None:
            try:
                answer = self._complete_on(server, request)
            except _ServerFailed as exc:
                self._failed(server, exc.error, more=len(tried) < len(self.servers))
                error = exc.error
                continue
            finally:
                with self._lock:
                    server.in_flight -= 1
            with self._lock:
                server.answered += 1
                server.failed = None
            return answer
        raise error

    def _failed(self, server: _Server, error: BackendError, more: bool) -> None:
        """Take a server out of rotation and say so once (while another one may answer)."""
        with self._lock:
            first = server.failed is None
            server.failed = str(error)
            working = sum(s.failed is None for s in self.servers)
        if first and len(self.servers) > 1:
            then = f"its requests go to the {working} other(s)" if working else "none is left"
            print(
                f"r1track: note: {error}; {then}" + ("; retrying" if more else ""), file=sys.stderr
            )

    def _complete_on(self, server: _Server, request: GenerationRequest) -> Answer:
        import openai

        url = server.url
        try:
            response = server.client.chat.completions.create(
                model=self.model,
                messages=self.messages(request),
                **request_fields(request, self.server),
            )
        except openai.APIStatusError as exc:
            detail = exc.body.get("detail") if isinstance(exc.body, dict) else None
            reason = _first_line(ValueError(detail)) if isinstance(detail, str) else ""
            hint = ""
            if exc.status_code == 422 and self.server != "openai":
                hint = " (a strict server: --server openai sends only standard fields)"
            error = BackendError(
                f"server {url} answered HTTP {exc.status_code}: {reason or _first_line(exc)}{hint}"
            )
            if exc.status_code == 429 or exc.status_code >= 500:
                raise _ServerFailed(error) from exc
            raise error from exc  # the request itself is refused: no other server would take it
        except openai.APIConnectionError as exc:  # also timeouts
            raise _ServerFailed(
                BackendError(
                    f"no answer from {url} after {self.max_retries + 1} tries: {_first_line(exc)}"
                )
            ) from exc
        if not response.choices:
            raise _ServerFailed(BackendError(f"server {url} returned no choices"))
        choice = response.choices[0]
        reason = (choice.model_extra or {}).get("stop_reason")
        text = end_at_stop(choice.message.content or "", choice.finish_reason, reason, request.stop)
        return Answer(text, self._confidence(choice.logprobs, text, url))

    def answered(self) -> dict[str, int]:
        """Requests answered per server URL, so far."""
        with self._lock:
            return {s.url: s.answered for s in self.servers}

    def _confidence(self, logprobs, answer: str, url: str) -> float | None:
        """`answer_confidence` of the answer's tokens (`answer_logprobs`); None where the server
        gave no log-probabilities, which a note on stderr says once per backend."""
        tokens = getattr(logprobs, "content", None)
        if tokens is not None and all(isinstance(t.logprob, (int, float)) for t in tokens):
            return answer_confidence(
                answer_logprobs([(t.token or "", t.logprob) for t in tokens], answer)
            )
        with self._lock:
            noted, self._noted_no_logprobs = self._noted_no_logprobs, True
        if not noted:
            print(
                f"r1track: note: the server at {url} gives no token log-probabilities "
                "(logprobs), so answer confidences are not available; features that use them "
                "fall back to whether each answer is usable",
                file=sys.stderr,
            )
        return None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Answer]:
        return self._pool.map(self._complete, requests)

    def close(self) -> None:
        self._pool.shutdown()
        if len(self.servers) > 1:
            counts = ", ".join(
                f"{s.url} {s.answered}" + (" (failed)" if s.failed else "") for s in self.servers
            )
            print(f"r1track: answers per server: {counts}", file=sys.stderr)
        for server in self.servers:
            server.client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
