"""The target's planned vanishings for `data synth --vanish` (`synth.py`): when each starts, how
it leaves (an exit or a full occlusion behind a panel), and where it comes back, far away."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from r1track.datasets.synth_draw import Sprite

if TYPE_CHECKING:
    from r1track.datasets.synth import SynthConfig

FAR = 2.0
"""A reappearance is far when the centres of the last box before the gap and the first after it
are more than FAR times the largest side of the two boxes apart."""


def centre_distance_ratio(a, b) -> float:
    """Centre distance of two x,y,w,h boxes over the largest side of either (`FAR` compares)."""
    distance = math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)
    return distance / max(a[2], a[3], b[2], b[3])


def visible_box(mask: np.ndarray, x0: int, y0: int, blocked: np.ndarray):
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


def grow(config: SynthConfig) -> float:
    """The most a sprite's side grows over its base size (scale change and aspect change)."""
    return (1 + config.scale_change) / max(0.25, 1 - 0.5 * config.scale_change)


class Vanisher:
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

    def __init__(self, rng, config: SynthConfig, n: int, target: Sprite):
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
            pw = int(min(0.6 * W, 1.4 * target.w * grow(config)))
            ph = int(min(0.6 * H, 1.4 * target.h * grow(config)))
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

    def move(self, i: int, target: Sprite, seen_before: bool) -> bool:
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

    def _gone(self, target: Sprite) -> None:
        self.state, self.count = "gone", 0
        if self.plan[self.event][1] == "cover":
            target.vx = target.vy = 0.0  # it waits behind the panel

    def _dash(self, target: Sprite) -> None:
        """Straight at the panel's centre, or out through the nearest edge, in LEAD - 1 steps."""
        W, H = self.config.width, self.config.height
        steps = self.LEAD - 1
        if self.plan[self.event][1] == "cover":
            px, py, pw, ph, _ = self.panel
            target.vx = (px + pw / 2 - target.x) / steps
            target.vy = (py + ph / 2 - target.y) / steps
            return
        half = max(target.w, target.h) * grow(self.config) / 2 + 2
        exits = [target.x + half, W - target.x + half, target.y + half, H - target.y + half]
        side = int(np.argmin(exits))
        speed = max(self.config.max_speed, exits[side] / steps)
        target.vx, target.vy = ((-speed, 0.0), (speed, 0.0), (0.0, -speed), (0.0, speed))[side]

    def hidden(self) -> bool:
        """Whether the target is not drawn on this frame."""
        return self.state == "gone"

    def reappear(self, target: Sprite, scale, aspect, blocked, last_box) -> bool:
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
            seen, box = visible_box(mask, x0, y0, blocked)
            if seen < 0.2 * mask.sum():
                continue
            ratio = centre_distance_ratio(box, last_box)
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

    def seen(self, target: Sprite, visible: bool) -> None:
        """Count this frame: a dash ends at its first unseen frame, a gap counts its frames."""
        if self.state == "dash" and not visible:
            self._gone(target)
        if self.state == "gone":
            self.count += 1
