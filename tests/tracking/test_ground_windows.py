"""Text initialisation in windows (`TrackerConfig.grounding_windows`): every window asked for its
likeliest box, the box of the window where the absent answer is least likely taken and mapped
back to the frame; clear errors where the backend cannot rank them or no window has a box."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from r1track.backends.base import Answer
from r1track.geometry import crop_image, iou_xyxy, xywh_to_xyxy
from r1track.prompts import ABSENT_ANSWER, grounding_prompt
from r1track.tracking import Tracker, TrackerConfig
from r1track.tracking.redetect import GROUNDING_ASK_STRIDE, grounding_windows
from r1track.tracking.tracker import GroundingError

TARGET = (150.0, 110.0, 40.0, 30.0)  # x, y, w, h in a 256 x 192 frame
CONFIG = {"crop_size": 112, "search_factor": 3.0, "resize": "pil", "image_format": "png"}


def iou_xywh(a, b) -> float:
    return float(iou_xyxy(xywh_to_xyxy(a), xywh_to_xyxy(b)))


def _frame(seed: int = 0) -> Image.Image:
    """Dark noise with one white rectangle, the target, at `TARGET`."""
    pixels = np.random.default_rng(seed).integers(0, 100, (192, 256, 3), dtype=np.uint8)
    x, y, w, h = (int(v) for v in TARGET)
    pixels[y : y + h, x : x + w] = 255
    return Image.fromarray(pixels)


def _centred_answer(request) -> Answer:
    """The white pixels' box in the window, with the absent answer as unlikely as the white is
    near the window's centre at a third of its side (a model trained on search crops)."""
    white = np.asarray(request.images[0])[..., 0] > 200
    ys, xs = np.nonzero(white)
    if not len(xs):
        return Answer("[10,10,20,20]", 0.5, absent=1.0)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)
    side = white.shape[0]
    centre = np.array([side / 3, side / 3, 2 * side / 3, 2 * side / 3])
    return Answer(f"[{','.join(str(int(v)) for v in box)}]", 0.5, absent=1 - iou_xyxy(box, centre))


def test_windows_are_search_crops_at_several_scales_over_the_whole_frame():
    windows = grounding_windows((256, 192), 3.0, 112, 200)
    sides = sorted({w.side for w in windows})
    assert sides[0] == round(0.1 * 192 * 3) and len(sides) >= 4 and len(windows) <= 200
    for side in sides:  # every scale's grid reaches both far edges
        same = [w for w in windows if w.side == side]
        assert min(w.x0 for w in same) <= 0 and max(w.x0 + w.side for w in same) >= 256
        assert min(w.y0 for w in same) <= 0 and max(w.y0 + w.side for w in same) >= 192
    assert len(grounding_windows((256, 192), 3.0, 112, 30)) <= 30  # a budget spreads them


def test_text_init_in_windows_sends_every_window_and_maps_the_box_back(scripted):
    frame = _frame()
    backend = scripted(_centred_answer)
    config = TrackerConfig(grounding_windows=200, **CONFIG)
    state, result = Tracker(backend, config).start(frame, text="the white box")
    windows = grounding_windows(frame.size, 3.0, 112, 200, GROUNDING_ASK_STRIDE)
    assert len(backend.requests) == len(windows) > 1
    for request, window in zip(backend.requests, windows, strict=True):
        assert request.box_only and request.text == grounding_prompt("the white box")
        assert np.array_equal(
            np.asarray(request.images[0]), np.asarray(crop_image(frame, window, "pil"))
        )
    assert result.answer in [_centred_answer(r) for r in backend.requests]
    assert result.answer.confidence == 0.5  # the backend's Answer, not a copy of its text
    assert iou_xywh(state.box, TARGET) > 0.85  # its box, back in frame pixels


