"""Re-detection: where to look for a target the local search lost, and which answer to take.

When a frame's answer is unusable or not confident and `TrackerConfig.redetect` is on, the
tracker asks the model about more windows before it holds the last box: one wider crop around
the last box (context `redetect_context`), then tiles over the whole frame at the search crop's
scale (the target appears as large as in an ordinary search crop), at most `max_tiles` of them
(larger tiles when more would be needed), all in one batched backend call. The answer taken is
the usable one with the highest confidence (with `min_likeness`: of those confident enough, the
one whose box looks most like the target, `tracking/appearance.py`); an answer without a
confidence (a backend that cannot say) counts as confident, and ties go to the order the windows
are listed in (the wider crop first, then the tiles in reading order).

Text initialisation with `TrackerConfig.grounding_windows` looks for a described target in the
same way (`grounding_windows`): windows over the whole first frame at several scales, each asked
on its own; the box they agree on is taken (`pooled_box`), each answer weighed by how unlikely the
model found the absent answer in its window.
"""

from __future__ import annotations

import math

import numpy as np

from r1track.geometry import CropWindow, crop_window, iou_xyxy

TILE_OVERLAP = 0.25
"""Share of a tile's side that neighbouring tiles overlap by, so that a target on a tile's edge
is whole in the next one."""


def frame_tiles(
    frame_size: tuple[int, int], side: float, max_tiles: int, size: int
) -> list[CropWindow]:
    """Square windows of side >= `side` (frame pixels) that cover the frame with overlap, in
    reading order, at most `max_tiles` (the side grows by 25% steps until they fit). A side at
    least the frame's longer one gives one window centred on the frame.

    >>> [(w.x0, w.y0, w.side) for w in frame_tiles((200, 100), 100, 16, 112)]
    [(0, 0, 100), (50, 0, 100), (100, 0, 100)]
    >>> len(frame_tiles((640, 360), 40, 16, 112)) <= 16
    True
    """
    width, height = frame_size
    side = max(1.0, float(side))
    while True:
        counts = [_count(extent, side) for extent in (width, height)]
        if counts[0] * counts[1] <= max_tiles:
            break
        side *= 1.25
    side = math.ceil(side)
    xs = _starts(width, side, counts[0])
    ys = _starts(height, side, counts[1])
    return [CropWindow(x0=x, y0=y, side=side, size=size) for y in ys for x in xs]


GROUNDING_SIDES = (0.1, 0.4)
"""Text init in windows: the target sides looked for, as shares of the frame's shorter side."""
GROUNDING_STEP = 1.35
"""Text init in windows: the ratio between one scale's target side and the next."""
GROUNDING_STRIDE = 1 / 3
"""Text init in windows: the step between neighbouring windows, as a share of their side, in the
grid `data build --grounding-windows` draws its samples from."""
GROUNDING_ASK_STRIDE = 1 / 4
"""Text init in windows: the finer step of the grid the tracker asks about (a described target
then sits nearer some window's centre; 70 of 130 found on val and val2 against 66 at the training
grid's 1/3, benchmarks/nano.md, experiment 19)."""
POOL_IOU = 0.5
"""Text init in windows: boxes from two windows agree at this IoU (`pooled_box`; chosen on val
and val2 in benchmarks/nano.md, experiment 19)."""


def grounding_windows(
    frame_size: tuple[int, int],
    context: float,
    size: int,
    budget: int,
    stride: float = GROUNDING_STRIDE,
) -> list[CropWindow]:
    """The windows text initialisation asks about with `grounding_windows` = `budget`: search
    crops (side `context` x the target's side) for targets from `GROUNDING_SIDES[0]` to
    `GROUNDING_SIDES[1]` of the frame's shorter side in `GROUNDING_STEP` steps, each scale's
    windows a grid over the frame `stride` of their side apart (wider apart, all
    scales alike, until there are at most `budget`; where even the coarsest grids are more, the
    largest scales that fit, at least the largest), smallest scale first, in reading order, each
    resized to `size` pixels. A described target of any of those sides is then near the centre
    of some window, at about the scale a search crop shows it. `data build --grounding-windows`
    draws its samples from these.

    >>> windows = grounding_windows((256, 192), 3.0, 112, 200)
    >>> len(windows), windows[0].side, windows[-1].side
    (182, 58, 192)
    >>> len(grounding_windows((256, 192), 3.0, 112, 40)) <= 40
    True
    >>> len(grounding_windows((256, 192), 3.0, 112, 400, GROUNDING_ASK_STRIDE))  # the tracker's
    295
    >>> [w.side for w in grounding_windows((256, 192), 3.0, 112, 6)]  # coarsest grids, 2 scales
    [142, 142, 142, 142, 192, 192]
    >>> [w.side for w in grounding_windows((256, 192), 3.0, 112, 1)]  # the largest scale
    [192, 192]
    """
    width, height = frame_size
    short = min(width, height)
    sides = []
    target = GROUNDING_SIDES[0] * short
    while target <= GROUNDING_SIDES[1] * short * 1.0001:
        sides.append(min(math.ceil(target * context), max(width, height)))
        target *= GROUNDING_STEP
    scales = list(dict.fromkeys(sides))
    while True:
        grids = [_scale_windows(frame_size, side, stride, size) for side in scales]
        if sum(map(len, grids)) <= max(1, budget):
            return [w for grid in grids for w in grid]
        if all(len(_grid(e, side, stride)) <= 2 for side in scales for e in frame_size):
            break  # every grid as coarse as it gets
        stride *= 1.25
    kept: list[list[CropWindow]] = []
    for grid in reversed(grids):
        if kept and sum(map(len, kept)) + len(grid) > budget:
            break
        kept.insert(0, grid)
    return [w for grid in kept for w in grid]


