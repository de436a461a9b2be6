"""Procedural tracking sequences in the GOT-10k layout (`r1track data synth`).

Each sequence: a textured target (shape, pattern, colours) moving smoothly over a cluttered
background seen by a panning camera, with look-alike distractors (same pattern, similar colours),
occluders that cross it (partly or fully), exits from and returns into the view, scale and aspect
change, and illumination drift. Labels follow GOT-10k: `cover.label` 0..8 (0 = invisible, 8 = fully
visible), `absence.label` (1 when invisible), `cut_by_image.label` (1 when the frame cuts the
target); boxes are the target's visible extent clipped to the frame (the last visible box while it
is gone). A one-line description per sequence (`description.txt`) serves text initialisation.
Deterministic for a seed: sequence i uses its own generator seeded by (seed, i).

`vanish` (off by default, issue 19's "lost and found" sets) makes the target vanish that many times
per sequence, each time for `vanish_min`..`vanish_max` frames exactly (labels: cover 0, absence 1),
and reappear far from where it was last seen: the last visible box and the first one after the gap
have centres more than `FAR` times the largest side of either apart. A vanishing is an exit (the
target dashes out through the nearest edge and comes back through another part of the border) or
a full occlusion (it dashes behind a still panel of the scene and steps out elsewhere in the view).
`photos` (a folder, `r1track.datasets.photos`) cuts the background, the target, the look-alikes
and the occluders from photographs instead of drawing procedural textures; `blur` and `shake`
soften the frames and jitter the camera as hand-held footage does.

Every knob left at its default draws the same random numbers as before these knobs existed, so
existing seeds give the same sequences, byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

from r1track.datasets import got10k
from r1track.datasets.synth_draw import (
    SHAPES,
    Sprite,
    draw_background,
    occluder_regions,
    paste,
    pattern_tile,
    photo_background,
    photo_tile,
)
from r1track.datasets.synth_vanish import Vanisher
from r1track.errors import ConfigError, check_at_least, check_share

if TYPE_CHECKING:
    from r1track.datasets.photos import PhotoSet

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
    vanish: int = 0
    """Times per sequence the target vanishes (an exit or a full occlusion) and reappears far from
    where it was last seen; 0: never. In place of the `out_of_view` exits when > 0."""
    vanish_min: int = 6
    """Fewest invisible frames of a vanishing."""
    vanish_max: int = 15
    """Most invisible frames of a vanishing."""
    size_min: float = 0.12
    """Smallest side of the target (and look-alikes) as a fraction of the frame's shorter side."""
    size_max: float = 0.3
    """Largest side of the target as a fraction of the frame's shorter side."""
    aspect_max: float = 0.0
    """When > 1: a sprite's side is drawn from size_min..size_max and its width / height from
    1/aspect_max..aspect_max, log-uniformly (tall people, long cars); 0: width and height drawn
    independently from size_min..size_max (mostly near square)."""
    photos: str = ""
    """A folder of photographs (`r1track.datasets.photos`): the background is a region of one,
    the target a patch of one, look-alikes patches of the same photograph or the target's own
    patch recoloured, occluders photographic too; "" (default): procedural textures."""
    photo_rate: float = 1.0
    """With `photos`: the share of sequences made of photographs; the others are the procedural
    sequences the same seed gives without `photos` (a mixed training set in one root)."""
    blur: float = 0.0
    """Largest Gaussian blur radius in pixels, drawn per sequence (0: sharp frames)."""
    shake: float = 0.0
    """Hand-held camera: spread in pixels of a random offset of the view per frame (0: none)."""

    def __post_init__(self) -> None:
        check_at_least("width", self.width, 64)
        check_at_least("height", self.height, 64)
        check_at_least("min_length", self.min_length, 2)
        _check_not_below("max_length", self.max_length, "min length", self.min_length)
        check_at_least("vanish", self.vanish, 0)
        check_at_least("vanish_min", self.vanish_min, 1)
        _check_not_below("vanish_max", self.vanish_max, "vanish min", self.vanish_min)
        if not 0 < self.size_min <= 1:
            raise ConfigError("size_min", f"must be in (0, 1], got {self.size_min}")
        _check_not_below("size_max", self.size_max, "size min", self.size_min)
        if self.size_max > 1:
            raise ConfigError("size_max", f"must be at most 1, got {self.size_max}")
        check_share("photo_rate", self.photo_rate)
        if self.aspect_max and self.aspect_max < 1:
            raise ConfigError("aspect_max", f"must be 0 (off) or at least 1, got {self.aspect_max}")
        check_at_least("blur", self.blur, 0)
        check_at_least("shake", self.shake, 0)
        need = self.vanish * (Vanisher.SPAN + self.vanish_max)
        if self.min_length < need:
            raise ConfigError(
                "min_length",
                f"must be at least {need} for {self.vanish} vanishing(s) of up to "
                f"{self.vanish_max} frames, got {self.min_length}",
            )


