"""What every reward reads an answer with (`rewards.py`, `rewards_think.py`): the completion's
text, the answer's list, whether a solution or an answer says "absent", GIoU and R1-Track's
shaping of it."""

from __future__ import annotations

import json
import math
import re

import numpy as np

from r1track.geometry import giou_xyxy
from r1track.prompts import ABSENT_ANSWER

_THINK_FORMAT = re.compile(r"^<think>(.*?)</think>(.*?)<answer>(.*?)</answer>$", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def completion_text(completion) -> str:
    """The text of a completion, plain or conversational."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else ""
        if isinstance(content, list):
            return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
        return str(content)
    return ""


def parse_list(text) -> list[float] | None:
    """The reference's parse: the whole text must be a list of numbers (JSON); else None."""
    if isinstance(text, (list, tuple)):
        values = list(text)
    else:
        try:
            values = json.loads(str(text).strip())
        except (json.JSONDecodeError, ValueError):
            return None
    if not isinstance(values, list) or not values:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    return [float(v) for v in values]


def no_box(solution) -> bool:
    """A solution with no box: the target is not in the search crop (`[]`, None or `"[]"`).

    >>> [no_box(s) for s in ([], None, "[]", [1, 2, 3, 4])]
    [True, True, True, False]
    """
    if solution is None:
        return True
    if isinstance(solution, str):
        return solution.strip() == ABSENT_ANSWER
    return len(solution) == 0


def _absent_giou(answer_absent: bool, truth_absent: bool) -> float:
    """The GIoU an answer stands for when either side is absent: 1 when both are, else -1."""
    return 1.0 if answer_absent and truth_absent else -1.0


def shaped_giou(g: float, top_strict: bool = False) -> float:
    """R1-Track's shaping: (0, 0.4) -> 0; [0.4, 0.75] -> g; (0.75, 0.95) -> g + 0.2;
    >= 0.95 -> g + 0.5 (`top_strict`, the earlier version: > 0.95); g <= 0 unchanged.

    >>> [round(shaped_giou(g), 2) for g in (-0.3, 0.2, 0.5, 0.8, 0.95, 0.97)]
    [-0.3, 0.0, 0.5, 1.0, 1.45, 1.47]
    >>> round(shaped_giou(0.95, top_strict=True), 2)
    1.15
    """
    if g <= 0:
        return g
    if g < 0.4:
        return 0.0
    if g <= 0.75:
        return g
    if g < 0.95 or (top_strict and g == 0.95):
        return g + 0.2
    return g + 0.5


def _giou(pred: list[float], gt: list[float]) -> float | None:
    """GIoU of two lists, or None where the reference would fail (any error -> -1)."""
    if len(pred) != 4 or len(gt) != 4:
        return None
    value = float(giou_xyxy(np.asarray(pred), np.asarray(gt)))
    return value if math.isfinite(value) else None