def _scale_windows(
    frame_size: tuple[int, int], side: int, stride: float, size: int
) -> list[CropWindow]:
    """One scale's grid of windows, in reading order."""
    width, height = frame_size
    return [
        CropWindow(x0=x, y0=y, side=side, size=size)
        for y in _grid(height, side, stride)
        for x in _grid(width, side, stride)
    ]


def _grid(extent: int, side: int, stride: float) -> list[int]:
    """Window starts along one axis at most `stride * side` apart (`_starts`)."""
    count = 1 if side >= extent else math.ceil((extent - side) / (stride * side)) + 1
    return _starts(extent, side, count)


def _count(extent: int, side: float) -> int:
    if side >= extent:
        return 1
    return math.ceil((extent - side) / (side * (1 - TILE_OVERLAP))) + 1


def _starts(extent: int, side: int, count: int) -> list[int]:
    if count == 1:
        return [round((extent - side) / 2)]
    return [round(i * (extent - side) / (count - 1)) for i in range(count)]


def search_windows(
    box_xywh,
    frame_size: tuple[int, int],
    search_factor: float,
    context: float,
    max_tiles: int,
    size: int,
) -> list[CropWindow]:
    """The windows re-detection asks about for a track last seen at `box_xywh`: the wider crop
    around it, then the whole frame's tiles at the search crop's scale."""
    wider = crop_window(box_xywh, context, size)
    side = math.sqrt(float(box_xywh[2]) * float(box_xywh[3])) * search_factor
    return [wider, *frame_tiles(frame_size, side, max_tiles, size)]


def best_candidate(scores: list[float | None], usable: list[bool], floor: float) -> int | None:
    """Index of the answer to take: usable, score (a confidence, or a likeness with
    `min_likeness`) at least `floor` (None counts as sure), the highest first, the earliest on
    ties; None when there is none.

    >>> best_candidate([0.2, 0.6, 0.9, 0.95], [True, True, True, False], 0.5)
    2
    >>> best_candidate([None, None], [False, True], 0.5)  # a backend without confidences
    1
    >>> best_candidate([0.2, 0.3], [True, True], 0.5) is None
    True
    """
    best, best_score = None, -math.inf
    for i, (given, ok) in enumerate(zip(scores, usable, strict=True)):
        score = 1.0 if given is None else given
        if ok and score >= floor and score > best_score:
            best, best_score = i, score
    return best


def pooled_box(
    boxes: list[np.ndarray], scores: list[float], usable: list[bool], min_iou: float = POOL_IOU
) -> tuple[int, np.ndarray] | None:
    """The box the most score agrees on, from many windows' answers: each usable box counts the
    summed scores of the usable boxes overlapping it with IoU >= `min_iou` (itself included);
    the one with the most (the earliest on ties) and the score-weighted mean of its overlapping
    boxes are returned; None when no box is usable.

    >>> near, far = np.array([0, 0, 10, 10]), np.array([50, 50, 60, 60])
    >>> index, box = pooled_box([far, near, near + 1], [0.9, 0.6, 0.4], [True, True, True])
    >>> index, box.round(3).tolist()  # the surest box is alone; two others agree
    (1, [0.4, 0.4, 10.4, 10.4])
    >>> pooled_box([far, near], [0.9, 0.6], [True, False])[0]
    0
    """
    if not any(usable):
        return None
    pick = np.flatnonzero(usable)
    stack = np.asarray([boxes[i] for i in pick], dtype=np.float64)
    weight = np.asarray([scores[i] for i in pick], dtype=np.float64)
    overlap = iou_xyxy(stack[:, None, :], stack[None, :, :]) >= min_iou
    best = int(np.argmax(overlap @ weight))
    agree = weight * overlap[best]
    if agree.sum() <= 0:  # every agreeing score 0: their plain mean
        agree = overlap[best].astype(np.float64)
    return int(pick[best]), (stack * agree[:, None]).sum(axis=0) / agree.sum()
