"""Rule-based rewards: shaping, think-format failures, conversational completions, size terms."""

from __future__ import annotations

import numpy as np
import pytest

from r1track.training import rewards

GT = [10, 10, 50, 50]


def _think(answer: str) -> str:
    return "<think>" + "reason " * 10 + "</think><answer>" + answer + "</answer>"


def _box_with_giou(target: float) -> list[float]:
    """A box on the same row as GT whose GIoU with GT is `target` (found by bisection)."""
    lo, hi = 0.0, 200.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if float(rewards.giou_xyxy(np.array([10 + mid, 10, 50 + mid, 50]), np.array(GT))) > target:
            lo = mid
        else:
            hi = mid
    return [10 + lo, 10, 50 + lo, 50]


@pytest.mark.parametrize(
    ("giou", "shaped"),
    [
        (-0.5, -0.5),
        (0.0, 0.0),
        (0.2, 0.0),
        (0.4, 0.4),
        (0.6, 0.6),
        (0.75, 0.75),
        (0.8, 1.0),
        (0.94, 1.14),
        (0.95, 1.45),
        (1.0, 1.5),
    ],
)
def test_reward_shaping_every_branch(giou, shaped):
    box = GT if giou == 1.0 else _box_with_giou(giou)
    text = "[" + ",".join(f"{v:.6f}" for v in box) + "]"
    assert rewards.nothink_parts(text, GT)["overall"] == pytest.approx(shaped, abs=1e-4)
    ids = [[0] * 200]
    assert rewards.r1track_think_reward([_think(text)], [GT], completion_ids=ids)[
        0
    ] == pytest.approx(shaped + 0.05, abs=1e-4)


def test_think_reward_failures_and_length_penalty():
    ok = _think("[10,10,50,50]")
    cases = {
        "": -1.0,
        "<think>a</think><think>b</think><answer>[10,10,50,50]</answer>": -1.0,  # repeated tag
        "<think>a<think>b</think></think><answer>[10,10,50,50]</answer>": -1.0,  # nested
        "[10,10,50,50]": -1.0,  # no tags
        _think("the box [10,10,50,50]"): -1.0,  # answer not a list
        _think("[10,10,50]"): -1.0,  # not 4 numbers
    }
    for text, expected in cases.items():
        assert rewards.think_parts(text, GT, 200)["overall"] == expected, text
    assert rewards.think_parts(ok, "not a box", 200)["overall"] == -1.0  # bad ground truth
    assert rewards.think_parts(ok, GT, 127)["overall"] == -1.0  # under 128 tokens
    assert rewards.think_parts(ok, GT, 448)["overall"] == pytest.approx(1.55)  # no penalty yet
    assert rewards.think_parts(ok, GT, 512)["overall"] == pytest.approx(
        1.55 + 0.1 * (448 - 512) / 64
    )


def test_rewards_take_conversational_completions_and_log_parts():
    logged = {}
    completion = [{"role": "assistant", "content": "[10,10,50,50]"}]
    out = rewards.r1track_nothink_reward(
        [completion, [{"role": "assistant", "content": "x"}]],
        [GT, GT],
        log_metric=logged.__setitem__,
    )
    assert out == [1.5, -1.0]
    assert logged["nothink/giou"] == pytest.approx(0.0) and logged["nothink/format"] == 0.5
    assert rewards.iou_reward(["[10,10,30,50]"], [GT]) == [pytest.approx(0.5)]
    assert rewards.format_reward([_think("[1,2,3,4]"), "[1,2,3,4]"], think=True) == [1.0, 0.0]


def test_size_aware_rewards_peak_at_the_true_size_when_the_centre_is_uncertain():
    # answers of one size whose centres scatter around the target's: GIoU alone pays best for a
    # box larger than the target, the size term brings the best expected reward back to it
    rng = np.random.default_rng(0)
    shifts = rng.normal(0, 8, size=(400, 2))
    truth = [40.0, 40.0, 60.0, 60.0]

    def expected(reward, scale):
        half = 10 * scale
        answers = [
            f"[{40 + dx + 10 - half},{40 + dy + 10 - half},{50 + dx + half},{50 + dy + half}]"
            for dx, dy in shifts
        ]
        return float(np.mean(reward(answers, [truth] * len(answers))))

    scales = [0.8, 0.9, 1.0, 1.1, 1.25, 1.5]
    best = {
        name: max(scales, key=lambda k: expected(fn, k))
        for name, fn in (
            ("giou", rewards.giou_reward),
            ("size", rewards.giou_size_reward),
            ("l1", rewards.l1_reward),
        )
    }
    assert best["giou"] > 1.0 and best["size"] == best["l1"] == 1.0, best


ABSENT_CASES = {
    # reward: (right "absent", "absent" at a target, a box where there is none)
    "think": (1.55, -0.95, -0.95),
    "think_v1": (1.6, -0.9, -0.9),
    "nothink": (1.5, -1.0, -1.0),
    "iou": (1.0, 0.0, 0.0),
    "giou": (1.0, -1.0, -1.0),
    "giou_l1": (1.0, -1.0, -1.0),
    "giou_size": (1.0, -1.0, -1.0),
    "l1": (1.0, -1.0, -1.0),
    "hit": (1.0, 0.0, 0.0),
}


@pytest.mark.parametrize("name", sorted(ABSENT_CASES))
def test_rewards_score_absent_answers_and_absent_never_beats_a_box(name):
    """Right "absent" pays a perfect box's value; "absent" at a target and a box at none pay the
    worst box's; so at a target no box (of 200 random ones) scores less than "absent"."""
    from r1track.prompts import ABSENT_ANSWER

    fn = rewards.REWARDS[name]
    think = name.startswith("think")
    wrap = _think if think else (lambda a: a)
    kwargs = {"size": [112] * 3}
    if think:
        kwargs["completion_ids"] = [[0] * 200] * 3
    answers = [wrap(ABSENT_ANSWER), wrap(ABSENT_ANSWER), wrap("[10,10,50,50]")]
    for solution in ([], None, "[]"):  # the column's [], and the other spellings of no box
        got = fn(answers, [solution, GT, solution], **kwargs)
        assert got == pytest.approx(ABSENT_CASES[name]), solution
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 112, size=(200, 2, 2))
    boxes = [[*np.min(c, 0).round(), *np.max(c, 0).round() + 1] for c in corners]
    texts = [wrap("[{:.0f},{:.0f},{:.0f},{:.0f}]".format(*b)) for b in boxes]
    kwargs = {"size": [112] * 200}
    if think:
        kwargs["completion_ids"] = [[0] * 200] * 200
    scores = fn(texts, [GT] * 200, **kwargs)
    assert min(scores) >= ABSENT_CASES[name][1]


def test_format_reward_takes_the_absent_answer():
    assert rewards.format_reward(["[]", _think("[]"), "[ ]x"]) == [1.0, 0.0, 0.0]
    assert rewards.format_reward([_think("[]")], think=True) == [1.0]