def test_the_box_many_windows_agree_on_beats_one_surer_window(scripted):
    """`pooled_box`: the windows that hold the target answer its box, each fairly sure; one
    window elsewhere answers another box, surer than any of them. The agreed box is taken (the
    presence-weighted mean of the agreeing answers), not the lone surest one."""
    frame = _frame()
    windows = grounding_windows(frame.size, 3.0, 112, 200, GROUNDING_ASK_STRIDE)
    target = xywh_to_xyxy(TARGET)
    holds = [
        i for i, w in enumerate(windows)
        if w.x0 <= target[0] and w.y0 <= target[1]
        and w.x0 + w.side >= target[2] and w.y0 + w.side >= target[3]
    ]  # fmt: skip
    lone = next(i for i, w in enumerate(windows) if w.x0 + w.side < target[0])
    lone_box = (windows[lone].x0 + 5, windows[lone].y0 + 5, 30.0, 30.0)
    asked = iter(range(len(windows)))

    def answer(request) -> Answer:
        i = next(asked)
        window = windows[i]
        if i in holds:
            box, absent = window.to_crop(target), 0.3 + 0.01 * (i % 5)
        elif i == lone:
            box, absent = window.to_crop(xywh_to_xyxy(lone_box)), 0.05
        else:
            return Answer("[5,5,5,5]", 0.5, absent=0.99)  # no area: not usable
        return Answer(f"[{','.join(f'{v:.0f}' for v in box)}]", 0.5, absent=absent)

    backend = scripted(answer)
    state, result = Tracker(backend, TrackerConfig(grounding_windows=200, **CONFIG)).start(
        frame, text="the white box"
    )
    assert len(holds) >= 3
    assert iou_xywh(state.box, TARGET) > 0.9 and iou_xywh(state.box, lone_box) == 0
    assert result.answer != "[5,5,5,5]"


def test_no_window_with_a_usable_box_is_a_one_line_grounding_error(scripted):
    backend = scripted(lambda request: Answer("[5,5,5,5]", 0.9, absent=0.1))
    tracker = Tracker(backend, TrackerConfig(grounding_windows=20, **CONFIG))
    with pytest.raises(GroundingError, match=r"in any of the first frame's \d+ windows") as caught:
        tracker.start(_frame(), text="the white box")
    assert "\n" not in str(caught.value)


def test_a_backend_that_cannot_say_how_likely_absent_is_is_refused(scripted):
    """Without `Answer.absent` (a server, a plain string) the windows cannot be ranked: an
    error, not the first window's box."""
    backend = scripted(lambda request: "[10,10,50,50]")
    tracker = Tracker(backend, TrackerConfig(grounding_windows=20, **CONFIG))
    with pytest.raises(GroundingError, match="does not say"):
        tracker.start(_frame(), text="the white box")


def test_grounding_windows_zero_keeps_the_whole_frame_request(scripted):
    backend = scripted(_centred_answer)  # the box in the resized whole frame
    state, _ = Tracker(backend, TrackerConfig(**CONFIG)).start(_frame(), text="the white box")
    assert len(backend.requests) == 1 and not backend.requests[0].box_only
    assert backend.requests[0].images[0].size != (112, 112)
    assert iou_xywh(state.box, TARGET) > 0.9


def test_no_absent_rules_out_the_absent_answer_and_keeps_its_probability():
    """`NoAbsent` (the hf backend's `box_only`): with the absent answer `[` `]` (ids 5, 6) the
    greedy choice, the row still opens with `[`, then `]` is ruled out at the step that would
    complete it; `absent` is P([) x P(]) of the raw scores. A row that left the absent answer
    at its first token is not touched, and an unasked row has None."""
    import torch

    from r1track.backends.scoring import NoAbsent

    rule = NoAbsent([5, 6], [True, True, False])
    prompt = torch.zeros((3, 4), dtype=torch.long)
    first = torch.zeros((3, 10))
    first[:, 5] = 3.0  # `[` likeliest for every row
    first[1, 7] = 4.0  # row 1 opens with another token
    p_open = torch.softmax(first, -1)[:, 5]
    out = rule(prompt, first.clone())
    assert torch.equal(out, first)  # the first step rules nothing out
    second = torch.zeros((3, 10))
    second[:, 6] = 2.0  # `]` likeliest next: the absent answer
    second[:, 1] = 1.0  # then a digit
    p_close = torch.softmax(second, -1)[0, 6]
    ids = torch.cat([prompt, torch.tensor([[5], [7], [5]])], 1)
    out = rule(ids, second.clone())
    assert out[0, 6] == -float("inf") and int(out[0].argmax()) == 1  # a box starts instead
    assert torch.equal(out[1], second[1]) and torch.equal(out[2], second[2])
    assert rule.absent[0] == pytest.approx(float(p_open[0] * p_close))
    assert rule.absent[1] == pytest.approx(float(p_open[1]))  # left at its first token
    assert rule.absent[2] is None


def test_the_hf_backend_says_how_likely_absent_was_only_when_asked(tiny_model):
    from r1track.backends import GenerationRequest, load_backend

    backend = load_backend("hf", str(tiny_model))
    image = _frame().resize((112, 112))
    plain, boxed = backend.generate(
        [
            GenerationRequest((image,), grounding_prompt("the white box"), 8),
            GenerationRequest((image,), grounding_prompt("the white box"), 8, box_only=True),
        ]
    )
    assert plain.absent is None and boxed.absent is not None and 0 < boxed.absent < 1
    assert not boxed.startswith(ABSENT_ANSWER)
