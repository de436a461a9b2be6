"""R1-Track's own rewards (`rewards.py` lists them all): `think` (the reference's latest version,
its order of checks), `think_v1` (the version that trained the released GRPO checkpoints) and
`nothink`; each logs its parts (`format`, `giou`, `shaped`, `length_penalty`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from r1track.prompts import ABSENT_ANSWER
from r1track.training.reward_parts import (
    _TAGS,
    _THINK_FORMAT,
    _absent_giou,
    _giou,
    completion_text,
    no_box,
    parse_list,
    shaped_giou,
)


@dataclass(frozen=True)
class ThinkRewardSpec:
    """The numbers of one version of R1-Track's think reward."""

    min_tokens: int
    """A response shorter than this scores -1 (forces reasoning)."""
    length_limit: int
    """Past this many tokens the length penalty `(limit - L) / length_scale` applies."""
    length_scale: float
    format_weight: float
    length_weight: float
    top_strict: bool
    """The +0.5 bin starts strictly above 0.95 (earlier version) or at 0.95 (latest)."""


THINK_LATEST = ThinkRewardSpec(128, 448, 64, 0.05, 0.1, top_strict=False)
THINK_V1 = ThinkRewardSpec(96, 384, 128, 0.1, 0.5, top_strict=True)  # the released checkpoints'
THINK_MIN_TOKENS = THINK_LATEST.min_tokens
LENGTH_LIMIT = THINK_LATEST.length_limit


def think_parts(
    text: str, solution, length: int | None, spec: ThinkRewardSpec = THINK_LATEST
) -> dict[str, float]:
    """All parts of the think reward for one answer (`overall` is what training uses).

    >>> gt = [10, 10, 50, 50]
    >>> answer = "<think>" + "a " * 200 + "</think><answer>[10,10,50,50]</answer>"
    >>> think_parts(answer, gt, 200)["overall"]
    1.55
    >>> think_parts("<answer>[10,10,50,50]</answer>", gt, 200)["overall"]
    -1.0

    Absent answers count as a box of GIoU 1 when right, -1 when wrong (module docstring):

    >>> absent = "<think>" + "a " * 200 + "</think><answer>[]</answer>"
    >>> think_parts(absent, [], 200)["overall"], think_parts(absent, gt, 200)["overall"]
    (1.55, -0.95)
    >>> think_parts(answer, [], 200)["overall"]
    -0.95
    """
    fail = {"overall": -1.0, "format": 0.0, "giou": -1.0, "shaped": -1.0, "length_penalty": 0.0}
    truth_absent = no_box(solution)
    gt = None if truth_absent else parse_list(solution)
    if not text or not text.strip() or (gt is None and not truth_absent):  # 1. empty answer/truth
        return fail
    match = _THINK_FORMAT.match(text.strip())
    if match is None or any(text.count(tag) != 1 for tag in _TAGS):  # 2. strict format
        return fail
    if length is not None and length < spec.min_tokens:  # 3. forces reasoning
        return fail
    answer_absent = match.group(3).strip() == ABSENT_ANSWER
    pred = None if answer_absent else parse_list(match.group(3))  # 4. both must parse as lists
    if pred is None and not answer_absent:
        return fail
    if answer_absent or truth_absent:
        g = _absent_giou(answer_absent, truth_absent)
    else:
        g = _giou(pred, gt)  # 5. any error -> -1
        if g is None:
            return fail
    shaped = shaped_giou(g, spec.top_strict)  # 6.
    limit = spec.length_limit
    penalty = (limit - length) / spec.length_scale if length is not None and length > limit else 0.0
    # 8. the format term is 1 here
    overall = shaped + spec.format_weight * 1.0 + spec.length_weight * penalty
    return {
        "overall": round(overall, 10),
        "format": 1.0,
        "giou": g,
        "shaped": shaped,
        "length_penalty": penalty,
    }


