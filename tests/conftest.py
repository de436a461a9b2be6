"""Shared fixtures: a tiny checkpoint, a synthetic video, an oracle backend, a fake server."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import pytest

from r1track.backends.base import PixelLimits
from r1track.dev.fake_server import FakeChatServer


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
