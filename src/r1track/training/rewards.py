"""Rule-based rewards, as plain functions with TRL's signature `f(completions, solution, **kw)`.

`r1track_think_reward` and `r1track_nothink_reward` follow R1-Track's latest reference version
exactly (section 5 of the reference notes), including its order of checks;
`r1track_think_v1_reward` is the think reward before the reference's mid-May revision, the one
that trained the released GRPO checkpoints (minimum 96 tokens, length penalty past 384 tokens over
128, weights 0.1 format and 0.5 length, top bin strictly above 0.95); `iou_reward`,
`giou_reward` and `format_reward` are the plain parts. Every function scores malformed answers
(never raises) and, given TRL's `log_metric`, logs its parts (`format`, `giou`, `shaped`,
`length_penalty`) so each shows in the training logs.

A completion is either a string or TRL's conversational form `[{"role": "assistant", "content":
...}]`; `completion_ids` (from TRL) gives response lengths in tokens.

Absent answers (issue 19; `data build --absent-rate`): a solution with no box (`[]`, the column's
value for an absent sample, or None, or the text `[]`) says the target is not in the search crop;
a completion whose answer is `prompts.ABSENT_ANSWER` says the model does not see it. A right
"absent" pays the reward's value for a perfect box; a box where there is none, and "absent" where
there is a target, pay what the worst box would (IoU 0, GIoU -1, the reward's failure value), so
"absent" is never a safe bet when the target is there: no box scores less. Per reward:

| reward | right "absent" | "absent" at a target, or a box at none |
|---|---|---|
| think | 1.55 (as GIoU 1) | -0.95 (as GIoU -1, format 1) |
| think_v1 | 1.6 (as GIoU 1) | -0.9 (as GIoU -1, format 1) |
| nothink | 1.5 | -1 |
| iou, hit | 1 | 0 (as IoU 0, a miss) |
| giou, l1, giou_l1, giou_size | 1 | -1 |
| format | 1 (a well-formed answer) | 1 |

The think rewards' format, minimum length and length penalty apply to absent answers as to boxes.
"""

from __future__ import annotations

import numpy as np

from r1track.geometry import giou_xyxy, iou_xyxy
from r1track.prompts import ABSENT_ANSWER
from r1track.training.reward_parts import (
    _TAGS,
    _THINK_FORMAT,
    completion_text,
    no_box,
    parse_list,
)
from r1track.training.rewards_think import (
    nothink_parts,
    r1track_nothink_reward,
    r1track_think_reward,
    r1track_think_v1_reward,
    think_parts,
)

__all__ = [
    "REWARDS",
    "completion_text",
    "format_reward",
    "giou_l1_reward",
    "giou_reward",
    "giou_size_reward",
    "hit_reward",
    "iou_reward",
    "l1_reward",
    "no_box",
    "nothink_parts",
    "parse_list",
    "r1track_nothink_reward",
    "r1track_think_reward",
    "r1track_think_v1_reward",
    "think_parts",
]


def _box_rewards(
    completions, solution, score, missing: float, size=None, wrong: float | None = None
) -> list[float]:
    """`score(box, truth, side)` for each answer's box (xyxy float arrays; `side` the crop side
    from the `size` column, or None), or `missing` when the answer holds no box. Absent answers
    (module docstring): 1 when the answer and the solution both say absent; `wrong` (default
    `missing`) when only one of them does (a box where there is none, or "absent" at a target)."""
    from r1track.prompts import parse_box

    wrong = missing if wrong is None else wrong
    sides = size if size is not None else [None] * len(completions)
    out = []
    for c, s, side in zip(completions, solution, sides, strict=True):
        parsed = parse_box(completion_text(c))
        truth_absent = no_box(s)
        if parsed.absent:
            out.append(1.0 if truth_absent else wrong)
        elif not parsed.ok:
            out.append(missing)
        elif truth_absent:
            out.append(wrong)
        else:
            box = np.asarray(parsed.box, dtype=float)
            out.append(score(box, np.asarray(s, dtype=float), side))
    return out


