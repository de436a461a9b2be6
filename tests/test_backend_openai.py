"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from conftest import decode_request
from r1track.backends.base import GenerationRequest
from r1track.backends.openai_api import OpenAIBackend
from r1track.errors import BackendError
from r1track.tracker import Tracker, TrackerConfig
from r1track.video import open_frames

REQUEST = GenerationRequest((Image.new("RGB", (56, 56), (1, 2, 3)),), "where?", 7)


def test_request_format(chat_server):
    server = chat_server(lambda body: "[1,2,3,4]")
    backend = OpenAIBackend(server.url, "r1track-test")
    template = Image.new("RGB", (112, 112), (200, 0, 0))
    request = GenerationRequest((template, Image.new("RGB", (112, 112), (0, 200, 0))), "find", 9)
    assert backend.generate([request]) == ["[1,2,3,4]"]
    body = server.bodies[0]
    assert body["model"] == "r1track-test"
    assert body["max_tokens"] == 9 and body["temperature"] == 0.0
    content = body["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url", "image_url", "text"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    images, text, _ = decode_request(body)
    # lossless: the server sees exactly our pixels
    assert images[0].tobytes() == template.tobytes() and text == "find"


def test_tracking_through_server_equals_in_process(chat_server, hf_backend, synth_video):
    """The same tiny model behind a server gives the same track, and each request of a track
    carries a byte-identical template image."""
    lock = threading.Lock()

    def answer(body):
        images, text, max_tokens = decode_request(body)
        with lock:
            return hf_backend.generate([GenerationRequest(tuple(images), text, max_tokens)])[0]

    server = chat_server(answer)
    video, boxes = synth_video
    config = TrackerConfig(crop_size=112)
    remote = list(
        Tracker(OpenAIBackend(server.url, "tiny"), config).track(open_frames(video), bbox=boxes[0])
    )
    local = list(Tracker(hf_backend, config).track(open_frames(video), bbox=boxes[0]))
    assert [(r.box, r.answer, r.fallback) for r in remote] == [
        (r.box, r.answer, r.fallback) for r in local
    ]
    templates = {b["messages"][0]["content"][0]["image_url"]["url"] for b in server.bodies}
    assert len(server.bodies) == len(boxes) - 1 and len(templates) == 1


def test_retries_on_server_errors_then_succeeds(chat_server):
    server = chat_server(lambda body: "ok", fail_first=2)
    backend = OpenAIBackend(server.url, "m", max_retries=3)
    assert backend.generate([REQUEST]) == ["ok"]
    assert len(server.bodies) == 3


def test_hanging_server_times_out_and_recovers(chat_server):
    server = chat_server(lambda body: "ok", hang_first=1, hang_seconds=5.0)
    backend = OpenAIBackend(server.url, "m", timeout=0.5, max_retries=2)
    t0 = time.perf_counter()
    assert backend.generate([REQUEST]) == ["ok"]
    assert time.perf_counter() - t0 < 4.0
    assert len(server.bodies) == 2


def test_server_that_stays_down_is_a_clear_error(chat_server):
    server = chat_server(lambda body: "ok")
    url = server.url
    server.stop()  # nothing listens on that port any more
    backend = OpenAIBackend(url, "m", timeout=1.0, max_retries=1)
    t0 = time.perf_counter()
    with pytest.raises(
        BackendError, match=r"no answer from http://127\.0\.0\.1:\d+/v1 after 2 tries"
    ):
        backend.generate([REQUEST])
    assert time.perf_counter() - t0 < 10.0


def test_persistent_server_error_is_reported_with_status(chat_server):
    server = chat_server(lambda body: "ok", fail_first=100)
    backend = OpenAIBackend(server.url, "m", max_retries=1)
    with pytest.raises(BackendError, match="answered HTTP 500"):
        backend.generate([REQUEST])
    assert len(server.bodies) == 2


def test_requests_run_concurrently_and_keep_order(chat_server):
    server = chat_server(lambda body: decode_request(body)[1], delay=0.3)
    backend = OpenAIBackend(server.url, "m", concurrency=8)
    requests = [GenerationRequest(REQUEST.images, f"q{i}", 5) for i in range(8)]
    t0 = time.perf_counter()
    assert backend.generate(requests) == [f"q{i}" for i in range(8)]
    assert time.perf_counter() - t0 < 8 * 0.3 / 2
    assert server.max_active >= 4
