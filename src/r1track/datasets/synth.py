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
Every knob left at its default draws the same random numbers as before these knobs existed, so
existing seeds give the same sequences, byte for byte.
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
    vanish: int = 0
    """Times per sequence the target vanishes (an exit or a full occlusion) and reappears far from
    where it was last seen; 0: never. In place of the `out_of_view` exits when > 0."""
    vanish_min: int = 6
    """Fewest invisible frames of a vanishing."""
    vanish_max: int = 15
    """Most invisible frames of a vanishing."""

    def __post_init__(self) -> None:
        check_at_least("width", self.width, 64)
        check_at_least("height", self.height, 64)
        check_at_least("min_length", self.min_length, 2)
        _check_not_below("max_length", self.max_length, "min length", self.min_length)
        check_at_least("vanish", self.vanish, 0)
        check_at_least("vanish_min", self.vanish_min, 1)
        _check_not_below("vanish_max", self.vanish_max, "vanish min", self.vanish_min)
        need = self.vanish * (_Vanisher.SPAN + self.vanish_max)
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


def _occluder_regions(occluders, i: int, width: int, height: int):
    """(region, colour) of each occluding bar on frame `i`: `canvas[region] = colour` draws it."""
    regions = []
    for vertical, thick, pos, speed, colour in occluders:
        p = pos + speed * i
        if vertical:
            a = int(p * width)
            regions.append(((slice(None), slice(max(0, a), max(0, a + thick))), colour))
        else:
            a = int(p * height)
            regions.append(((slice(max(0, a), max(0, a + thick)), slice(None)), colour))
    return regions


FAR = 2.0
"""A reappearance is far when the centres of the last box before the gap and the first after it
are more than FAR times the largest side of the two boxes apart."""


def _centre_distance_ratio(a, b) -> float:
    """Centre distance of two x,y,w,h boxes over the largest side of either (`FAR` compares)."""
    distance = math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)
    return distance / max(a[2], a[3], b[2], b[3])


def _visible_box(mask: np.ndarray, x0: int, y0: int, blocked: np.ndarray):
    """(pixels seen, x,y,w,h box) of a sprite mask at (x0, y0) on a frame where `blocked` pixels
    are covered by occluders; (0, None) when none is seen."""
    H, W = blocked.shape
    seen = np.zeros((H, W), bool)
    h, w = mask.shape
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if cx1 > cx0 and cy1 > cy0:
        seen[cy0:cy1, cx0:cx1] = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    seen &= ~blocked
    ys, xs = np.nonzero(seen)
    if not len(xs):
        return 0, None
    box = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    return len(xs), [float(v) for v in box]


def _grow(config: SynthConfig) -> float:
    """The most a sprite's side grows over its base size (scale change and aspect change)."""
    return (1 + config.scale_change) / max(0.25, 1 - 0.5 * config.scale_change)