def iou_reward(completions, solution, **kwargs):
    """Plain IoU of the box found by the tracker's parser (0 when none is found).

    >>> iou_reward(["[0,0,10,10]", "<answer>[0,0,10,5]</answer>", "none"], [[0, 0, 10, 10]] * 3)
    [1.0, 0.5, 0.0]

    Absent: right 1; "absent" at a target, or a box at none, 0 (as IoU 0):

    >>> iou_reward(["[]", "[]", "[0,0,10,10]"], [[], [0, 0, 10, 10], []])
    [1.0, 0.0, 0.0]
    """
    return _box_rewards(completions, solution, lambda b, t, _: float(iou_xyxy(b, t)), 0.0)


def giou_reward(completions, solution, **kwargs):
    """Plain GIoU of the box found by the tracker's parser (-1 when none is found).

    >>> giou_reward(["[0,0,10,10]", "[20,0,30,10]", "none"], [[0, 0, 10, 10]] * 3)
    [1.0, -0.3333333333333333, -1.0]

    Absent: right 1; "absent" at a target, or a box at none, -1 (as GIoU -1, below any box):

    >>> giou_reward(["[]", "[]", "[0,0,10,10]"], [[], [0, 0, 10, 10], []])
    [1.0, -1.0, -1.0]
    """
    return _box_rewards(completions, solution, lambda b, t, _: float(giou_xyxy(b, t)), -1.0)


def _l1_term(box: np.ndarray, truth: np.ndarray, side) -> float:
    """`1 - mean|box - truth| / (side / 4)`, at least -1 (without `side`, the solution box's longer
    side stands in for side / 4)."""
    scale = float(side) / 4 if side else float(max(truth[2] - truth[0], truth[3] - truth[1]))
    return max(-1.0, 1.0 - float(np.abs(box - truth).mean()) / scale)


def l1_reward(completions, solution, size=None, **kwargs):
    """r1track's own variant: the coordinate term alone, `1 - mean|box - solution| / (size / 4)`
    (clipped at -1), -1 when no box is found; `size` is the crop side (the dataset's column).
    Unlike any overlap score it has no size bias: under an uncertain centre each coordinate's
    expected error is smallest at its true value, so a policy cannot gain by growing or
    shrinking its boxes (docs/nano.md, "Why the l1 reward").

    >>> answers = ["[0,0,10,10]", "[0,0,14,14]", "[2,0,12,10]", "x"]
    >>> l1_reward(answers, [[0, 0, 10, 10]] * 4, size=[40] * 4)
    [1.0, 0.8, 0.9, -1.0]

    Absent: right 1; "absent" at a target, or a box at none, -1 (the term's floor):

    >>> l1_reward(["[]", "[]", "[0,0,10,10]"], [[], [0, 0, 10, 10], []], size=[40] * 3)
    [1.0, -1.0, -1.0]
    """
    return _box_rewards(
        completions, solution, lambda b, t, side: round(_l1_term(b, t, side), 6), -1.0, size
    )


def giou_l1_reward(completions, solution, size=None, **kwargs):
    """r1track's own variant: mean of GIoU and the coordinate term of `l1_reward`, -1 when no box
    is found. A detector's GIoU + L1 pairing: under an uncertain centre, (G)IoU alone pays more
    for a larger box, and a tracker that feeds its answer back compounds that into a growing box
    (docs/nano.md, "Why the l1 reward"); the L1 term alone is best at the true size.

    >>> giou_l1_reward(["[0,0,10,10]", "[0,0,14,14]", "x"], [[0, 0, 10, 10]] * 3, size=[40] * 3)
    [1.0, 0.655102, -1.0]

    Absent: right 1; "absent" at a target, or a box at none, -1 (both terms' floor):

    >>> giou_l1_reward(["[]", "[]", "[0,0,10,10]"], [[], [0, 0, 10, 10], []], size=[40] * 3)
    [1.0, -1.0, -1.0]
    """

    def score(box, truth, side):
        return round(0.5 * float(giou_xyxy(box, truth)) + 0.5 * _l1_term(box, truth, side), 6)

    return _box_rewards(completions, solution, score, -1.0, size)


