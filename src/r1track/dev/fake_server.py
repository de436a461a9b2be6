"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It exercises the `openai` backend over real HTTP without a model server: answers come from a
function of the request body; it can fail, hang or add latency on purpose. By default it answers
like vLLM (a `stop_reason` beside `finish_reason`, the answer as scripted, token log-probabilities
when asked); `strict=True` makes it a server that knows only the standard schema, as the OpenAI
API and `transformers serve` are, and `logprobs=None` one that gives no log-probabilities.
Not for serving models (use vLLM for that).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The request fields of the standard chat-completions schema (OpenAI's API reference) that a
# strict server accepts; any other top-level field gets HTTP 422, as `transformers serve` does.
STANDARD_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "stream",
        "stream_options",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "user",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    }
)
STANDARD_MESSAGE_FIELDS = frozenset({"role", "content", "name"})
STANDARD_PART_FIELDS = {
    "text": frozenset({"type", "text"}),
    "image_url": frozenset({"type", "image_url"}),
}
STANDARD_IMAGE_URL_FIELDS = frozenset({"url", "detail"})


def nonstandard_fields(body: dict) -> list[str]:
    """The fields of a chat-completions body outside the standard schema (dotted paths)."""
    unknown = sorted(set(body) - STANDARD_CHAT_FIELDS)
    for i, message in enumerate(body.get("messages") or []):
        unknown += [f"messages.{i}.{k}" for k in sorted(set(message) - STANDARD_MESSAGE_FIELDS)]
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            allowed = STANDARD_PART_FIELDS.get(part.get("type"))
            where = f"messages.{i}.content.{j}"
            if allowed is None:
                unknown.append(f"{where}.type={part.get('type')!r}")
                continue
            unknown += [f"{where}.{k}" for k in sorted(set(part) - allowed)]
            url = part.get("image_url")
            if isinstance(url, dict):
                unknown += [
                    f"{where}.image_url.{k}" for k in sorted(set(url) - STANDARD_IMAGE_URL_FIELDS)
                ]
    return unknown


def strip_stop(text: str, stop) -> str:
    """The answer as a standard server returns it: cut before the first stop string in it."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [text.find(s) for s in stops if s and s in text]
    return text[: min(cuts)] if cuts else text


def char_logprobs(body: dict, content: str) -> list[tuple[str, float]]:
    """The default token log-probabilities: one token per character, each certain (0.0)."""
    return [(c, 0.0) for c in content]


def logprobs_field(logprobs, body: dict, content: str) -> dict | None:
    """A choice's `logprobs`: None unless the request asked (`logprobs: true`) and `logprobs`
    (values, or a function of the body and the answer giving them) gives some. Each value is a
    log-probability or a `(token text, log-probability)` pair; bare values get made-up token
    texts that spell nothing."""
    if callable(logprobs):
        logprobs = logprobs(body, content)
    if logprobs is None or not body.get("logprobs"):
        return None
    pairs = [v if isinstance(v, tuple) else (f"<{i}>", v) for i, v in enumerate(logprobs)]
    return {
        "content": [
            {"token": t, "logprob": v, "bytes": list(t.encode()), "top_logprobs": []}
            for t, v in pairs
        ]
    }


class FakeChatServer:
    """A real HTTP server on 127.0.0.1 speaking the chat-completions API with scripted answers.

    The first `fail_first` requests get HTTP 500, the next `hang_first` requests hang for
    `hang_seconds` before answering (longer than the client's timeout), the rest are answered by
    `answer(body) -> str` (or `(str, stop_reason)`, as vLLM reports the stop string that ended it).
    `strict=True`: a body with a field outside the standard schema gets HTTP 422 (naming the
    fields), and answers are cut before the first stop string, with no `stop_reason`.
    `logprobs`: the token log-probabilities of each answer, when a request asks for them (see
    `logprobs_field`; one certain token per character by default); None: the server gives none
    (`"logprobs": null`, or no such field when strict, as `transformers serve` answers).
    `serial=True`: one request answered at a time (a server at its batch limit), the others wait.
    `die_after=N`: from the (N+1)-th request on the server drops every connection unanswered, as
    one that died mid-run. `raw_bodies` keeps the bytes of every request, `bodies` their JSON.
    """

    def __init__(
        self,
        answer,
        fail_first=0,
        hang_first=0,
        hang_seconds=3.0,
        delay=0.0,
        strict=False,
        logprobs=char_logprobs,
        serial=False,
        die_after=None,
    ):
        self.answer, self.fail_first, self.hang_first = answer, fail_first, hang_first
        self.die_after = die_after
        self._serial = threading.Lock() if serial else None
        self.hang_seconds, self.delay, self.strict = hang_seconds, delay, strict
        self.logprobs = logprobs
        self.bodies: list[dict] = []
        self.raw_bodies: list[bytes] = []
        self.active = self.max_active = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                with server._lock:
                    n = len(server.bodies)
                    server.bodies.append(body)
                    server.raw_bodies.append(raw)
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                if server.die_after is not None and n >= server.die_after:
                    with server._lock:
                        server.active -= 1
                    self.close_connection = True
                    return  # no answer: the client sees the connection drop
                try:
                    if server._serial is not None:
                        server._serial.acquire()
                    if n < server.fail_first:
                        return self._send(500, {"error": {"message": "scripted failure"}})
                    unknown = nonstandard_fields(body) if server.strict else []
                    if unknown:
                        detail = f"Unexpected fields in the request: {', '.join(unknown)}"
                        return self._send(422, {"detail": detail})
                    if n < server.fail_first + server.hang_first:
                        time.sleep(server.hang_seconds)
                    time.sleep(server.delay)
                    content = server.answer(body)
                    content, stop_reason = (
                        content if isinstance(content, tuple) else (content, None)
                    )
                    choice = {
                        "index": 0,
                        "finish_reason": "stop",
                        "stop_reason": stop_reason,
                        "message": {"role": "assistant", "content": content},
                    }
                    if server.strict:
                        del choice["stop_reason"]
                        choice["message"]["content"] = strip_stop(content, body.get("stop"))
                    tokens = logprobs_field(server.logprobs, body, choice["message"]["content"])
                    if tokens is not None or not server.strict:
                        choice["logprobs"] = tokens
                    self._send(
                        200,
                        {
                            "id": f"c{n}",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [choice],
                        },
                    )
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    if server._serial is not None:
                        server._serial.release()
                    with server._lock:
                        server.active -= 1

            def _send(self, code, payload):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
