"""The openai backend against a real OpenAI-compatible server we did not write: `transformers
serve` (transformers' `serving` extra), with r1track-nano, on the CPU.

Skipped unless a Python with the serving extra is at hand: this environment's, or the one named
by R1TRACK_SERVE_PYTHON (e.g. a throwaway venv with `transformers[serving]`, `requests`, Pillow;
never torchvision). Without torchvision the stock Qwen2.5-VL processor does not load, and
AutoProcessor falls back to the bare tokenizer, so the server would treat nano as text-only and
drop the images; the checkpoint copy here carries an image-only processor as local code
(`--trust-remote-code`), which the server loads as a vision processor.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from r1track.backends.hf import HFBackend
from r1track.backends.openai_api import OpenAIBackend
from r1track.models import BUNDLED
from r1track.tracking import Tracker, TrackerConfig
from r1track.video import open_frames

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SERVE_PYTHON = os.environ.get("R1TRACK_SERVE_PYTHON", sys.executable)
PROCESSOR_CODE = '''"""Qwen2.5-VL's processor minus its video processor (needs torchvision)."""

from transformers import Qwen2_5_VLProcessor


class ImageTextProcessor(Qwen2_5_VLProcessor):
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer,
                         video_processor=None, chat_template=chat_template, **kwargs)
'''


def _has_serving(python: str) -> bool:
    probe = [python, "-c", "import fastapi, uvicorn, requests, PIL, transformers"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(
    not _has_serving(SERVE_PYTHON),
    reason="transformers serve is not installed (set R1TRACK_SERVE_PYTHON to a Python with "
    "transformers[serving])",
)


def vision_checkpoint_copy(source: Path, out: Path) -> Path:
    """A copy of `source` whose processor AutoProcessor loads as an image+text processor."""
    shutil.copytree(source, out)
    (out / "processing_imagetext.py").write_text(PROCESSOR_CODE)
    config_file = out / "processor_config.json"
    config = json.loads(config_file.read_text())
    config["processor_class"] = "ImageTextProcessor"
    config["auto_map"] = {"AutoProcessor": "processing_imagetext.ImageTextProcessor"}
    config_file.write_text(json.dumps(config, indent=2))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1.0)
    pytest.fail("transformers serve did not start")


def test_nano_through_transformers_serve_equals_in_process(tmp_path):
    """Every request is accepted (standard fields only), the images reach the model (answers
    differ per frame), and the track equals the in-process one box for box."""
    model = vision_checkpoint_copy(BUNDLED["nano"], tmp_path / "nano")
    port = _free_port()
    cli = Path(SERVE_PYTHON).parent / "transformers"
    command = [str(cli), "serve", str(model), "--port", str(port), "--device", "cpu"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [*command, "--trust-remote-code"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, process)
        config = TrackerConfig.for_checkpoint("nano")
        frames = list(open_frames(ASSETS / "demo.mp4"))[:5]
        bbox = tuple(
            float(v) for v in (ASSETS / "demo.groundtruth.txt").read_text().split()[0].split(",")
        )
        remote = list(
            Tracker(OpenAIBackend(base + "/v1", str(model), concurrency=1), config).track(
                frames, bbox=bbox
            )
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    local = list(Tracker(HFBackend("nano", device="cpu"), config).track(frames, bbox=bbox))
    assert [(r.box, r.answer) for r in remote] == [(r.box, r.answer) for r in local]
    assert all(r.parsed for r in remote[1:])
    assert len({r.answer for r in remote[1:]}) > 1  # images are used: not one answer for all