def giou_size_reward(completions, solution, **kwargs):
    """r1track's own variant: GIoU minus the size error `|log(w / w_true)| + |log(h / h_true)|`,
    at least -1; -1 when no box is found. Under an uncertain centre, GIoU alone pays more for a
    larger box; the log term costs as much per per cent too large as too small and is steepest
    at the true size, so the expected reward peaks there (docs/nano.md, "Why the l1 reward").

    >>> answers = ["[0,0,10,10]", "[0,0,20,10]", "[5,0,15,10]", "[5,5,5,9]"]
    >>> giou_size_reward(answers, [[0, 0, 10, 10]] * 4)
    [1.0, -0.193147, 0.333333, -1.0]

    Absent: right 1; "absent" at a target, or a box at none, -1 (the reward's floor):

    >>> giou_size_reward(["[]", "[]", "[0,0,10,10]"], [[], [0, 0, 10, 10], []])
    [1.0, -1.0, -1.0]
    """

    def score(box, truth, _):
        sides, true_sides = box[2:] - box[:2], truth[2:] - truth[:2]
        if (sides <= 0).any():
            return -1.0  # no size to compare (x2 <= x1 or y2 <= y1)
        size_error = float(np.abs(np.log(sides / true_sides)).sum())
        return round(max(-1.0, float(giou_xyxy(box, truth)) - size_error), 6)

    return _box_rewards(completions, solution, score, -1.0)


def hit_reward(completions, solution, **kwargs):
    """r1track's own variant: 1 when the answer's centre lies inside the true box, else 0; -1
    when no box is found. It pays for finding the right object and for nothing else: sizes earn
    nothing either way (no size bias to compound through tracking), and a group whose answers
    all hit, or all miss, has no advantage to learn from, so updates come only from inputs where
    the policy sometimes takes a look-alike or the background (docs/nano.md, "Why a hit reward").

    >>> hit_reward(["[0,0,10,10]", "[4,4,30,30]", "[12,0,20,10]", "x"], [[0, 0, 10, 10]] * 4)
    [1.0, 0.0, 0.0, -1.0]

    Absent: right 1 (as a hit); "absent" at a target, or a box at none, 0 (as a miss, the worst a
    box gets; no box scores less than "absent", so it is never the safer answer):

    >>> hit_reward(["[]", "[]", "[0,0,10,10]"], [[], [0, 0, 10, 10], []])
    [1.0, 0.0, 0.0]
    """

    def score(box, truth, _):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return 1.0 if truth[0] <= cx <= truth[2] and truth[1] <= cy <= truth[3] else 0.0

    return _box_rewards(completions, solution, score, -1.0, wrong=0.0)


def format_reward(completions, think: bool = False, **kwargs):
    """1 if the answer has the trained format (think: strict tags; else a bare list), else 0.
    The absent answer (`ABSENT_ANSWER`, alone or in the think tags) is well formed.

    >>> format_reward(["[1,2,3,4]", "box: [1,2,3,4]", "[]"])
    [1.0, 0.0, 1.0]
    """
    out = []
    for c in completions:
        text = completion_text(c).strip()
        if think:
            ok = _THINK_FORMAT.match(text) is not None and all(text.count(t) == 1 for t in _TAGS)
        else:
            ok = text == ABSENT_ANSWER or parse_list(text) is not None
        out.append(1.0 if ok else 0.0)
    return out


REWARDS = {
    "think": r1track_think_reward,
    "think_v1": r1track_think_v1_reward,
    "nothink": r1track_nothink_reward,
    "iou": iou_reward,
    "giou": giou_reward,
    "giou_l1": giou_l1_reward,
    "giou_size": giou_size_reward,
    "l1": l1_reward,
    "hit": hit_reward,
    "format": format_reward,
}
