"""Appearance: does a box look like the target? A check that needs no model.

A box's appearance is a histogram of its pixels' chromaticity (r and g of `rgb / (r + g + b)`,
8 soft bins each over [0, 2/3)) jointly with their brightness relative to the box's mean (3
bins: the pattern's dark, middle and light parts), with pixels weighted by a Gaussian about the
box's centre (the corners of a box are often background); beside it, the box's mean brightness
relative to the whole frame's. All parts ignore a change of light that scales all channels of
the frame alike (the synthetic scenes' drift, an exposure change); a look-alike of another
colour, or background where the target was, changes them. `likeness` is the Bhattacharyya
coefficient of two histograms (1 for the same distribution, 0 for disjoint ones) times the
square root of the ratio of the two relative brightnesses.

`TrackerConfig.min_likeness` uses it: an answer whose box is less like the first frame's target
than that counts as not found (`unlike`), and re-detection takes the most alike of the candidate
boxes. Models never trained to say "absent" (the released checkpoints, r1track-nano) answer a box
on every frame, about as confidently when the target is gone as when it is there; their boxes
then land on background or a look-alike, which this check sees.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageStat

PATCH = 24
"""Side, in pixels, that a box's contents are resized to before they are described."""
CHROMA_BINS = 8
BRIGHTNESS_EDGES = (0.8, 1.25)
"""Relative brightness (pixel / box mean) bin edges: darker, about the mean, lighter."""
CENTRE_SIGMA = 0.5
"""Gaussian weight's spread, in half-sides of the box."""


def _centre_weights(n: int) -> np.ndarray:
    c = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n]
    d2 = ((xx - c) / (n / 2)) ** 2 + ((yy - c) / (n / 2)) ** 2
    return np.exp(-d2 / (2 * CENTRE_SIGMA**2))


_WEIGHTS = _centre_weights(PATCH)


class Look(NamedTuple):
    """A box's appearance: its histogram and its brightness relative to the whole frame's."""

    hist: np.ndarray
    """Normalised, `CHROMA_BINS x CHROMA_BINS x 3` (chromaticity r, g x relative brightness)."""
    brightness: float
    """The box's mean brightness / the frame's: a white target on a dark road and the road have
    the same grey chromaticity and even brightness, and differ here; a change of light over the
    whole frame leaves it."""


def describe(frame: Image.Image, box_xywh, frame_brightness: float | None = None) -> Look:
    """The appearance of a frame's pixels inside `box_xywh` (frame pixels; at least one pixel of
    it inside the frame). `frame_brightness`: the frame's mean of r + g + b, when known."""
    x, y, w, h = (float(v) for v in box_xywh)
    left, top = max(0, math.floor(x)), max(0, math.floor(y))
    right = min(frame.width, max(left + 1, math.ceil(x + w)))
    bottom = min(frame.height, max(top + 1, math.ceil(y + h)))
    patch = frame.crop((left, top, right, bottom)).resize((PATCH, PATCH), Image.Resampling.BILINEAR)
    if frame_brightness is None:
        frame_brightness = brightness_of(frame)
    pixels = np.asarray(patch)
    box_brightness = float(pixels.astype(np.float64).sum(axis=2).mean()) + 3.0
    return Look(describe_pixels(pixels), box_brightness / frame_brightness)


def brightness_of(frame: Image.Image) -> float:
    """A frame's mean of r + g + b (+3, as the pixels are described), for `describe`."""
    return float(sum(ImageStat.Stat(frame).mean[:3])) + 3.0


def describe_pixels(pixels: np.ndarray) -> np.ndarray:
    """The histogram of an HxWx3 RGB array already cut to the box (any size; weights by
    `PATCH` when it has that size, uniform otherwise).

    >>> red = np.zeros((24, 24, 3), np.uint8); red[..., 0] = 200
    >>> h, darker = describe_pixels(red), describe_pixels(red // 2)
    >>> h.shape, round(float(h.sum()), 6), round(float(np.sqrt(h * darker).sum()), 6)
    ((8, 8, 3), 1.0, 1.0)
    """
    rgb = pixels.astype(np.float64) + 1.0  # no division by zero on black
    total = rgb.sum(axis=2)
    brightness = np.digitize(total / total.mean(), BRIGHTNESS_EDGES)
    weights = _WEIGHTS if total.shape == _WEIGHTS.shape else np.ones(total.shape)
    hist = np.zeros((CHROMA_BINS, CHROMA_BINS, len(BRIGHTNESS_EDGES) + 1))
    # Soft bins: a chromaticity shares its weight between the two nearest bin centres in r and
    # in g, so a colour on a bin edge does not flip bins with a small change of light.
    (r0, r1, wr), (g0, g1, wg) = (_soft_bin(rgb[..., c] / total) for c in (0, 1))
    for r, w_r in ((r0, 1 - wr), (r1, wr)):
        for g, w_g in ((g0, 1 - wg), (g1, wg)):
            np.add.at(hist, (r, g, brightness), weights * w_r * w_g)
    return hist / hist.sum()


def _soft_bin(share: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chromaticity in [0, 1] -> (lower bin, upper bin, weight of the upper one), with bin
    centres at (k + 0.5) / CHROMA_BINS of [0, 2/3) and the outer halves clamped."""
    position = np.clip(share * CHROMA_BINS / (2 / 3) - 0.5, 0, CHROMA_BINS - 1)
    low = np.minimum(position.astype(int), CHROMA_BINS - 2)
    return low, low + 1, position - low


def likeness(a: Look, b: Look) -> float:
    """How alike two looks are, in [0, 1]: the Bhattacharyya coefficient of their histograms
    times the square root of the ratio of their relative brightnesses (smaller / larger).

    >>> one = np.zeros((8, 8, 3)); one[0, 0, 0] = 1
    >>> two = np.zeros((8, 8, 3)); two[1, 0, 0] = 1
    >>> likeness(Look(one, 1.0), Look(one, 1.0)), likeness(Look(one, 1.0), Look(two, 1.0))
    (1.0, 0.0)
    >>> round(likeness(Look(one, 1.0), Look((one + two) / 2, 1.0)), 3)
    0.707
    >>> likeness(Look(one, 2.0), Look(one, 0.5))  # the same colours, 4x brighter
    0.5
    """
    ratio = min(a.brightness, b.brightness) / max(a.brightness, b.brightness)
    return float(np.sqrt(a.hist * b.hist).sum() * math.sqrt(ratio))
