"""A short synthetic video with known ground truth, for the demo, tests and benchmarks.

A textured target moves smoothly and changes size over a textured, slowly drifting background.
Deterministic for a seed. (The full procedural dataset generator with distractors, occlusion and
GOT-10k labels is `r1track.datasets.synth`; `kind="dataset"` renders one of its sequences.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def synth_frames(num_frames: int = 48, width: int = 640, height: int = 360, seed: int = 0):
    """Yield `(frame, box_xywh)` pairs; boxes are exact in frame pixels."""
    if num_frames < 1 or width < 32 or height < 32:
        raise ValueError("need at least 1 frame of at least 32x32 pixels")
    rng = np.random.default_rng(seed)
    # Background: smooth colour gradient plus coarse noise, twice the frame so it can drift.
    ys, xs = np.mgrid[0 : 2 * height, 0 : 2 * width]
    base = np.stack(
        [
            96 + 60 * np.sin(xs / 97.0 + rng.uniform(0, 6)),
            96 + 60 * np.sin(ys / 71.0 + rng.uniform(0, 6)),
            96 + 40 * np.sin((xs + ys) / 131.0),
        ],
        axis=-1,
    )
    noise = rng.integers(-25, 26, size=(2 * height // 8 + 1, 2 * width // 8 + 1, 3))
    noise = np.kron(noise, np.ones((8, 8, 1)))[: 2 * height, : 2 * width]
    background = np.clip(base + noise, 0, 255).astype(np.uint8)
    # Target: a coloured checkerboard with a border, resized per frame.
    tile = np.zeros((64, 64, 3), np.uint8)
    colours = rng.integers(0, 256, size=(2, 3))
    checker = (np.add.outer(np.arange(64) // 16, np.arange(64) // 16) % 2).astype(bool)
    tile[checker], tile[~checker] = colours[0], colours[1]
    tile[:4], tile[-4:], tile[:, :4], tile[:, -4:] = 255, 255, 255, 255
    target = Image.fromarray(tile)
    phase = rng.uniform(0, 2 * math.pi, size=3)
    base_w, base_h = width * 0.14, height * 0.22
    for i in range(num_frames):
        t = i / max(1, num_frames - 1)
        w = base_w * (1 + 0.25 * math.sin(2 * math.pi * t + phase[2]))
        h = base_h * (1 + 0.25 * math.sin(2 * math.pi * t + phase[2]))
        cx = width * (0.5 + 0.3 * math.sin(2 * math.pi * t + phase[0]))
        cy = height * (0.5 + 0.25 * math.sin(4 * math.pi * t + phase[1]))
        x0, y0 = round(cx - w / 2), round(cy - h / 2)
        w, h = round(w), round(h)
        ox, oy = int(width * 0.5 * t), int(height * 0.3 * t)
        frame = Image.fromarray(background[oy : oy + height, ox : ox + width].copy())
        frame.paste(target.resize((w, h), Image.Resampling.NEAREST), (x0, y0))
        yield frame, (float(x0), float(y0), float(w), float(h))


def dataset_frames(num_frames: int = 48, width: int = 256, height: int = 192, seed: int = 0):
    """Yield `(frame, box_xywh)` of one `data synth` sequence (the scenes nano is trained on)."""
    from r1track.datasets.synth import SynthConfig, synth_sequence

    config = SynthConfig(
        width=width,
        height=height,
        min_length=num_frames,
        max_length=num_frames,
        distractors=1,
        occluders=0,
        clutter=0.3,
        out_of_view=0.0,
    )
    frames, boxes, *_ = synth_sequence(np.random.default_rng(seed), config)
    for frame, box in zip(frames, boxes, strict=True):
        yield frame, tuple(float(v) for v in box)


KINDS = {"simple": synth_frames, "dataset": dataset_frames}


def write_synth_video(
    out: str | Path,
    num_frames: int = 48,
    width: int = 640,
    height: int = 360,
    seed: int = 0,
    fps: int = 25,
    kind: str = "simple",
) -> tuple[Path, Path]:
    """Write the video (any container PyAV knows by its suffix) and `<out>.groundtruth.txt`.

    `kind`: `simple` (one checkerboard on a drifting background) or `dataset` (a `data synth`
    scene with clutter and a look-alike).
    """
    import av

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gt_path = out.with_suffix(".groundtruth.txt")
    lines = []
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream(
            "libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame, box in KINDS[kind](num_frames, width, height, seed):
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
            lines.append(",".join(f"{v:g}" for v in box))
        for packet in stream.encode(None):
            container.mux(packet)
    gt_path.write_text("\n".join(lines) + "\n")
    return out, gt_path
