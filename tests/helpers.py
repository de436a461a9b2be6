"""Plain helpers shared by test modules: synthetic clips and images, an oracle that answers from
the pixels, a scripted backend, what a chat server is sent, the command line in a subprocess or
in this process, writers of small datasets in each benchmark's layout, the reference strings of
the message layouts, the sample values of the tracker settings, a run's manifest, and training
through the command line. (Fixtures live in conftest.py and tests/training/conftest.py.)"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from r1track.backends.base import GenerationRequest, PixelLimits
from r1track.datasets import got10k
from r1track.prompts import THINK_INSTRUCTION, tracking_prompt

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
"""The repository's training recipes (configs/)."""

NO_SERVER = "http://127.0.0.1:9/v1"
"""A base URL nothing answers at (port 9, discard)."""
OPENAI_NO_SERVER = ["--backend", "openai", "--base-url", NO_SERVER]
"""Command-line flags for the openai backend at `NO_SERVER`."""
SETTINGS_FLAGS = ["--prompt", "5k", "--no-think", "--layout", "r1track"]
"""The defaults' prompt, think mode and layout given as flags: nothing is guessed for a model
r1track does not know, so no note line (printed once per process: the first test to run would
get it)."""


def run_cli(*args, cwd=None, **env):
    """`python -m r1track.cli ARGS` in a subprocess, offline (HF_HUB_OFFLINE=1, plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "r1track.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1", **env),
        cwd=cwd,
        timeout=300,
    )


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of `r1track ARGV`, in this process (argparse errors exit)."""
    from r1track.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def bbox_flag(box) -> str:
    """A box as `--bbox` takes it: `x,y,w,h`, shortest form of each number."""
    return ",".join(f"{v:g}" for v in box)


def count_forwards(backend) -> list[int]:
    """Count the forward passes of an `HFBackend`'s model from now on: `calls[0]`."""
    calls = [0]
    forward = backend.model.forward

    def counting(*args, **kwargs):
        calls[0] += 1
        return forward(*args, **kwargs)

    backend.model.forward = counting
    return calls


def noise_image(seed: int, size: int = 112) -> Image.Image:
    """A square RGB image of uniform random pixels."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8))


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


def decode_request(body):
    """A chat-completions body -> (PIL images, text, max_tokens), as a server would see it."""
    import base64
    import io

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


def served_request(body) -> GenerationRequest:
    """The request a chat-completions body carries: its images, text and token budget."""
    images, text, max_tokens = decode_request(body)
    return GenerationRequest(tuple(images), text, max_tokens)


def moving_square_video(n=15, width=320, height=200, seed=0):
    """A white rectangle on a dark, noisy background; moves fast and leaves the frame a little."""
    rng = np.random.default_rng(seed)
    frames, boxes = [], []
    x, y, w, h = 60.0, 70.0, 40.0, 30.0
    for _ in range(n):
        pixels = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        x0, y0 = int(x), int(y)
        pixels[max(0, y0) : y0 + int(h), max(0, x0) : x0 + int(w)] = 255
        frames.append(Image.fromarray(pixels))
        box = np.array([max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)], float)
        boxes.append(box)
        x, y, w, h = x + 18, y + rng.uniform(-12, 12), w * 1.03, h * 1.02
    return frames, boxes


def white_blob_oracle(request):
    """Answers with the bounding box of white pixels in the search crop (crop pixels)."""
    search = np.asarray(request.images[-1])[..., 0]
    ys, xs = np.nonzero(search > 127)
    if len(xs) == 0:
        return "I do not see it"
    return f"[{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}]"


def oracle_server_answer(body):
    """`white_blob_oracle` behind a chat server: the answer to the request in `body`."""
    return white_blob_oracle(served_request(body))


def white_box_sequence(n, width, height, seed):
    """Frames and x,y,w,h boxes of a moving white rectangle (for dataset fixtures)."""
    frames, boxes = moving_square_video(n, width, height, seed)
    xywh = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes])
    return frames, xywh


def write_got10k(
    root: Path,
    split: str = "val",
    num_seqs: int = 3,
    length: int = 8,
    size=(160, 96),
    hidden=(),
):
    """A small GOT-10k split: moving white boxes, with absent / covered frames in sequence 1.
    `hidden`: frames labelled absent (absence 1, cover 0) in every sequence; when given, every
    frame labelled absent is drawn without its white box (a truly invisible target)."""
    names = []
    for i in range(num_seqs):
        name = f"GOT-10k_{split.capitalize()}_{i + 1:06d}"
        frames, boxes = white_box_sequence(length, *size, seed=i)
        cover = [8] * length
        absence = [0] * length
        if i == 1 and length > 4:
            cover[3], absence[3] = 0, 1
            cover[4] = 3
        for f in hidden:
            cover[f], absence[f] = 0, 1
        if hidden:
            frames = [
                _without_box(im, b) if absence[f] else im
                for f, (im, b) in enumerate(zip(frames, boxes, strict=True))
            ]
        got10k.write_sequence(
            root / split / name,
            frames,
            boxes,
            cover,
            absence,
            meta={"object_class": "box"},
            test=(split == "test"),
        )
        names.append(name)
    (root / split / "list.txt").write_text("\n".join(names) + "\n")
    return names


def _without_box(frame, box_xywh):
    """The frame with the box's pixels painted dark (the target gone)."""
    x, y, w, h = box_xywh
    pixels = np.array(frame)
    rows = slice(max(0, math.floor(y)), math.ceil(y + h))
    pixels[rows, max(0, math.floor(x)) : math.ceil(x + w)] = 30
    return Image.fromarray(pixels)


