"""`r1track.tracking.appearance` and `TrackerConfig.min_likeness`: a box's contents compared
with the first frame's target, for models that answer a box whether the target is there or not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import white_blob_oracle
from r1track.tracking import AnswerCounts, Tracker, TrackerConfig
from r1track.tracking.appearance import describe, likeness
from tracking.test_redetect import _iou, vanishing_clip


def _scene(seed=0):
    """Grey noise with a red-and-white striped target at (40, 30, 40, 40) and a look-alike of
    the same stripes in another colour at (150, 100, 40, 40)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 150, size=(200, 240, 3)).astype(np.uint8)
    stripes = np.zeros((40, 40, 3), np.uint8)
    stripes[::2] = (220, 40, 40)
    stripes[1::2] = (240, 240, 240)
    pixels[30:70, 40:80] = stripes
    look_alike = stripes.copy()
    look_alike[::2] = (40, 80, 220)
    pixels[100:140, 150:190] = look_alike
    return Image.fromarray(pixels)


def test_the_target_is_more_alike_than_a_look_alike_or_background():
    scene = _scene()
    target = describe(scene, (40, 30, 40, 40))
    shifted = describe(scene, (42, 31, 38, 40))  # a slightly off box on the target
    assert likeness(target, shifted) > 0.8
    assert likeness(target, describe(scene, (150, 100, 40, 40))) < 0.6  # the look-alike
    assert likeness(target, describe(scene, (100, 140, 40, 40))) < 0.4  # grey background


def test_likeness_ignores_an_illumination_change_and_is_symmetric():
    scene = np.asarray(_scene())
    darker = Image.fromarray((scene * 0.6).astype(np.uint8))
    a, b = describe(_scene(), (40, 30, 40, 40)), describe(darker, (40, 30, 40, 40))
    assert likeness(a, b) > 0.9
    assert likeness(a, b) == pytest.approx(likeness(b, a))
    assert 0.0 <= likeness(a, describe(darker, (100, 140, 40, 40))) <= 1.0


@pytest.mark.parametrize("box", [(-30, -20, 35, 25), (230, 190, 50, 50), (10.4, 7.7, 0.3, 0.2)])
def test_a_box_at_the_edge_or_under_a_pixel_is_described(box):
    look = describe(_scene(), box)
    assert look.hist.shape == (8, 8, 3) and look.hist.sum() == pytest.approx(1.0)
    assert look.brightness > 0


def _sure_of_itself(request):
    """The oracle's box when the target is in the crop, else a box on the background: a model
    that never says it lost the target (as nano and the released checkpoints)."""
    answer = white_blob_oracle(request)
    return "[8,8,40,34]" if answer == "I do not see it" else answer


def test_a_model_that_always_answers_a_box_is_found_lost_by_its_likeness(scripted):
    frames, boxes = vanishing_clip()
    plain = list(
        Tracker(scripted(_sure_of_itself), TrackerConfig(crop_size=112, redetect=True)).track(
            frames, bbox=boxes[0]
        )
    )
    # without the check, the track believes the boxes: it follows background, "visible"
    assert all(r.visible for r in plain[8:16])
    assert max(_iou(r.box, boxes[r.index]) for r in plain[16:]) < 0.5

    config = TrackerConfig(crop_size=112, redetect=True, min_likeness=0.8)
    checked = list(Tracker(scripted(_sure_of_itself), config).track(frames, bbox=boxes[0]))
    assert [r.visible for r in checked] == [b is not None for b in boxes]
    assert [r.fallback for r in checked[8:16]] == ["unlike"] * 8
    assert checked[16].redetected and _iou(checked[16].box, boxes[16]) > 0.5
    assert all(_iou(r.box, boxes[r.index]) > 0.5 for r in checked[17:])
    assert all(r.likeness is not None for r in checked[1:])
    assert min(r.likeness for r in checked[1:8]) > 0.9 > max(r.likeness for r in checked[8:16])
    assert AnswerCounts.of(checked).by_reason["unlike"] == 8


def test_re_detection_takes_the_most_alike_box_not_the_first(scripted):
    """In re-detection every window without the target answers a box on background (equally
    confident); without `min_likeness` the first window's box is taken (the wider crop, where
    the target is not), with it the tile that holds the target."""

    class TilesSeeGhosts(scripted):
        def generate(self, requests):
            answers = super().generate(requests)
            return answers if len(requests) == 1 else [_sure_of_itself(r) for r in requests]

    frames, boxes = vanishing_clip()
    loose = TrackerConfig(crop_size=112, redetect=True)
    taken = list(Tracker(TilesSeeGhosts(white_blob_oracle), loose).track(frames, bbox=boxes[0]))
    assert taken[8].redetected and all(r.visible for r in taken[8:16])  # a ghost, believed
    assert max(_iou(r.box, boxes[r.index]) for r in taken[16:]) < 0.5
    config = TrackerConfig(crop_size=112, redetect=True, min_likeness=0.8)
    alike = list(Tracker(TilesSeeGhosts(white_blob_oracle), config).track(frames, bbox=boxes[0]))
    assert not any(r.visible for r in alike[8:16])
    assert alike[16].redetected and _iou(alike[16].box, boxes[16]) > 0.5
    assert alike[16].likeness > 0.9


def test_tiles_every_nth_lost_frame(scripted):
    """`redetect_interval`: while the target stays lost, whole-frame tiles on the first lost
    frame and every Nth after it; the wider crop alone on the others."""
    frames, boxes = vanishing_clip()
    backend = scripted(white_blob_oracle)
    config = TrackerConfig(crop_size=112, redetect=True, redetect_interval=3)
    results = list(Tracker(backend, config).track(frames, bbox=boxes[0]))
    # frames 1-7 found; lost frames 8-16 (lost counts 0-8) tile at counts 0, 3, 6 (frames 8,
    # 11, 14); frame 16 (count 8) asks the wider crop alone, which misses the far target; frame
    # 17 (count 9) tiles and finds it; found from there on
    lost = {8: 16, 11: 16, 14: 16, 17: 16}
    expected = [1] * 7
    for frame in range(8, 18):
        expected += [1, lost.get(frame, 1)]
    assert backend.batches == expected + [1] * 12
    assert results[17].redetected and not results[16].visible


def test_a_white_target_is_not_like_the_grey_road_it_drives_on():
    """Grey chromaticity and even brightness alike: the brightness relative to the frame tells
    them apart (a changing light over the whole frame does not)."""
    pixels = np.full((120, 160, 3), 70, np.uint8)
    pixels[40:70, 50:90] = 235
    frame = Image.fromarray(pixels)
    car = describe(frame, (50, 40, 40, 30))
    assert likeness(car, describe(frame, (100, 80, 40, 30))) < 0.6  # 1 without brightness
    dusk = Image.fromarray((pixels * 0.5).astype(np.uint8))
    assert likeness(car, describe(dusk, (50, 40, 40, 30))) > 0.95
