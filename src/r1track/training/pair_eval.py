"""Per-pair accuracy of a model on a built dataset, against the answer that ignores the images.

For each validation pair: the model's answer box vs the solution (IoU, 0 when no box parses; on
an absent pair, solution `[]`, 1 for the absent answer and 0 for a box: `rewards.iou_reward`).
Two references tell whether the model uses the images at all:
- `trivial`: the template box, moved to the centre of the search crop (what a model that learned
  only the prior answers);
- `shuffled`: the model again, with search images shuffled across pairs; a model that reads the
  search image loses accuracy, one that ignores it does not;
- `template_shuffled`: the model with template images shuffled across pairs (the search image
  its own): a model that matches the template loses accuracy, one that only finds the likeliest
  object near the crop's centre does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from r1track.errors import UserError
from r1track.geometry import iou_xyxy
from r1track.training.data import BUILD_INFO
from r1track.training.rewards import iou_reward, no_box

_BOX = re.compile(r"\[(\d+),(\d+),(\d+),(\d+)\]")


def template_box(row: dict) -> list[float]:
    """A row's (first) template box: its `template_boxes` column, or for datasets built before
    that column existed, the box written in its prompt text."""
    if row.get("template_boxes"):
        return [float(v) for v in row["template_boxes"][0]]
    match = _BOX.search(row["prompt"][0]["content"][-1]["text"])
    if match is None:
        raise ValueError("the row has no template_boxes column and no box in its prompt")
    return [float(v) for v in match.groups()]


def trivial_box(box_xyxy, size: int) -> np.ndarray:
    """The template box, centred in a `size` x `size` search crop."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    w, h = x2 - x1, y2 - y1
    return np.array([size / 2 - w / 2, size / 2 - h / 2, size / 2 + w / 2, size / 2 + h / 2])


def evaluate_pairs(
    model: str,
    data: str,
    split: str = "validation",
    limit: int = 400,
    batch: int = 32,
    seed: int = 0,
) -> dict:
    from datasets import load_from_disk

    from r1track.backends import GenerationRequest, load_backend
    from r1track.prompts import STOP_STRINGS, parse_box

    build = Path(data) / BUILD_INFO  # the pairs are re-sent as the tracker's r1track layout
    config = json.loads(build.read_text()).get("config", {}) if build.is_file() else {}
    if config.get("layout", "r1track") != "r1track" or config.get("think"):
        raise UserError(
            f"{data}: pair evaluation re-sends each pair in the r1track layout without think; "
            f"this dataset was built with --layout {config.get('layout')}"
            + (" --think" if config.get("think") else "")
        )
    rows = load_from_disk(data)[split]
    rows = rows.select(range(min(limit, len(rows))))
    backend = load_backend("hf", model, batch_size=batch)
    texts = [r["prompt"][0]["content"][-1]["text"] for r in rows]
    images = [r["images"] for r in rows]
    solutions = rows["solution"]  # [] for an absent pair
    order = np.random.default_rng(seed).permutation(len(rows))

    def score(search_of, template_of=None) -> tuple[float, float]:
        template_of = template_of if template_of is not None else range(len(rows))
        requests = [
            GenerationRequest(
                (images[template_of[i]][0], images[search_of[i]][-1]),
                texts[i],
                32,
                stop=STOP_STRINGS[False],
            )
            for i in range(len(rows))
        ]
        answers = []
        for k in range(0, len(requests), batch):
            answers += backend.generate(requests[k : k + batch])
        parsed = [parse_box(a) for a in answers]
        ious = iou_reward(answers, solutions)
        return float(np.mean(ious)), float(np.mean([p.ok or p.absent for p in parsed]))

    miou, parsed = score(list(range(len(rows))))
    shuffled, _ = score(list(order))
    template_shuffled, _ = score(list(range(len(rows))), list(order))
    trivial = float(
        np.mean(
            [
                0.0 if no_box(s) else iou_xyxy(trivial_box(template_box(r), r["size"]), s)
                for r, s in zip(rows, solutions, strict=True)
            ]
        )
    )
    return {
        "pairs": len(rows),
        "miou": miou,
        "parsed": parsed,
        "shuffled_miou": shuffled,
        "template_shuffled_miou": template_shuffled,
        "trivial_miou": trivial,
    }
