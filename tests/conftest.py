"""Shared fixtures: a tiny checkpoint, a synthetic video, an oracle backend, a fake server.

Session- and module-scoped fixtures are shared by many tests, so no test may change them (a
change would make results depend on test order): `_shared_fixtures_stay_unchanged` checks it
after every test. A test that changes backend settings or replaces a method takes
`fresh_hf_backend`; one that writes into a model folder copies `tiny_model` to tmp_path first.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import pytest

from helpers import ScriptedBackend, write_got10k
from r1track.dev.fake_server import FakeChatServer

SHARED_FIXTURES = (
    "tiny_model",
    "hf_backend",
    "synth_video",
    "got_train",
    # session-scoped ones of training/conftest.py, and the module-scoped one of cli/test_common.py
    "built",
    "sft_model",
    "vision_data",
    "bad_input_env",
)
"""Fixtures whose value outlives one test; checked unchanged after each test that uses them."""


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from r1track.dev.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def hf_backend(tiny_model):
    """The tiny model, loaded once: for tests that only call it (never set or replace anything
    on it; see `fresh_hf_backend`)."""
    from r1track.backends.hf import HFBackend

    return HFBackend(str(tiny_model), device="cpu")


@pytest.fixture
def fresh_hf_backend(tiny_model):
    """A backend of its own on the tiny model (cheap: the weights are tiny), for a test that
    changes its settings, replaces a method or reads its caches."""
    from r1track.backends.hf import HFBackend

    backend = HFBackend(str(tiny_model), device="cpu")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def synth_video(tmp_path_factory) -> tuple[Path, list[tuple[float, float, float, float]]]:
    """A 12-frame 320x192 synthetic video and its ground-truth boxes."""
    from r1track.dev.synth_video import write_synth_video

    video, gt = write_synth_video(
        tmp_path_factory.mktemp("video") / "clip.mp4", 12, 320, 192, seed=3
    )
    boxes = [tuple(float(v) for v in line.split(",")) for line in gt.read_text().split()]
    return video, boxes


@pytest.fixture(scope="session")
def got_train(tmp_path_factory) -> Path:
    """A small GOT-10k train split (4 sequences of 12 frames), for training and `data build`."""
    root = tmp_path_factory.mktemp("got")
    write_got10k(root, "train", num_seqs=4, length=12)
    return root


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


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch):
    """Each test starts as a new process does, with no model noticed yet: the note on a
    checkpoint with guessed settings is printed once per process (`notice_guessed_settings`),
    so without this whether a test sees it would depend on the tests before it."""
    from r1track.tracking import settings

    monkeypatch.setattr(settings, "_NOTICED", set())


@pytest.fixture(autouse=True)
def _shared_fixtures_stay_unchanged(request):
    shared = {n: request.getfixturevalue(n) for n in SHARED_FIXTURES if n in request.fixturenames}
    before = {n: _state(v) for n, v in shared.items()}
    yield
    changed = [n for n, v in shared.items() if _state(v) != before[n]]
    assert not changed, (
        f"the test changed shared fixture(s) {', '.join(changed)}: later tests would see it; "
        "use fresh_hf_backend, monkeypatch on an object of its own, or a copy in tmp_path"
    )


def _state(value):
    """What a shared fixture value is made of, to compare before and after a test: files by
    name, size and mtime; containers by their items; other objects by their attributes (values,
    or identity for objects), except `last_*` (diagnostics every call sets, not settings)."""
    if isinstance(value, Path):
        if value.is_dir():
            return sorted(
                (str(p.relative_to(value)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in value.rglob("*")
            )
        return (value.stat().st_size, value.stat().st_mtime_ns) if value.exists() else None
    if isinstance(value, (list, tuple)):
        return (type(value), [_state(v) for v in value])
    if isinstance(value, dict):
        return {k: _state(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    if not hasattr(value, "__dict__"):
        return id(value)
    return {
        k: v if v is None or isinstance(v, (str, int, float, bool)) else id(v)
        for k, v in vars(value).items()
        if not k.startswith("last_")
    }