def _check_not_below(field: str, value, name: str, low) -> None:
    """A `ConfigError` of `field` when `value` is below the `low` of another field, `name`."""
    if value < low:
        raise ConfigError(field, f"must be at least the {name} ({low}), got {value}")


def synth_sequence(rng: np.random.Generator, config: SynthConfig, photos: PhotoSet | None = None):
    """Frames (PIL), boxes (N, 4), cover, absence, cut_by_image, description of one sequence.
    `photos` (the set loaded from `config.photos`) gives the scene photographic appearance."""
    W, H = config.width, config.height
    n = int(rng.integers(config.min_length, config.max_length + 1))
    if photos is None:
        background = draw_background(rng, W, H, config.clutter)
    else:
        background = photo_background(rng, photos, W, H, config.clutter)
    colour_name = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    base = min(W, H)
    source = photos.pick(rng) if photos is not None else -1  # the target's photograph

    def sprite(colour, tile=None):
        w = base * rng.uniform(config.size_min, config.size_max)
        if config.aspect_max:  # a side, then a log-uniform aspect
            aspect = config.aspect_max ** rng.uniform(-1, 1)
            w, h = w * math.sqrt(aspect), w / math.sqrt(aspect)
        else:
            h = base * rng.uniform(config.size_min, config.size_max)
        speed = rng.uniform(0.3, 1.0) * config.max_speed
        angle = rng.uniform(0, 2 * math.pi)
        if photos is not None and tile is None:
            tile = photo_tile(rng, photos, source, w, h)
        return Sprite(
            pattern_tile(rng, pattern, colour) if tile is None else tile,
            shape,
            rng.uniform(0.25, 0.75) * W,
            rng.uniform(0.25, 0.75) * H,
            speed * math.cos(angle),
            speed * math.sin(angle),
            w,
            h,
        )

    target = sprite(COLOURS[colour_name])
    if photos is not None:
        colour_name = nearest_colour(target.tile)
    distractors = []
    for _ in range(int(rng.integers(0, config.distractors + 1))):
        hue_shift = rng.uniform(-40, 40, size=3)  # look-alike: same pattern and shape, near colour
        tile = None  # photographs: another patch of the target's photograph, or its own recoloured
        if photos is not None and rng.random() < 0.5:
            tile = np.clip(target.tile + hue_shift, 0, 255)
        distractors.append(
            sprite(np.clip(np.array(COLOURS[colour_name]) + hue_shift, 0, 255), tile)
        )
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
                rng.integers(0, 256, size=3).astype(np.float32)
                if photos is None
                else photos.region(rng, photos.pick(rng), W, H, rng.uniform(0.5, 1.5)),
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
    vanisher = None
    if config.vanish:  # its draws come after all others: sequences without it are unchanged
        vanisher = Vanisher(rng, config, n, target)
        leave_at = -1  # the vanishings take the place of the out_of_view exit

    def regions(i: int):
        """The bars of frame i, then the panel of the vanishings' occlusions."""
        return occluder_regions(occluders, i, W, H) + (vanisher.regions() if vanisher else [])

    frames, boxes, cover, absence, cut = [], [], [], [], []
    last_box, seen_before = None, False
    for i in range(n):
        t = i / max(1, n - 1)
        scale = 1 + config.scale_change * math.sin(2 * math.pi * t + scale_phase)
        aspect = 1 + 0.5 * config.scale_change * math.sin(2 * math.pi * t + aspect_phase)
        # camera
        jx, jy = rng.normal(0, config.shake, size=2) if config.shake else (0.0, 0.0)
        ox = int(np.clip(W / 2 + pan[0] * i + jx, 0, W))
        oy = int(np.clip(H / 2 + pan[1] * i + jy, 0, H))
        canvas = background[oy : oy + H, ox : ox + W].copy()
        # motion: smooth velocity change, bounce inside the view (the target not while it leaves)
        if i == leave_at:
            phase = "leaving"
            target.vx = max(config.max_speed, 6.0) * (1 if target.x > W / 2 else -1)
            target.vy = 0.0
        steered = False
        if vanisher is not None:
            if vanisher.hidden():  # it may reappear on this frame: where the occluders are
                blocked = np.zeros((H, W), bool)
                for region, _ in regions(i):
                    blocked[region] = True
                steered = vanisher.reappear(target, scale, aspect, blocked, last_box)
            steered = steered or vanisher.move(i, target, seen_before)
        for s in [target, *distractors]:
            if s is target and steered:
                continue
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
            paste(canvas, *s.render(1.0, 1.0), owner, 2)
        pixels, mask, x0, y0 = target.render(scale, aspect)
        full = int(mask.sum())
        if vanisher is None or not vanisher.hidden():
            paste(canvas, pixels, mask, x0, y0, owner, 1)
        for region, colour in regions(i):
            canvas[region] = colour if colour.ndim == 1 else colour[region]  # a colour or a photo
            owner[region] = 3
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
        seen_before = bool(len(xs))
        if vanisher is not None:
            vanisher.seen(target, seen_before)
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
    if config.blur:  # drawn last: the same seed moves everything as it does unblurred
        radius = rng.uniform(0, config.blur)
        frames = [frame.filter(ImageFilter.GaussianBlur(radius)) for frame in frames]
    description = f"{colour_name} {pattern} {shape}" if photos is None else f"{colour_name} {shape}"
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
    photos = None
    if config.photos:
        from r1track.datasets.photos import PhotoSet

        photos = PhotoSet(config.photos)
    out = Path(out)
    prefix = "GOT-10k_" + {"train": "Train", "val": "Val", "test": "Test"}[split]
    names = []
    for i in tqdm(range(num_seqs), desc=f"synth {split}", unit="seq", disable=not progress):
        rng = np.random.default_rng([seed, i])
        # its own generator decides, so that a procedural sequence is the one `photos` "" gives
        photographic = photos is not None and np.random.default_rng([seed, i, 1]).random() < (
            config.photo_rate
        )
        frames, boxes, cover, absence, cut, description = synth_sequence(
            rng, config, photos if photographic else None
        )
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
            description=f"the {description}",
        )
        names.append(name)
    (out / split).mkdir(parents=True, exist_ok=True)
    (out / split / "list.txt").write_text("\n".join(names) + "\n")
    if photos is not None:
        (out / split / "photos.txt").write_text(photos.record())
    return names


def nearest_colour(tile: np.ndarray) -> str:
    """The `COLOURS` name nearest to a tile's mean colour (a photographic target's description)."""
    mean = tile.reshape(-1, 3).mean(0)
    return min(COLOURS, key=lambda name: float(((np.array(COLOURS[name]) - mean) ** 2).sum()))
