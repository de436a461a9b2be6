"""Procedural tracking sequences in the GOT-10k layout (`r1track data synth`).

Each sequence: a textured target (shape, pattern, colours) moving smoothly over a cluttered
background seen by a panning camera, with look-alike distractors (same pattern, similar colours),
occluders that cross it (partly or fully), exits from and returns into the view, scale and aspect
change, and illumination drift. Labels follow GOT-10k: `cover.label` 0..8 (0 = invisible, 8 = fully
visible), `absence.label` (1 when invisible), `cut_by_image.label` (1 when the frame cuts the
target); boxes are the target's visible extent clipped to the frame (the last visible box while it
is gone). A one-line description per sequence (`description.txt`) serves text initialisation.
Deterministic for a seed: sequence i uses its own generator seeded by (seed, i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from r1track.datasets import got10k
from r1track.errors import ConfigError, check_at_least

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
    "cyan": (40, 200, 210),
    "white": (240, 240, 240),
}
PATTERNS = ("striped", "checkered", "dotted", "plain")
SHAPES = ("box", "ellipse", "diamond")


@dataclass(frozen=True)
class SynthConfig:
    """Difficulty knobs of the generator."""

    width: int = 256
    height: int = 192
    min_length: int = 40
    max_length: int = 80
    distractors: int = 2
    """Look-alike objects per sequence (0..distractors, uniformly)."""
    occluders: int = 1
    """Occluding bars per sequence (0..occluders)."""
    clutter: float = 0.5
    """Background clutter, 0 (smooth) to 1 (many shapes, strong texture)."""
    max_speed: float = 6.0
    """Largest target speed in pixels per frame."""
    scale_change: float = 0.3
    """Relative size change over a sequence (+-)."""
    out_of_view: float = 0.2
    """Probability that the target leaves the view for a while."""
    illumination: float = 0.25
    """Amplitude of the brightness drift (0: none)."""

    def __post_init__(self) -> None:
        check_at_least("width", self.width, 64)
        check_at_least("height", self.height, 64)
        check_at_least("min_length", self.min_length, 2)
        if self.max_length < self.min_length:
            raise ConfigError(
                "max_length",
                f"must be at least the min length ({self.min_length}), got {self.max_length}",
            )


def _pattern_tile(rng, pattern: str, colour, size: int = 48) -> np.ndarray:
    base = np.array(colour, dtype=np.float32)
    other = np.clip(base * rng.uniform(0.2, 0.5) + rng.uniform(0, 60), 0, 255)
    tile = np.empty((size, size, 3), np.float32)
    ys, xs = np.mgrid[0:size, 0:size]
    period = int(rng.integers(6, 14))
    if pattern == "striped":
        mask = ((xs + ys * rng.choice([0, 1])) // period) % 2 == 0
    elif pattern == "checkered":
        mask = ((xs // period) + (ys // period)) % 2 == 0
    elif pattern == "dotted":
        mask = ((xs % period - period / 2) ** 2 + (ys % period - period / 2) ** 2) > (
            period / 3
        ) ** 2
    else:
        mask = np.ones((size, size), bool)
    tile[mask], tile[~mask] = base, other
    return tile


def _shape_mask(shape: str, w: int, h: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    u, v = (xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1
    if shape == "ellipse":
        return u**2 + v**2 <= 1
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1
    return np.ones((h, w), bool)


@dataclass
class _Sprite:
    tile: np.ndarray
    shape: str
    x: float
    y: float
    vx: float
    vy: float
    w: float
    h: float

    def render(self, scale: float, aspect: float):
        """(pixels, mask, x0, y0) of the sprite at its current place and size."""
        w = max(4, round(self.w * scale * aspect))
        h = max(4, round(self.h * scale / aspect))
        pixels = np.asarray(
            Image.fromarray(self.tile.astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR),
            np.float32,
        )
        return pixels, _shape_mask(self.shape, w, h), round(self.x - w / 2), round(self.y - h / 2)


def _paste(canvas, pixels, mask, x0, y0, owner=None, label=0):
    """Draw a sprite (clipped to the canvas); optionally mark its pixels in `owner`."""
    H, W = canvas.shape[:2]
    h, w = mask.shape
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sub = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    region = canvas[cy0:cy1, cx0:cx1]
    region[sub] = pixels[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][sub]
    if owner is not None:
        owner[cy0:cy1, cx0:cx1][sub] = label


def _background(rng, width: int, height: int, clutter: float) -> np.ndarray:
    """A textured canvas twice the frame size (the camera pans over it)."""
    H, W = 2 * height, 2 * width
    ys, xs = np.mgrid[0:H, 0:W]
    canvas = np.stack(
        [
            110
            + 50
            * np.sin(xs / rng.uniform(30, 90) + rng.uniform(0, 6))
            * np.cos(ys / rng.uniform(30, 90)),
            110 + 50 * np.sin(ys / rng.uniform(30, 90) + rng.uniform(0, 6)),
            110 + 50 * np.cos((xs + ys) / rng.uniform(40, 120)),
        ],
        axis=-1,
    ).astype(np.float32)
    block = int(rng.integers(4, 12))
    noise = rng.normal(0, 40 * clutter, size=(H // block + 1, W // block + 1, 3))
    canvas += np.kron(noise, np.ones((block, block, 1)))[:H, :W]
    for _ in range(int(clutter * 40)):  # clutter shapes in random colours
        w, h = (int(v) for v in rng.integers(6, max(8, min(W, H) // 6), size=2))
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = rng.integers(0, 256, size=3).astype(np.float32)
        canvas[y : y + h, x : x + w][_shape_mask(shape, w, h)] = colour
    return np.clip(canvas, 0, 255)


def synth_sequence(rng: np.random.Generator, config: SynthConfig):
    """Frames (PIL), boxes (N, 4), cover, absence, cut_by_image, description of one sequence."""
    W, H = config.width, config.height
    n = int(rng.integers(config.min_length, config.max_length + 1))
    background = _background(rng, W, H, config.clutter)
    colour_name = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    base = min(W, H)

    def sprite(colour):
        w, h = base * rng.uniform(0.12, 0.3), base * rng.uniform(0.12, 0.3)
        speed = rng.uniform(0.3, 1.0) * config.max_speed
        angle = rng.uniform(0, 2 * math.pi)
        return _Sprite(
            _pattern_tile(rng, pattern, colour),
            shape,
            rng.uniform(0.25, 0.75) * W,
            rng.uniform(0.25, 0.75) * H,
            speed * math.cos(angle),
            speed * math.sin(angle),
            w,
            h,
        )

    target = sprite(COLOURS[colour_name])
    distractors = []
    for _ in range(int(rng.integers(0, config.distractors + 1))):
        hue_shift = rng.uniform(-40, 40, size=3)  # look-alike: same pattern and shape, near colour
        distractors.append(sprite(np.clip(np.array(COLOURS[colour_name]) + hue_shift, 0, 255)))
    occluders = []
    for _ in range(int(rng.integers(0, config.occluders + 1))):
        vertical = bool(rng.integers(2))
        thick = int(base * rng.uniform(0.08, 0.25))
        occluders.append(
            (
                vertical,
                thick,
                rng.uniform(-0.3, 1.3),
                rng.uniform(0.005, 0.03) * rng.choice([-1, 1]),
                rng.integers(0, 256, size=3).astype(np.float32),
            )
        )
    # leaving the view: in -> leaving (straight out) -> out (a few frames) -> back -> in
    leave_at = (
        int(rng.integers(n // 5, max(n // 5 + 1, n // 2)))
        if rng.random() < config.out_of_view
        else -1
    )
    stay_out = int(rng.integers(3, 10))
    phase, out_count = "in", 0
    scale_phase, aspect_phase = rng.uniform(0, 2 * math.pi, size=2)
    light_phase = rng.uniform(0, 2 * math.pi)
    pan = rng.uniform(-1.0, 1.0, size=2)

    frames, boxes, cover, absence, cut = [], [], [], [], []
    last_box = None
    for i in range(n):
        t = i / max(1, n - 1)
        # camera
        ox = int(np.clip(W / 2 + pan[0] * i, 0, W))
        oy = int(np.clip(H / 2 + pan[1] * i, 0, H))
        canvas = background[oy : oy + H, ox : ox + W].copy()
        # motion: smooth velocity change, bounce inside the view (the target not while it leaves)
        if i == leave_at:
            phase = "leaving"
            target.vx = max(config.max_speed, 6.0) * (1 if target.x > W / 2 else -1)
            target.vy = 0.0
        for s in [target, *distractors]:
            if s is target and phase != "in":
                s.x += s.vx
                continue
            s.vx += rng.normal(0, 0.3)
            s.vy += rng.normal(0, 0.3)
            speed = math.hypot(s.vx, s.vy)
            if speed > config.max_speed:
                s.vx, s.vy = s.vx / speed * config.max_speed, s.vy / speed * config.max_speed
            s.x += s.vx
            s.y += s.vy
            if not 0.1 * W < s.x < 0.9 * W and (s.x < 0.1 * W) == (s.vx < 0):
                s.vx = -s.vx
            if not 0.1 * H < s.y < 0.9 * H and (s.y < 0.1 * H) == (s.vy < 0):
                s.vy = -s.vy
        owner = np.zeros((H, W), np.int8)
        for s in distractors:
            _paste(canvas, *s.render(1.0, 1.0), owner, 2)
        scale = 1 + config.scale_change * math.sin(2 * math.pi * t + scale_phase)
        aspect = 1 + 0.5 * config.scale_change * math.sin(2 * math.pi * t + aspect_phase)
        pixels, mask, x0, y0 = target.render(scale, aspect)
        full = int(mask.sum())
        _paste(canvas, pixels, mask, x0, y0, owner, 1)
        for vertical, thick, pos, speed, colour in occluders:
            p = pos + speed * i
            if vertical:
                a = int(p * W)
                canvas[:, max(0, a) : max(0, a + thick)] = colour
                owner[:, max(0, a) : max(0, a + thick)] = 3
            else:
                a = int(p * H)
                canvas[max(0, a) : max(0, a + thick), :] = colour
                owner[max(0, a) : max(0, a + thick), :] = 3
        gain = 1 + config.illumination * math.sin(2 * math.pi * t * 1.5 + light_phase)
        canvas = np.clip(canvas * gain, 0, 255).astype(np.uint8)
        frames.append(Image.fromarray(canvas))
        visible = owner == 1
        if phase == "leaving" and (x0 >= W or x0 + mask.shape[1] <= 0):
            phase = "out"
        elif phase == "out":
            out_count += 1
            if out_count >= stay_out:
                phase, target.vx = "back", -target.vx  # come back the way it left
        elif phase == "back" and 0.2 * W < target.x < 0.8 * W:
            phase = "in"
        fraction = visible.sum() / max(1, full)
        ys, xs = np.nonzero(visible)
        if len(xs):
            box = [
                float(xs.min()),
                float(ys.min()),
                float(xs.max() + 1 - xs.min()),
                float(ys.max() + 1 - ys.min()),
            ]
            last_box = box
        elif last_box is not None:
            box = last_box
        else:  # invisible on the very first frames: use its clipped extent
            bx0, by0 = max(0, x0), max(0, y0)
            box = [
                float(bx0),
                float(by0),
                float(max(1, min(W, x0 + mask.shape[1]) - bx0)),
                float(max(1, min(H, y0 + mask.shape[0]) - by0)),
            ]
        boxes.append(box)
        c = 0 if not len(xs) else max(1, min(8, math.ceil(fraction * 8 - 1e-9)))
        cover.append(c)
        absence.append(int(c == 0))
        cut.append(int(x0 < 0 or y0 < 0 or x0 + mask.shape[1] > W or y0 + mask.shape[0] > H))
    description = f"{colour_name} {pattern} {shape}"
    return frames, np.array(boxes), cover, absence, cut, description


def write_synth(
    out: str | Path,
    split: str,
    num_seqs: int,
    seed: int,
    config: SynthConfig,
    progress: bool = True,
) -> list[str]:
    """Write `num_seqs` sequences to `out/<split>/` in the GOT-10k layout; returns their names."""
    from tqdm import tqdm

    check_at_least("num_seqs", num_seqs, 1)
    out = Path(out)
    prefix = "GOT-10k_" + {"train": "Train", "val": "Val", "test": "Test"}[split]
    names = []
    for i in tqdm(range(num_seqs), desc=f"synth {split}", unit="seq", disable=not progress):
        rng = np.random.default_rng([seed, i])
        frames, boxes, cover, absence, cut, description = synth_sequence(rng, config)
        # first frame must show the target: start where it is visible
        start = next((k for k, c in enumerate(cover) if c > 0), None)
        if start is None:
            continue
        name = f"{prefix}_{i + 1:06d}"
        folder = out / split / name
        got10k.write_sequence(
            folder,
            frames[start:],
            boxes[start:],
            cover[start:],
            absence[start:],
            cut[start:],
            meta={"object_class": description},
            test=(split == "test"),
        )
        (folder / "description.txt").write_text(f"the {description}\n")
        names.append(name)
    (out / split).mkdir(parents=True, exist_ok=True)
    (out / split / "list.txt").write_text("\n".join(names) + "\n")
    return names