class _Vanisher:
    """The target's planned vanishings (`SynthConfig.vanish`): when each starts, the motion that
    takes the target out of sight, the frames it stays unseen and where it reappears.

    Each vanishing: wait until the target has been seen on the previous frame, then `LEAD` frames
    at most of a straight dash (out through the nearest edge, or behind the panel); from the first
    frame it is unseen (or the last dash frame: hidden then) it stays unseen for exactly `frames`
    frames; on the next it is placed, seen, far from its last box (`FAR`), on the border after an
    exit or anywhere in the view after an occlusion, and moves on."""

    PRE, LEAD, AFTER = 5, 6, 10
    """Frames before a vanishing's dash may start, of the dash at most, and after it reappears."""
    SPAN = PRE + LEAD + AFTER
    """Frames a vanishing takes besides its invisible ones (`SynthConfig` checks lengths)."""
    TRIES = 200
    """Candidate places drawn for a reappearance."""

    def __init__(self, rng, config: SynthConfig, n: int, target: _Sprite):
        self.rng, self.config = rng, config
        W, H = config.width, config.height
        segment = n // config.vanish
        self.plan = []
        for j in range(config.vanish):
            frames = int(rng.integers(config.vanish_min, config.vanish_max + 1))
            room = segment - (self.LEAD + frames + self.AFTER)
            start = j * segment + int(rng.integers(self.PRE, max(self.PRE, room) + 1))
            kind = ("exit", "cover")[int(rng.integers(2))]
            self.plan.append((start, kind, frames))
        self.panel = None
        if any(kind == "cover" for _, kind, _ in self.plan):
            # a still panel that hides the target whole (1.4x its largest extent), towards a
            # corner (so the far side of the view has room for a far reappearance), away from
            # where the target starts
            pw = int(min(0.6 * W, 1.4 * target.w * _grow(config)))
            ph = int(min(0.6 * H, 1.4 * target.h * _grow(config)))
            for _ in range(20):
                px, py = self._towards_edge(pw, W), self._towards_edge(ph, H)
                if not (px - target.w < target.x < px + pw + target.w) or not (
                    py - target.h < target.y < py + ph + target.h
                ):
                    break
            self.panel = (px, py, pw, ph, rng.integers(0, 256, size=3).astype(np.float32))
        self.event, self.state, self.count = 0, "wait", 0

    def _towards_edge(self, size: int, side: int) -> int:
        """Where a panel of `size` starts along a `side`: its centre in the outer quarter of
        either end (or at the end, when it is too large for that)."""
        offset = int(self.rng.integers(0, max(0, side // 4 - size // 2) + 1))
        return offset if self.rng.integers(2) == 0 else side - size - offset

    def regions(self):
        """The panel as an occluder region, if there is one."""
        if self.panel is None:
            return []
        px, py, pw, ph, colour = self.panel
        return [((slice(py, py + ph), slice(px, px + pw)), colour)]

    def move(self, i: int, target: _Sprite, seen_before: bool) -> bool:
        """Move the target on frame `i` when a vanishing steers it; False: it moves as usual."""
        if self.state == "wait":
            if self.event >= len(self.plan) or i < self.plan[self.event][0] or not seen_before:
                return False  # not yet; and a gap must start after a frame that shows the target
            self._dash(target)
            self.state, self.count = "dash", 0
        if self.state == "dash":
            self.count += 1
            if self.count == self.LEAD:  # still seen after the dash: hidden from this frame on
                self._gone(target)
                return True
        target.x += target.vx
        target.y += target.vy
        return True

    def _gone(self, target: _Sprite) -> None:
        self.state, self.count = "gone", 0
        if self.plan[self.event][1] == "cover":
            target.vx = target.vy = 0.0  # it waits behind the panel

    def _dash(self, target: _Sprite) -> None:
        """Straight at the panel's centre, or out through the nearest edge, in LEAD - 1 steps."""
        W, H = self.config.width, self.config.height
        steps = self.LEAD - 1
        if self.plan[self.event][1] == "cover":
            px, py, pw, ph, _ = self.panel
            target.vx = (px + pw / 2 - target.x) / steps
            target.vy = (py + ph / 2 - target.y) / steps
            return
        half = max(target.w, target.h) * _grow(self.config) / 2 + 2
        exits = [target.x + half, W - target.x + half, target.y + half, H - target.y + half]
        side = int(np.argmin(exits))
        speed = max(self.config.max_speed, exits[side] / steps)
        target.vx, target.vy = ((-speed, 0.0), (speed, 0.0), (0.0, -speed), (0.0, speed))[side]

    def hidden(self) -> bool:
        """Whether the target is not drawn on this frame."""
        return self.state == "gone"

    def reappear(self, target: _Sprite, scale, aspect, blocked, last_box) -> bool:
        """Place the target where it is seen (`blocked`: the pixels occluders cover) and far from
        `last_box`, when its gap is over; whether it did."""
        if self.state != "gone" or self.count < self.plan[self.event][2]:
            return False
        rng, W, H = self.rng, self.config.width, self.config.height
        exit_ = self.plan[self.event][1] == "exit"
        best, best_ratio = None, -1.0
        for _ in range(self.TRIES):
            if exit_:  # on the border: a quarter to a half of it shows
                side, along = int(rng.integers(4)), rng.uniform(0.1, 0.9)
                x, y = ((0, along * H), (W, along * H), (along * W, 0), (along * W, H))[side]
            else:  # anywhere in the view, cut by its border or not
                x, y = rng.uniform(0, W), rng.uniform(0, H)
            target.x, target.y = float(x), float(y)
            _, mask, x0, y0 = target.render(scale, aspect)
            seen, box = _visible_box(mask, x0, y0, blocked)
            if seen < 0.2 * mask.sum():
                continue
            ratio = _centre_distance_ratio(box, last_box)
            if ratio > best_ratio:
                best, best_ratio = (target.x, target.y), ratio
            if ratio > FAR * 1.1:
                break
        if best is not None:
            target.x, target.y = best
        speed = rng.uniform(0.3, 1.0) * self.config.max_speed
        angle = math.atan2(H / 2 - target.y, W / 2 - target.x) + rng.uniform(-0.6, 0.6)
        target.vx, target.vy = speed * math.cos(angle), speed * math.sin(angle)
        self.state, self.event = "wait", self.event + 1
        return True

    def seen(self, target: _Sprite, visible: bool) -> None:
        """Count this frame: a dash ends at its first unseen frame, a gap counts its frames."""
        if self.state == "dash" and not visible:
            self._gone(target)
        if self.state == "gone":
            self.count += 1


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
    vanisher = None
    if config.vanish:  # its draws come after all others: sequences without it are unchanged
        vanisher = _Vanisher(rng, config, n, target)
        leave_at = -1  # the vanishings take the place of the out_of_view exit

    def regions(i: int):
        """The bars of frame i, then the panel of the vanishings' occlusions."""
        return _occluder_regions(occluders, i, W, H) + (vanisher.regions() if vanisher else [])

    frames, boxes, cover, absence, cut = [], [], [], [], []
    last_box, seen_before = None, False
    for i in range(n):
        t = i / max(1, n - 1)
        scale = 1 + config.scale_change * math.sin(2 * math.pi * t + scale_phase)
        aspect = 1 + 0.5 * config.scale_change * math.sin(2 * math.pi * t + aspect_phase)
        # camera
        ox = int(np.clip(W / 2 + pan[0] * i, 0, W))
        oy = int(np.clip(H / 2 + pan[1] * i, 0, H))
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
            _paste(canvas, *s.render(1.0, 1.0), owner, 2)
        pixels, mask, x0, y0 = target.render(scale, aspect)
        full = int(mask.sum())
        if vanisher is None or not vanisher.hidden():
            _paste(canvas, pixels, mask, x0, y0, owner, 1)
        for region, colour in regions(i):
            canvas[region] = colour
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
