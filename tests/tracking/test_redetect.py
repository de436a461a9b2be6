"""Re-detection (`r1track.tracking.redetect` and `TrackerConfig.redetect`): a target that left
the view and came back elsewhere is found again; with it off the tracker is today's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import white_blob_oracle
from r1track.geometry import xywh_to_xyxy
from r1track.tracking import AnswerCounts, Tracker, TrackerConfig
from r1track.tracking.redetect import frame_tiles

WIDTH, HEIGHT = 640, 360


def vanishing_clip(seed=0):
    """A white 40x30 box on dark noise: frames 0-7 on the left moving right, 8-15 gone, 16-29
    on the far right moving left. Returns frames, boxes (x, y, w, h; None when gone)."""
    rng = np.random.default_rng(seed)
    frames, boxes = [], []
    for i in range(30):
        pixels = rng.integers(0, 60, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
        if i < 8:
            box = (40 + 6 * i, 60 + 2 * i, 40, 30)
        elif i < 16:
            box = None
        else:
            box = (560 - 6 * (i - 16), 280 - 3 * (i - 16), 40, 30)
        if box is not None:
            x, y, w, h = box
            pixels[y : y + h, x : x + w] = 255
        frames.append(Image.fromarray(pixels))
        boxes.append(box)
    return frames, boxes


def _iou(a, b) -> float:
    a, b = xywh_to_xyxy(np.asarray(a, float)), xywh_to_xyxy(np.asarray(b, float))
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _track(scripted, **settings):
    frames, boxes = vanishing_clip()
    backend = scripted(white_blob_oracle)
    config = TrackerConfig(crop_size=112, **settings)
    results = list(Tracker(backend, config).track(frames, bbox=boxes[0]))
    return results, boxes, backend


def test_redetection_finds_a_target_that_came_back_elsewhere(scripted):
    results, boxes, backend = _track(scripted, redetect=True)
    # the reappearance at frame 16: found again within 10 frames (here at once)
    assert max(_iou(r.box, boxes[r.index]) for r in results[16:26]) > 0.5
    assert _iou(results[16].box, boxes[16]) > 0.5 and results[16].redetected
    counts = AnswerCounts.of(results)
    assert counts.redetected == 1 and counts.fallbacks == 8  # the frames it was gone
    # and tracked from there on
    assert all(_iou(r.box, boxes[r.index]) > 0.5 for r in results[17:])
    # the visible flag is the truth: gone on frames 8-15, there on the others
    assert [r.visible for r in results] == [b is not None for b in boxes]
    # gone: the last box is held, every window asked in one call per lost frame
    assert all(r.box == results[7].box for r in results[8:16])
    # (a local request per frame; one re-detection call of wider crop + 15 tiles per lost frame:
    # the 8 frames gone and the reappearance)
    wide = [n for n in backend.batches if n > 1]
    assert backend.batches.count(1) == 29 and wide == [16] * 9


def test_without_redetection_the_reappearance_is_never_found(scripted):
    results, boxes, backend = _track(scripted)
    assert max(_iou(r.box, boxes[r.index]) for r in results[16:]) < 0.5
    assert backend.batches == [1] * 29  # one request per frame, as ever
    assert [r.visible for r in results[8:]] == [False] * 22  # never found again


def test_redetection_changes_nothing_while_the_target_is_in_view(scripted):
    frames, boxes = vanishing_clip()
    off = list(
        Tracker(scripted(white_blob_oracle), TrackerConfig(crop_size=112)).track(
            frames[:8], bbox=boxes[0]
        )
    )
    backend = scripted(white_blob_oracle)
    config = TrackerConfig(crop_size=112, redetect=True)
    on = list(Tracker(backend, config).track(frames[:8], bbox=boxes[0]))
    assert [r.box for r in on] == [r.box for r in off] and backend.batches == [1] * 7


def test_an_unconfident_answer_is_not_taken(scripted):
    """With `min_confidence`, an answer the backend is unsure of holds the last box."""

    class Unsure(str):
        confidence = 0.2

    frames, boxes = vanishing_clip()
    backend = scripted(lambda request: Unsure(white_blob_oracle(request)))
    config = TrackerConfig(crop_size=112, min_confidence=0.5)
    results = list(Tracker(backend, config).track(frames[:4], bbox=boxes[0]))
    assert [r.fallback for r in results[1:]] == ["unconfident"] * 3
    assert all(r.box == results[0].box and not r.visible for r in results[1:])
    assert results[1].confidence == 0.2


@pytest.mark.parametrize("side", [20, 90, 139, 400, 700])
def test_tiles_cover_the_frame_within_the_budget(side):
    tiles = frame_tiles((WIDTH, HEIGHT), side, 16, 112)
    assert 1 <= len(tiles) <= 16 and all(t.side >= min(side, 700) or len(tiles) > 1 for t in tiles)
    covered = np.zeros((HEIGHT, WIDTH), bool)
    for t in tiles:
        covered[max(0, t.y0) : t.y0 + t.side, max(0, t.x0) : t.x0 + t.side] = True
    assert covered.all()
    # a target as large as the search crop's scale allows fits whole in some tile
    big = min(t.side for t in tiles) * 0.25
    for x in np.linspace(0, WIDTH - big, 7):
        for y in np.linspace(0, HEIGHT - big, 5):
            assert any(
                t.x0 <= x and x + big <= t.x0 + t.side and t.y0 <= y and y + big <= t.y0 + t.side
                for t in tiles
            )


def test_template_memory_sends_a_recent_confident_appearance_as_a_second_template(scripted):
    """`memory_interval`: every N frames found confidently, the crop around the new box becomes
    the second template (three images, the two-template prompt with both boxes); off: two
    images on every frame, as ever."""
    from r1track.prompts import task_prompt

    frames, boxes = vanishing_clip()
    backend = scripted(white_blob_oracle)
    config = TrackerConfig(crop_size=112, memory_interval=3, memory_confidence=0.0)
    results = list(Tracker(backend, config).track(frames[:8], bbox=boxes[0]))
    counts = [len(r.images) for r in backend.requests]
    assert counts == [2, 2, 2, 3, 3, 3, 3]  # frames 1-3 with one template; refreshed at 3, 6
    third, seventh = backend.requests[3], backend.requests[6]
    assert third.images[0] is backend.requests[0].images[0]  # the first template stays
    assert third.images[1] is not seventh.images[1]  # refreshed at frame 6
    assert third.prefix_key != seventh.prefix_key != backend.requests[0].prefix_key
    # the memory is the frame-3 crop around the frame-3 box: the target sits in its middle
    memory = np.asarray(third.images[1])[..., 0] > 127
    ys, xs = np.nonzero(memory)
    assert abs((xs.min() + xs.max()) / 2 - 56) <= 2 and abs((ys.min() + ys.max()) / 2 - 56) <= 2
    import re

    first, second = (
        [int(v) for v in b.split(",")] for b in re.findall(r"\[(\d+,\d+,\d+,\d+)\]", third.text)
    )
    assert third.text == task_prompt([first, second])  # the two-template text, both boxes
    assert backend.requests[0].text == task_prompt([first])  # the first template's own box
    assert np.allclose(second, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.5)
    assert all(_iou(r.box, boxes[r.index]) > 0.5 for r in results)
    off = scripted(white_blob_oracle)
    list(Tracker(off, TrackerConfig(crop_size=112)).track(frames[:8], bbox=boxes[0]))
    assert [len(r.images) for r in off.requests] == [2] * 7


def test_template_memory_skips_unconfident_frames(scripted):
    class Unsure(str):
        confidence = 0.3

    frames, boxes = vanishing_clip()
    backend = scripted(lambda request: Unsure(white_blob_oracle(request)))
    config = TrackerConfig(crop_size=112, memory_interval=1, memory_confidence=0.5)
    list(Tracker(backend, config).track(frames[:5], bbox=boxes[0]))
    assert [len(r.images) for r in backend.requests] == [2] * 4


def test_an_absent_answer_means_not_visible_and_starts_the_search(scripted):
    """A model trained to say "not here" (`prompts.ABSENT_ANSWER`): its answer holds the box,
    marks the frame not visible (reason `absent`) and, with re-detection, starts the search."""
    from r1track.prompts import ABSENT_ANSWER

    def says_absent(request):
        answer = white_blob_oracle(request)
        return ABSENT_ANSWER if answer == "I do not see it" else answer

    frames, boxes = vanishing_clip()
    config = TrackerConfig(crop_size=112)
    results = list(Tracker(scripted(says_absent), config).track(frames, bbox=boxes[0]))
    assert [r.fallback for r in results[8:16]] == ["absent"] * 8
    assert [r.parsed for r in results[8:16]] == [True] * 8
    on = list(
        Tracker(scripted(says_absent), TrackerConfig(crop_size=112, redetect=True)).track(
            frames, bbox=boxes[0]
        )
    )
    assert [r.visible for r in on] == [b is not None for b in boxes]
    assert on[16].redetected and _iou(on[16].box, boxes[16]) > 0.5


def test_views_that_disagree_mean_not_found(scripted):
    """`min_agreement` with `views`: when the mirrored view answers somewhere else than the
    plain one, the frame counts as not found (reason `disagreed`) and the box is held."""
    frames, boxes = vanishing_clip()

    def mirrored_view_wanders(request):
        answer = white_blob_oracle(request)
        return "[1,1,9,9]" if request.prefix_key.endswith(":1") else answer

    honest = TrackerConfig(crop_size=112, views=2, min_agreement=1.0)
    both = list(Tracker(scripted(white_blob_oracle), honest).track(frames[:5], bbox=boxes[0]))
    assert all(r.visible for r in both) and _iou(both[-1].box, boxes[4]) > 0.5
    split = list(Tracker(scripted(mirrored_view_wanders), honest).track(frames[:5], bbox=boxes[0]))
    assert [r.fallback for r in split[1:]] == ["disagreed"] * 4
    assert all(r.box == split[0].box for r in split)
    half = TrackerConfig(crop_size=112, views=2, min_agreement=0.5)
    taken = list(Tracker(scripted(mirrored_view_wanders), half).track(frames[:5], bbox=boxes[0]))
    assert all(r.visible for r in taken[1:])


def test_verification_keeps_a_real_find_and_drops_a_look_alike(scripted):
    """`redetect_verify`: a re-detected box is asked about again in an ordinary search crop around
    it; the target found there again is kept, an answer that only a tile gave is dropped."""
    frames, boxes = vanishing_clip()
    backend = scripted(white_blob_oracle)
    config = TrackerConfig(crop_size=112, redetect=True, redetect_verify=True)
    results = list(Tracker(backend, config).track(frames, bbox=boxes[0]))
    assert results[16].redetected and _iou(results[16].box, boxes[16]) > 0.5
    assert [r.visible for r in results] == [b is not None for b in boxes]

    class TilesSeeGhosts(scripted):
        """Answers like the oracle, except that in a call of several crops (the re-detection
        tiles) every crop without the target gets a box anyway: a look-alike."""

        def generate(self, requests):
            answers = super().generate(requests)
            if len(requests) == 1:
                return answers
            return ["[10,10,40,40]" if a == "I do not see it" else a for a in answers]

    ghosts = list(
        Tracker(TilesSeeGhosts(white_blob_oracle), config).track(frames[:12], bbox=boxes[0])
    )
    plain = TrackerConfig(crop_size=112, redetect=True)
    taken = list(
        Tracker(TilesSeeGhosts(white_blob_oracle), plain).track(frames[:12], bbox=boxes[0])
    )
    assert all(r.redetected for r in taken[8:12])  # without verification a ghost is taken
    assert not any(r.visible for r in ghosts[8:12])
