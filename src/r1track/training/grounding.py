"""Text-grounding samples for `data build --grounding-rate` (issue 21: `--init text`).

A grounding sample is what the tracker's text initialisation asks (`Tracker.ground`): one whole
frame, resized by `tracking.steps.grounding_image` as the tracker resizes it for a model whose
processor works in multiples of `grounding_factor` pixels with at most `grounding_pixels`
pixels, the prompt `prompts.grounding_prompt(description)` with the sequence's own description,
and the answer: the target's box in that image's pixels, rounded to integers. Frames are drawn
among those where the target is visible; a sequence with no description gives none (counted as
`no_description`).

With `grounding_tiles` N (the tracker's `--grounding-tiles N`), a sample is one tile of the frame
instead (`tracking.redetect.grounding_tiles`, cut and resized to the crop size as the tracker cuts
it): half of them a tile that holds at least `TILE_HOLDS` of the target's area, answered with the
box in the tile (clipped to it), half a tile that holds at most `TILE_MISSES` of it, answered with
the absent answer: the model learns to say whether the described object is in a window, and the
tracker takes the surest box among the tiles. Tiles in between are never drawn (`tile_cuts_target`
when a frame has no tile of the drawn kind).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from r1track.datasets.base import Sequence
from r1track.geometry import area_xyxy, clip_xyxy, coord_tint, crop_image, xywh_to_xyxy
from r1track.prompts import grounding_prompt
from r1track.tracking.redetect import grounding_tiles
from r1track.tracking.steps import grounding_image
from r1track.training.sampling import Sample, SamplingConfig, read_frame

TILE_HOLDS = 0.75
"""A tile holds the target (its box is the answer) with at least this share of the box inside."""
TILE_MISSES = 0.05
"""A tile misses the target (the absent answer) with at most this share of the box inside."""


def grounding_sample(
    sequences: list[Sequence],
    usable: list[np.ndarray],
    rng: np.random.Generator,
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """A grounding `Sample` (with its `prompt`), or None after `config.max_attempts` draws."""
    for _ in range(config.max_attempts):
        k = int(rng.integers(len(sequences)))
        seq = sequences[k]
        if not seq.description or not len(usable[k]):
            drops["no_description" if not seq.description else "too_few_usable_frames"] += 1
            continue
        index = int(rng.choice(usable[k]))
        frame = read_frame(seq, index)
        if config.grounding_tiles:
            sample = _tile_sample(seq, index, frame, rng, config, drops)
            if sample is None:
                continue
            return sample
        factor = config.grounding_factor
        image = grounding_image(frame, factor, factor * factor, config.grounding_pixels)
        scale = np.array([image.width / frame.width, image.height / frame.height] * 2)
        box = clip_xyxy(xywh_to_xyxy(seq.boxes[index]) * scale, image.width, image.height)
        solution = [round(float(v)) for v in box]
        if solution[2] <= solution[0] or solution[3] <= solution[1]:
            drops["grounding_box_under_a_pixel"] += 1
            continue
        return Sample(
            sequence=seq.name,
            frames=[index],
            size=max(image.size),
            images=[coord_tint(image, config.coord_tint)],
            template_boxes=[],
            solution=solution,
            prompt=grounding_prompt(seq.description),
        )
    return None


def _tile_sample(
    seq: Sequence,
    index: int,
    frame,
    rng: np.random.Generator,
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """One tile of a frame as a grounding sample (module docstring), or None (a drop)."""
    size = int(rng.choice(config.sizes))
    tiles = grounding_tiles(frame.size, config.grounding_tiles, size)
    box = xywh_to_xyxy(seq.boxes[index])
    area = area_xyxy(box)
    shares = [
        area_xyxy(clip_xyxy(box - [t.x0, t.y0, t.x0, t.y0], t.side, t.side)) / area for t in tiles
    ]
    holds = rng.random() < 0.5
    kind = [
        i
        for i, share in enumerate(shares)
        if (share >= TILE_HOLDS if holds else share <= TILE_MISSES)
    ]
    if not kind:
        drops["tile_cuts_target"] += 1
        return None
    tile = tiles[int(rng.choice(kind))]
    solution = None
    if holds:
        crop_box = clip_xyxy(tile.to_crop(box), size, size)
        solution = [round(float(v)) for v in crop_box]
        if solution[2] <= solution[0] or solution[3] <= solution[1]:
            drops["grounding_box_under_a_pixel"] += 1
            return None
    image = coord_tint(crop_image(frame, tile, config.resize), config.coord_tint)
    return Sample(
        sequence=seq.name,
        frames=[index],
        size=size,
        images=[image],
        template_boxes=[],
        solution=solution,
        prompt=grounding_prompt(seq.description),
    )