def _save_frames(folder: Path, frames, pattern: str, start: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=start):
        frame.save(folder / pattern.format(i))


def _box_lines(boxes, sep=",") -> str:
    return "\n".join(sep.join(f"{v:g}" for v in b) for b in boxes) + "\n"


def write_lasot(root: Path, length=6):
    """Two LaSOT sequences of one class, a testing_set.txt, occlusion and out-of-view labels."""
    names = []
    for i in range(2):
        name = f"box-{i + 1}"
        folder = root / "box" / name
        frames, boxes = white_box_sequence(length, 160, 100, seed=i)
        _save_frames(folder / "img", frames, "{:08d}.jpg")
        (folder / "groundtruth.txt").write_text(_box_lines(boxes))
        occ = [0] * length
        occ[2] = 1
        (folder / "full_occlusion.txt").write_text(",".join(map(str, occ)))
        (folder / "out_of_view.txt").write_text(",".join(["0"] * length))
        (folder / "nlp.txt").write_text(f"white box number {i + 1}\n")
        names.append(name)
    (root / "testing_set.txt").write_text("\n".join(names) + "\n")
    return names


def write_trackingnet(root: Path, length=5):
    for split, chunk in (("test", "TEST"), ("train_0", "TRAIN_0")):
        for i in range(2):
            name = f"seq_{i}"
            frames, boxes = white_box_sequence(length, 160, 100, seed=i)
            _save_frames(root / chunk / "frames" / name, frames, "{}.jpg", start=0)
            anno = boxes[:1] if split == "test" else boxes
            (root / chunk / "anno").mkdir(parents=True, exist_ok=True)
            (root / chunk / "anno" / f"{name}.txt").write_text(_box_lines(anno))


def write_otb(root: Path, length=5):
    frames, boxes = white_box_sequence(length, 160, 100, seed=0)
    _save_frames(root / "Car" / "img", frames, "{:04d}.jpg")
    (root / "Car" / "groundtruth_rect.txt").write_text(_box_lines(boxes, sep="\t"))
    frames, boxes = white_box_sequence(length, 160, 100, seed=1)
    _save_frames(root / "Jogging" / "img", frames, "{:04d}.jpg")
    (root / "Jogging" / "groundtruth_rect.1.txt").write_text(_box_lines(boxes))
    (root / "Jogging" / "groundtruth_rect.2.txt").write_text(_box_lines(boxes + 1, sep=" "))


def write_tnl2k(root: Path, length=5):
    for i in range(2):
        folder = root / f"seq{i}"
        frames, boxes = white_box_sequence(length, 160, 100, seed=i)
        _save_frames(folder / "imgs", frames, "{:05d}.png")
        (folder / "groundtruth.txt").write_text(_box_lines(boxes))
        (folder / "language.txt").write_text("the white box moving right")


