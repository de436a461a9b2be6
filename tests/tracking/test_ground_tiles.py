"""Text initialisation in tiles (`TrackerConfig.grounding_tiles`): every tile asked in one call,
the surest box taken and mapped back to the frame, a clear error when no tile holds a box."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from r1track.backends.base import Answer
from r1track.geometry import crop_image, iou_xyxy, xywh_to_xyxy
from r1track.prompts import ABSENT_ANSWER, grounding_prompt
from r1track.tracking import Tracker, TrackerConfig
from r1track.tracking.redetect import grounding_tiles
from r1track.tracking.tracker import GroundingError

TARGET = (150.0, 110.0, 40.0, 30.0)  # x, y, w, h in a 256 x 192 frame


def iou_xywh(a, b) -> float:
    return float(iou_xyxy(xywh_to_xyxy(a), xywh_to_xyxy(b)))


def _frame(seed: int = 0) -> Image.Image:
    """Dark noise with one white rectangle, the target, at `TARGET`."""
    pixels = np.random.default_rng(seed).integers(0, 100, (192, 256, 3), dtype=np.uint8)
    x, y, w, h = (int(v) for v in TARGET)
    pixels[y : y + h, x : x + w] = 255
    return Image.fromarray(pixels)


def _blob_answer(request) -> Answer:
    """The white pixels' box in the tile, as sure as the share of the tile they cover; the absent
    answer where there are none."""
    white = np.asarray(request.images[0])[..., 0] > 200
    ys, xs = np.nonzero(white)
    if not len(xs):
        return Answer(ABSENT_ANSWER, 0.9)
    box = f"[{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}]"
    return Answer(box, min(1.0, white.mean() * 10))


def test_text_init_in_tiles_asks_every_tile_once_and_takes_the_surest_box(scripted):
    frame = _frame()
    backend = scripted(_blob_answer)
    config = TrackerConfig(crop_size=112, grounding_tiles=9, resize="pil", image_format="png")
    state, result = Tracker(backend, config).start(frame, text="the white box")
    tiles = grounding_tiles(frame.size, 9, 112)
    assert backend.batches == [len(tiles)] and len(tiles) > 1  # one call, every tile
    for request, tile in zip(backend.requests, tiles, strict=True):
        assert request.text == grounding_prompt("the white box")
        sent = np.asarray(request.images[0])
        assert np.array_equal(sent, np.asarray(crop_image(frame, tile, "pil")))
    # the tile that holds the whole target covers most of it: its box wins, back in frame pixels
    assert iou_xywh(state.box, TARGET) > 0.85
    assert result.answer.startswith("[") and result.parsed


def test_a_partly_seen_target_loses_to_the_tile_that_holds_it(scripted):
    """A tile that cuts the target answers a smaller box, less sure: the whole box is taken."""
    frame = _frame(1)
    tiles = grounding_tiles(frame.size, 9, 112)
    backend = scripted(_blob_answer)
    config = TrackerConfig(crop_size=112, grounding_tiles=9, resize="pil")
    state, _ = Tracker(backend, config).start(frame, text="the white box")
    answers = [_blob_answer(r) for r in backend.requests]
    partial = [
        a
        for a in answers
        if a != ABSENT_ANSWER
        and a.confidence < max(b.confidence for b in answers if b != ABSENT_ANSWER)
    ]
    assert partial and len(tiles) == len(answers)  # the frame has cut and whole views of it
    assert iou_xywh(state.box, TARGET) > 0.85


def test_no_tile_with_a_box_is_a_one_line_grounding_error(scripted):
    backend = scripted(lambda request: Answer(ABSENT_ANSWER, 0.9))
    tracker = Tracker(backend, TrackerConfig(crop_size=112, grounding_tiles=4))
    with pytest.raises(GroundingError, match=r"in none of the first frame's \d+ tiles") as caught:
        tracker.start(_frame(), text="the white box")
    assert "\n" not in str(caught.value)


def test_tiles_without_confidences_are_refused_not_guessed(scripted):
    """A backend that gives no confidences cannot rank two boxes: an error, not the first one."""
    backend = scripted(lambda request: "[10,10,50,50]")
    tracker = Tracker(backend, TrackerConfig(crop_size=112, grounding_tiles=4))
    with pytest.raises(GroundingError, match="no answer confidences"):
        tracker.start(_frame(), text="the white box")


def test_grounding_tiles_zero_keeps_the_whole_frame_request(scripted):
    backend = scripted(_blob_answer)  # the box in the resized whole frame
    state, _ = Tracker(backend, TrackerConfig(crop_size=112)).start(_frame(), text="the white box")
    assert backend.batches == [1] and backend.requests[0].images[0].size != (112, 112)
    assert iou_xywh(state.box, TARGET) > 0.9
