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

Text initialisation with `TrackerConfig.grounding_tiles` looks for a described target the same
way (`grounding_tiles`): tiles over the whole first frame, each asked on its own, the surest box
taken.
"""

from __future__ import annotations

import math

from r1track.geometry import CropWindow, crop_window

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


def grounding_tiles(frame_size: tuple[int, int], count: int, size: int) -> list[CropWindow]:
    """The tiles text initialisation asks about with `grounding_tiles` = `count`: squares of at
    least half the frame's shorter side, overlapping, at most `count` of them (`frame_tiles`),
    each resized to `size` pixels. `data build --grounding-tiles` cuts its samples from these.

    >>> [(w.x0, w.y0, w.side) for w in grounding_tiles((256, 192), 9, 112)]
    [(0, 0, 120), (68, 0, 120), (136, 0, 120), (0, 72, 120), (68, 72, 120), (136, 72, 120)]
    """
    return frame_tiles(frame_size, min(frame_size) / 2, count, size)


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