def nothink_parts(text: str, solution) -> dict[str, float]:
    """No-think reward: the whole answer must parse as the list; GIoU shaping; no format term.

    >>> nothink_parts("[10,10,50,50]", [10, 10, 50, 50])["overall"]
    1.5
    >>> nothink_parts("The box is [10,10,50,50]", [10, 10, 50, 50])["overall"]
    -1.0

    Absent answers count as a box of GIoU 1 when right, -1 when wrong (module docstring):

    >>> [nothink_parts(a, s)["overall"] for a, s in (("[]", []), ("[]", [0, 0, 9, 9]))]
    [1.5, -1.0]
    >>> nothink_parts("[0,0,9,9]", [])["overall"]
    -1.0
    """
    fail = {"overall": -1.0, "format": 0.0, "giou": -1.0, "shaped": -1.0}
    truth_absent = no_box(solution)
    gt = None if truth_absent else parse_list(solution)
    answer_absent = isinstance(text, str) and text.strip() == ABSENT_ANSWER
    pred = parse_list(text) if text and not answer_absent else None
    if (gt is None and not truth_absent) or (pred is None and not answer_absent):
        return fail
    if answer_absent or truth_absent:
        g = _absent_giou(answer_absent, truth_absent)
    else:
        g = _giou(pred, gt)
        if g is None:
            return fail
    shaped = shaped_giou(g)
    return {"overall": shaped, "format": 1.0, "giou": g, "shaped": shaped}


def _lengths(completion_ids, n: int) -> list[int | None]:
    return [len(ids) for ids in completion_ids] if completion_ids is not None else [None] * n


def _log(log_metric: Callable | None, prefix: str, parts: list[dict]) -> None:
    if log_metric is None or not parts:
        return
    for key in parts[0]:
        if key != "overall":
            log_metric(f"{prefix}/{key}", float(np.mean([p[key] for p in parts])))


def r1track_think_reward(completions, solution, completion_ids=None, log_metric=None, **kwargs):
    """R1-Track think reward (format + min length + shaped GIoU + length penalty).

    >>> answer = "<think>" + "x " * 150 + "</think><answer>[0,0,10,10]</answer>"
    >>> ids = [[0] * 150] * 2
    >>> r1track_think_reward([answer, "[0,0,10,10]"], [[0, 0, 10, 10]] * 2, completion_ids=ids)
    [1.55, -1.0]
    """
    texts = [completion_text(c) for c in completions]
    parts = [
        think_parts(t, s, n)
        for t, s, n in zip(texts, solution, _lengths(completion_ids, len(texts)), strict=True)
    ]
    _log(log_metric, "think", parts)
    return [p["overall"] for p in parts]


def r1track_think_v1_reward(completions, solution, completion_ids=None, log_metric=None, **kwargs):
    """R1-Track's think reward before its mid-May revision: the one the released GRPO
    checkpoints (April, early May) were trained with.

    >>> answer = "<think>" + "x " * 100 + "</think><answer>[0,0,10,10]</answer>"
    >>> r1track_think_v1_reward([answer], [[0, 0, 10, 10]], completion_ids=[[0] * 100])
    [1.6]
    >>> r1track_think_v1_reward([answer], [[0, 0, 10, 10]], completion_ids=[[0] * 512])
    [1.1]
    """
    texts = [completion_text(c) for c in completions]
    lengths = _lengths(completion_ids, len(texts))
    parts = [
        think_parts(t, s, n, THINK_V1) for t, s, n in zip(texts, solution, lengths, strict=True)
    ]
    _log(log_metric, "think_v1", parts)
    return [p["overall"] for p in parts]


def r1track_nothink_reward(completions, solution, log_metric=None, **kwargs):
    """R1-Track no-think reward: the answer must be exactly the list; shaped GIoU.

    >>> r1track_nothink_reward(["[0,0,10,10]", "[0,0,10,5]", "oops"], [[0, 0, 10, 10]] * 3)
    [1.5, 0.5, -1.0]
    """
    parts = [
        nothink_parts(completion_text(c), s) for c, s in zip(completions, solution, strict=True)
    ]
    _log(log_metric, "nothink", parts)
    return [p["overall"] for p in parts]
