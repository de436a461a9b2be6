"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It exercises the `openai` backend over real HTTP without a model server: answers come from a
function of the request body; it can fail, hang or add latency on purpose. Not for serving models
(use vLLM for that).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatServer:
    """A real HTTP server on 127.0.0.1 speaking the chat-completions API with scripted answers.

    The first `fail_first` requests get HTTP 500, the next `hang_first` requests hang for
    `hang_seconds` before answering (longer than the client's timeout), the rest are answered by
    `answer(body) -> str` (or `(str, stop_reason)`, as vLLM reports the stop string that ended it).
    """

    def __init__(self, answer, fail_first=0, hang_first=0, hang_seconds=3.0, delay=0.0):
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
                    content, stop_reason = (
                        content if isinstance(content, tuple) else (content, None)
                    )
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
                                    "stop_reason": stop_reason,
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
