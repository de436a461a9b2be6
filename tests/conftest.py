"""Shared fixtures: a tiny checkpoint, a synthetic video, an oracle backend, a fake server."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

from r1track.backends.base import PixelLimits


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from r1track.dev.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def hf_backend(tiny_model):
    from r1track.backends.hf import HFBackend

    return HFBackend(str(tiny_model), device="cpu")


@pytest.fixture(scope="session")
def synth_video(tmp_path_factory) -> tuple[Path, list[tuple[float, float, float, float]]]:
    """A 12-frame 320x192 synthetic video and its ground-truth boxes."""
    from r1track.dev.synth_video import write_synth_video

    video, gt = write_synth_video(
        tmp_path_factory.mktemp("video") / "clip.mp4", 12, 320, 192, seed=3
    )
    boxes = [tuple(float(v) for v in line.split(",")) for line in gt.read_text().split()]
    return video, boxes


class ScriptedBackend:
    """A backend whose answers come from a function of the request (a test double)."""

    name = "scripted"

    def __init__(self, answer, limits: PixelLimits | None = None):
        self.answer = answer
        self.requests = []
        self.batches = []
        self._limits = limits or PixelLimits(56 * 56, 28 * 28 * 1280)

    @property
    def pixel_limits(self) -> PixelLimits:
        return self._limits

    def generate(self, requests):
        self.requests.extend(requests)
        self.batches.append(len(requests))
        return [self.answer(r) for r in requests]

    def close(self):
        pass


@pytest.fixture
def scripted():
    return ScriptedBackend


class FakeChatServer:
    """A real HTTP server on 127.0.0.1 speaking the chat-completions API with scripted answers.

    The first `fail_first` requests get HTTP 500, the next `hang_first` requests hang for
    `hang_seconds` before answering (longer than the client's timeout), the rest are answered by
    `answer(body) -> str`.
    """

    def __init__(self, answer, fail_first=0, hang_first=0, hang_seconds=3.0, delay=0.0):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.answer, self.fail_first, self.hang_first = answer, fail_first, hang_first
        self.hang_seconds, self.delay = hang_seconds, delay
        self.bodies: list[dict] = []
        self.active = self.max_active = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                import json
                import time

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    n = len(server.bodies)
                    server.bodies.append(body)
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    if n < server.fail_first:
                        return self._send(500, {"error": {"message": "scripted failure"}})
                    if n < server.fail_first + server.hang_first:
                        time.sleep(server.hang_seconds)
                    time.sleep(server.delay)
                    content = server.answer(body)
                    self._send(
                        200,
                        {
                            "id": f"c{n}",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content},
                                }
                            ],
                        },
                    )
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.active -= 1

            def _send(self, code, payload):
                import json

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


@pytest.fixture
def chat_server():
    servers = []

    def start(answer, **kwargs):
        servers.append(FakeChatServer(answer, **kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def decode_request(body):
    """A chat-completions body -> (PIL images, text, max_tokens), as a server would see it."""
    import base64
    import io

    from PIL import Image

    content = body["messages"][0]["content"]
    images = [
        Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1]))).convert(
            "RGB"
        )
        for p in content
        if p["type"] == "image_url"
    ]
    text = "".join(p["text"] for p in content if p["type"] == "text")
    return images, text, body.get("max_tokens")
