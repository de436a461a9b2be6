"""Text-grounding samples for `data build --grounding-rate` (issue 21: `--init text`).

A grounding sample is what the tracker's text initialisation asks (`Tracker.ground`): one whole
frame, resized by `tracking.steps.grounding_image` as the tracker resizes it for a model whose
processor works in multiples of `grounding_factor` pixels with at most `grounding_pixels`
pixels, the prompt `prompts.grounding_prompt(description)` with the sequence's own description,
and the answer: the target's box in that image's pixels, rounded to integers. Frames are drawn
among those where the target is visible; a sequence with no description gives none (counted as
`no_description`).

With `grounding_windows` N (the tracker's `--grounding-windows N`), a sample is one window of the
frame instead (`tracking.redetect.grounding_windows`, with the context `template_context`, cut
and resized to the crop size as the tracker cuts it): half of them a window close to the search
crop centred on the target (IoU of the two squares at least `WINDOW_HOLDS`), answered with the
target's box in it, half a window far from it (IoU at most `WINDOW_MISSES`: elsewhere, or the
target at another scale), answered with the absent answer. The model learns to say whether the
described object is at the centre of a window at a search crop's scale, and the tracker takes
the box the windows agree on, weighed by how unlikely the absent answer is in each. Windows in
between are never drawn (`window_near_target` when a frame has none of the drawn kind).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from r1track.datasets.base import Sequence
from r1track.geometry import (
    CropWindow,
    clip_xyxy,
    coord_tint,
    crop_image,
    crop_window,
    iou_xyxy,
    xywh_to_xyxy,
)
from r1track.prompts import grounding_prompt
from r1track.tracking.redetect import grounding_windows
from r1track.tracking.steps import grounding_image
from r1track.training.sampling import Sample, SamplingConfig, read_frame

WINDOW_HOLDS = 0.5
"""A window shows the target (its box is the answer) at this IoU with its ideal window or more."""
WINDOW_MISSES = 0.25
"""A window misses the target (the absent answer) at this IoU with its ideal window or less."""


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
        if config.grounding_windows:
            sample = _window_sample(seq, index, frame, rng, config, drops)
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


def _window_sample(
    seq: Sequence,
    index: int,
    frame,
    rng: np.random.Generator,
    config: SamplingConfig,
    drops: Counter,
) -> Sample | None:
    """One window of a frame as a grounding sample (module docstring), or None (a drop)."""
    size = int(rng.choice(config.sizes))
    context = float(config.template_context)  # SamplingConfig requires it with windows
    windows = grounding_windows(frame.size, context, size, config.grounding_windows)
    ideal = crop_window(seq.boxes[index], context, size)
    ious = [float(iou_xyxy(_square(w), _square(ideal))) for w in windows]
    holds = rng.random() < 0.5
    kind = [
        i for i, iou in enumerate(ious) if (iou >= WINDOW_HOLDS if holds else iou <= WINDOW_MISSES)
    ]
    if not kind:
        drops["window_near_target"] += 1
        return None
    window = windows[int(rng.choice(kind))]
    solution = None
    if holds:
        crop_box = clip_xyxy(window.to_crop(xywh_to_xyxy(seq.boxes[index])), size, size)
        solution = [round(float(v)) for v in crop_box]
        if solution[2] <= solution[0] or solution[3] <= solution[1]:
            drops["grounding_box_under_a_pixel"] += 1
            return None
    image = coord_tint(crop_image(frame, window, config.resize), config.coord_tint)
    return Sample(
        sequence=seq.name,
        frames=[index],
        size=size,
        images=[image],
        template_boxes=[],
        solution=solution,
        prompt=grounding_prompt(seq.description),
    )


def _square(window: CropWindow) -> np.ndarray:
    return np.array([window.x0, window.y0, window.x0 + window.side, window.y0 + window.side])
