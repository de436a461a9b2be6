"""Text-grounding samples for `data build --grounding-rate` (issue 21: `--init text`).

A grounding sample is what the tracker's text initialisation asks (`Tracker.ground`): one whole
frame, resized by `tracking.steps.grounding_image` as the tracker resizes it for a model whose
processor works in multiples of `grounding_factor` pixels with at most `grounding_pixels`
pixels, the prompt `prompts.grounding_prompt(description)` with the sequence's own description,
and the answer: the target's box in that image's pixels, rounded to integers. Frames are drawn
among those where the target is visible; a sequence with no description gives none (counted as
`no_description`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from r1track.datasets.base import Sequence
from r1track.geometry import clip_xyxy, coord_tint, xywh_to_xyxy
from r1track.prompts import grounding_prompt
from r1track.tracking.steps import grounding_image
from r1track.training.sampling import Sample, SamplingConfig, read_frame


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
