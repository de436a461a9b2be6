"""Samples where only the template says which object to answer (`data build --paste-rate`).

A pair as `sampling.draw_sample` draws it lets a model answer the likeliest object near the
search crop's centre and never look at the template: the bundled r1track-nano loses almost
nothing when its templates are shuffled across pairs (benchmarks/nano.md, experiment 21). Here
another sequence's target, cut from its own search crop, is pasted into the search crop away from
the target; in half of these samples the template is the other sequence's and the answer is the
pasted box. Both halves hold a pasted patch, so its edges do not tell the answer: the template
does.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from r1track.training.sampling import Sample

SCALE_RANGE = (0.8, 1.25)
"""The pasted patch's size, x its size in its own search crop."""
MAX_COVER = 0.2
"""At most this share of the target's box (and of the patch) may overlap the other."""
PLACEMENTS = 20
"""Positions tried before the sample is given up (the crop has no room beside the target)."""


def _overlap(a: list[int], b: list[int]) -> float:
    """Intersection area of two xyxy boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(max(0, w) * max(0, h))


def _area(box: list[int]) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def paste_sample(base: Sample, other: Sample, rng: np.random.Generator) -> Sample | None:
    """`base`'s search crop with `other`'s target pasted into it where it covers little of
    `base`'s target; with probability 1/2 the templates are `other`'s and the solution is the
    pasted box, else `base`'s templates and solution. None when no placement fits."""
    if base.solution is None or other.solution is None or base.size != other.size:
        return None
    size = base.size
    x1, y1, x2, y2 = other.solution
    patch = other.images[-1].crop((x1, y1, x2, y2))
    scale = rng.uniform(*SCALE_RANGE)
    w = min(size // 2, max(2, round((x2 - x1) * scale)))
    h = min(size // 2, max(2, round((y2 - y1) * scale)))
    patch = patch.resize((w, h), Image.BILINEAR)
    target = base.solution
    for _ in range(PLACEMENTS):
        px, py = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        placed = [px, py, px + w, py + h]
        cover = _overlap(placed, target)
        if cover <= MAX_COVER * _area(target) and cover <= MAX_COVER * _area(placed):
            break
    else:
        return None
    search = base.images[-1].copy()
    search.paste(patch, (px, py))
    if rng.random() < 0.5:  # the other's template: the pasted patch is the answer
        templates, boxes, solution = other.images[:-1], other.template_boxes, placed
    else:
        templates, boxes, solution = base.images[:-1], base.template_boxes, list(target)
    return Sample(
        f"{base.sequence}+{other.sequence}",
        base.frames,
        size,
        [*templates, search],
        boxes,
        solution,
    )