def cv2_crop(pixels: np.ndarray, window) -> np.ndarray:
    """R1-Track's crop made with OpenCV itself: the RGB frame padded with black, the window cut
    out, `cv2.resize(..., INTER_LINEAR)` (without the reference's extra padded column)."""
    import cv2

    height, width = pixels.shape[:2]
    x0, y0, side = int(window.x0), int(window.y0), int(window.side)
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    padded = cv2.copyMakeBorder(pixels, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    cut = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    return cv2.resize(cut, (window.size, window.size), interpolation=cv2.INTER_LINEAR)


def cv2_jpeg(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels through `cv2.imencode(".jpg")` (OpenCV's defaults: quality 95) and back, as the
    reference stored and sent its crops; decoded with OpenCV too."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]))
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def outputs_agree(out: Path) -> int:
    """The number of frames in boxes.txt, asserting that track.jsonl and overlay.mp4 agree."""
    import json

    from r1track.video import open_frames

    lines = (out / "boxes.txt").read_text().splitlines()
    records = [json.loads(r) for r in (out / "track.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(len(lines)))
    assert [r["box"] for r in records] == [[float(v) for v in b.split(",")] for b in lines]
    assert len(list(open_frames(out / "overlay.mp4"))) == len(lines)
    return len(lines)


# -- message layouts: each rendered with Qwen's chat template ------------------------------------

TASK_100K = tracking_prompt((241, 66, 329, 154), "100k")
_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
_HEAD = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
_TAIL = "<|im_end|>\n<|im_start|>assistant\n"
# The think instruction as the launch script's command line delivered it: backslash + n.
THINK_AS_TRAINED = THINK_INSTRUCTION.replace("\n", "\\n")
# Each layout rendered with Qwen's chat template (reference doc, section 9), character by character.
RENDERED = {
    ("r1track", False): _HEAD + _IMAGE + _IMAGE + TASK_100K + _TAIL,
    ("r1track", True): _HEAD + _IMAGE + _IMAGE + THINK_INSTRUCTION + " " + TASK_100K + _TAIL,
    ("reference-train", False): _HEAD + _IMAGE + " " + _IMAGE + TASK_100K + _TAIL,
    ("reference-train", True): _HEAD
    + THINK_AS_TRAINED
    + " "
    + _IMAGE
    + " "
    + _IMAGE
    + TASK_100K
    + _TAIL,
    ("reference-eval", False): _HEAD + _IMAGE + _IMAGE + "<image> <image>" + TASK_100K + _TAIL,
    ("reference-eval", True): _HEAD
    + _IMAGE
    + _IMAGE
    + THINK_INSTRUCTION
    + " <image> <image>"
    + TASK_100K
    + _TAIL,
}
LAYOUT_CASES = sorted(RENDERED)
"""(layout, think) of every rendered layout."""


def layout_request(layout: str, think: bool) -> GenerationRequest:
    """The 100k task on two noise images, in `layout`."""
    return GenerationRequest(
        (noise_image(0), noise_image(1)), TASK_100K, 8, think=think, layout=layout, prefix_key="t"
    )


# -- tracker settings ---------------------------------------------------------------------------

# Three valid values per setting, none of them the default: (flag, settings file, released
# checkpoint). A new setting fails test_every_setting_is_tested (tracking/test_settings.py) until
# it is added here.
SETTING_SAMPLES = {
    "crop_size": (112, 224, 448),
    "context": (2.5, 3.0, 5.0),
    "prompt": ("nano", "100k", "5k-oneline"),
    "think": (True, True, True),
    "layout": ("reference-eval", "reference-train", "reference-eval"),
    "grounding_max_pixels": (12544, 50176, 200704),
    "grounding_windows": (4, 9, 16),
    "coord_tint": (0.1, 0.2, 0.3),
    "scale_lr": (0.25, 0.5, 0.75),
    "aspect_lr": (0.0, 0.3, 0.6),
    "views": (2, 3, 4),
    "resize": ("pil", "pil", "pil"),
    "image_format": ("png", "png", "png"),
    "redetect": (True, True, True),
    "redetect_context": (5.0, 6.0, 7.0),
    "redetect_verify": (True, True, True),
    "redetect_interval": (2, 3, 4),
    "max_tiles": (4, 9, 25),
    "min_confidence": (0.3, 0.5, 0.7),
    "min_agreement": (0.25, 0.5, 0.75),
    "min_likeness": (0.4, 0.6, 0.8),
    "memory_interval": (2, 3, 5),
    "memory_confidence": (0.3, 0.6, 0.9),
}


# -- evaluation runs ----------------------------------------------------------------------------


def run_manifest(root, split="val", dataset="got10k", **extra):
    """A run's manifest (run.json) for a dataset at `root`, with `extra` keys."""
    return {
        "dataset": dataset,
        "root": str(root),
        "split": split,
        "model": "m",
        "backend": "x",
        "init": "bbox",
        "tracker": {},
        **extra,
    }


# -- training -----------------------------------------------------------------------------------


def model_weights(path: Path) -> dict:
    """The tensors of PATH/model.safetensors."""
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def run_train(kind, tiny_model, built, out, *overrides) -> int:
    """`r1track train KIND` with configs/tiny-cpu-KIND.yaml on `tiny_model` and the data `built`."""
    from r1track.cli import main

    return main(
        [
            "train",
            kind,
            "--config",
            str(CONFIGS / f"tiny-cpu-{kind}.yaml"),
            f"model.path={tiny_model}",
            f"data.path={built}",
            f"output_dir={out}",
            *overrides,
        ]
    )


def changed_weights(before: Path, after: Path) -> list[str]:
    """The names of the tensors that differ between two checkpoints."""
    a, b = model_weights(before), model_weights(after)
    return [k for k in a if not np.array_equal(a[k].numpy(), b[k].numpy())]


def torch_allclose(x, y) -> bool:
    import torch

    return x.shape == y.shape and torch.allclose(x.float(), y.float(), atol=1e-6, rtol=1e-5)


def build_absent_data(root: Path, out: Path, num_samples: int, val_fraction: float = 0.0, **kw):
    """`data build` from the GOT-10k split at `root` with --absent-rate 0.5, 112 px crops."""
    from r1track.training.data import BuildConfig, build_dataset
    from r1track.training.sampling import SamplingConfig

    sampling = SamplingConfig(sizes=(112,), max_gap=5, absent_rate=0.5)
    config = BuildConfig(
        "got10k",
        str(root),
        num_samples=num_samples,
        val_fraction=val_fraction,
        sampling=sampling,
        **kw,
    )
    return build_dataset(config, out, workers=1, progress=False)
