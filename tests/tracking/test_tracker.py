"""The tracking loop with test-double backends: geometry end to end, fallbacks, text init."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from helpers import cv2_crop, cv2_jpeg, moving_square_video, white_blob_oracle
from r1track.backends.base import PixelLimits
from r1track.errors import UserError
from r1track.geometry import crop_window, iou_xyxy, sent_jpeg, xywh_to_xyxy
from r1track.prompts import parse_box, tracking_prompt
from r1track.tracking import AnswerCounts, GroundingError, Tracker, TrackerConfig
from r1track.tracking.steps import damp_size


def test_tracks_a_moving_target_through_crop_and_back(scripted):
    frames, boxes = moving_square_video()
    backend = scripted(white_blob_oracle)
    tracker = Tracker(backend, TrackerConfig(crop_size=112))
    init = boxes[0].copy()
    init[2:] -= init[:2]
    results = list(tracker.track(frames, bbox=init))
    assert len(results) == len(frames)
    assert results[0].box == tuple(init)
    ious = [float(iou_xyxy(xywh_to_xyxy(r.box), gt)) for r, gt in zip(results, boxes, strict=True)]
    assert min(ious) > 0.85, ious
    assert all(r.fallback is None and r.parsed for r in results[1:])
    # every request: template, then search crop of the configured size, then the fixed text
    first_text = backend.requests[0].text
    for request in backend.requests:
        assert [im.size for im in request.images] == [(112, 112), (112, 112)]
        assert request.images[0] is backend.requests[0].images[0]
        assert request.text == first_text
    assert request.max_new_tokens == 64


def test_template_prompt_holds_the_template_box_in_crop_pixels(scripted):
    frame = Image.new("RGB", (400, 300))
    backend = scripted(lambda r: "[0,0,1,1]")
    tracker = Tracker(backend, TrackerConfig(crop_size=336, prompt="100k", think=True))
    state, _ = tracker.start(frame, bbox=(100, 100, 50, 50))
    # side = ceil(50 * 4) = 200 -> scale 1.68; the box is centred: [126,126,210,210]
    assert state.prompt == tracking_prompt((126, 126, 210, 210), "100k")
    tracker.step(state, frame)
    assert backend.requests[0].max_new_tokens == 512
    assert backend.requests[0].think and backend.requests[0].layout == "r1track"


def test_unusable_answers_keep_the_last_frame_space_box(scripted):
    frames, boxes = moving_square_video(n=6)
    script = iter(["ORACLE", "garbage", "[50,50,40,60]", "[400,400,500,500]", "ORACLE", "ORACLE"])

    def answer(request):
        a = next(script)
        return white_blob_oracle(request) if a == "ORACLE" else a

    # a wide search window, so the target is still inside it after three frames lost
    tracker = Tracker(scripted(answer), TrackerConfig(crop_size=112, search_factor=8.0))
    init = boxes[0].copy()
    init[2:] -= init[:2]
    state, _ = tracker.start(frames[0], bbox=init)
    results = [tracker.step(state, f) for f in frames[1:]]
    assert [r.fallback for r in results] == [None, "unparsed", "degenerate", "outside_crop", None]
    assert [r.parsed for r in results] == [True, False, True, True, True]
    # fallbacks repeat the last frame-space box exactly
    assert results[1].box == results[0].box == results[2].box == results[3].box
    counts = AnswerCounts.of(results)
    assert counts.by_reason == {
        "unparsed": 1,
        "degenerate": 1,
        "outside_crop": 1,
        "outside_frame": 0,
        "unconfident": 0,
        "absent": 0,
        "disagreed": 0,
        "unlike": 0,
        "failed": 0,
    }
    assert (counts.answers, counts.unparsed, counts.fallbacks) == (5, 1, 3)
    # after three fallbacks the target moved ~70 px; the search window around the last
    # frame-space box still holds it and the oracle's answer maps back onto it
    assert float(iou_xyxy(xywh_to_xyxy(results[4].box), boxes[5])) > 0.85


def test_step_many_equals_separate_steps(scripted):
    videos = [moving_square_video(n=5, seed=s) for s in range(3)]
    inits = []
    for _, boxes in videos:
        b = boxes[0].copy()
        b[2:] -= b[:2]
        inits.append(b)
    single = []
    for (frames, _), init in zip(videos, inits, strict=True):
        single.append(
            [r.box for r in Tracker(scripted(white_blob_oracle)).track(frames, bbox=init)]
        )
    backend = scripted(white_blob_oracle)
    tracker = Tracker(backend)
    states = [
        tracker.start(frames[0], bbox=init)[0]
        for (frames, _), init in zip(videos, inits, strict=True)
    ]
    batched = [[tuple(init)] for init in inits]
    for t in range(1, 5):
        for i, r in enumerate(tracker.step_many(states, [v[0][t] for v in videos])):
            batched[i].append(r.box)
    assert backend.batches == [3, 3, 3, 3]
    assert batched == single


@pytest.mark.parametrize("max_pixels", [28 * 28 * 1280, 200_000])
def test_text_init_maps_grounding_answer_from_resized_image(scripted, max_pixels):
    width, height = 640, 360
    frame = Image.new("RGB", (width, height), (10, 10, 10))
    frame.paste((255, 255, 255), (100, 50, 300, 150))
    seen = []

    def answer(request):
        if len(request.images) == 1:  # grounding: find the white box in the image we were sent
            seen.append(request.images[0].size)
            return (
                '```json\n[{"bbox_2d": '
                + white_blob_oracle(type(request)((None, request.images[0]), ""))
                + ', "label": "box"}]\n```'
            )
        return "[0,0,1,1]"

    tracker = Tracker(scripted(answer), TrackerConfig(grounding_max_pixels=max_pixels))
    state, result = tracker.start(frame, text="the white box")
    new_w, new_h = seen[0]
    assert new_w % 28 == 0 and new_h % 28 == 0 and new_w * new_h <= max_pixels
    assert (new_w, new_h) != (width, height)
    assert np.allclose(result.box, (100, 50, 200, 100), atol=2.0)
    assert result.answer and result.parsed
    assert np.allclose(state.box, result.box)


def test_text_init_without_box_fails_clearly(scripted):
    tracker = Tracker(scripted(lambda r: "there is no such object"))
    with pytest.raises(GroundingError, match="found no box for 'a unicorn'"):
        tracker.start(Image.new("RGB", (100, 100)), text="a unicorn")
    tracker = Tracker(scripted(lambda r: "[500,500,600,600]"))
    with pytest.raises(GroundingError, match="no area inside the frame"):
        tracker.start(Image.new("RGB", (100, 100)), text="a unicorn")


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ((10, 10, 0, 5), "positive width and height"),
        ((10, 10, -3, 5), "positive width and height"),
        ((10, 10, float("nan"), 5), "finite"),
        ((500, 500, 10, 10), "entirely outside"),
        ((1, 2, 3), "4 numbers"),
    ],
)
def test_bad_init_boxes(scripted, bbox, message):
    tracker = Tracker(scripted(lambda r: ""))
    with pytest.raises(UserError, match=message):
        tracker.start(Image.new("RGB", (100, 80)), bbox=bbox)


def test_exactly_one_of_box_and_text(scripted):
    tracker = Tracker(scripted(lambda r: ""))
    frame = Image.new("RGB", (100, 80))
    with pytest.raises(UserError, match="exactly one"):
        tracker.start(frame)
    with pytest.raises(UserError, match="exactly one"):
        tracker.start(frame, bbox=(1, 1, 5, 5), text="x")


def test_crop_size_the_processor_would_change_is_refused(scripted):
    with pytest.raises(UserError, match="crop size 300"):
        Tracker(scripted(lambda r: ""), TrackerConfig(crop_size=300))
    limits = PixelLimits(min_pixels=50176, max_pixels=313600)  # R1-Track-5k training limits
    with pytest.raises(UserError, match="crop size 112"):
        Tracker(scripted(lambda r: "", limits), TrackerConfig(crop_size=112))
    Tracker(scripted(lambda r: "", limits), TrackerConfig(crop_size=336))


def test_numpy_frames_accepted(scripted):
    frames, boxes = moving_square_video(n=3)
    init = boxes[0].copy()
    init[2:] -= init[:2]
    results = list(
        Tracker(scripted(white_blob_oracle)).track([np.asarray(f) for f in frames], bbox=init)
    )
    assert parse_box(results[1].answer).ok and results[1].fallback is None


def test_coord_tint_reaches_every_image_the_model_sees(scripted):
    frames, boxes = moving_square_video(4)
    init = boxes[0].copy()
    init[2:] -= init[:2]
    runs = []
    for strength in (0.0, 0.3):
        backend = scripted(lambda r: "no box")  # the box never moves: the same crops both times
        tracker = Tracker(backend, TrackerConfig(crop_size=112, coord_tint=strength))
        list(tracker.track(frames, init))
        runs.append(backend.requests)
    assert len(runs[0]) == len(runs[1]) == 3
    for a, b in zip(*runs, strict=True):
        for x, y in zip(a.images, b.images, strict=True):
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            # the tinted image is the plain one blended with the ramp: red grows left to right
            ramp_red = (y[..., 0] - 0.7 * x[..., 0]) / 0.3
            assert ramp_red[:, -1].mean() - ramp_red[:, 0].mean() > 200
    with pytest.raises(UserError, match="coord tint"):
        TrackerConfig(coord_tint=1.5)


def test_damp_size_moves_the_size_part_way_in_log_space():
    prev = np.array([10.0, 10.0, 20.0, 20.0])
    answered = np.array([50.0, 50.0, 80.0, 20.0])  # centre (90, 60), 4x wider
    frame = (400, 300)
    assert np.array_equal(damp_size(prev, answered, 1.0, frame), answered)
    # half way in log space: sqrt(20 * 80) = 40 wide, about the answer's centre
    assert np.allclose(damp_size(prev, answered, 0.5, frame), [70, 50, 40, 20])
    assert np.allclose(damp_size(prev, answered, 0.0, frame), [80, 50, 20, 20])
    # a kept size that leaves the frame is clipped to it
    edge = np.array([390.0, 0.0, 10.0, 10.0])
    assert np.allclose(damp_size(np.array([0.0, 0, 40, 40]), edge, 0.0, frame), [375, 0, 25, 25])
    with pytest.raises(UserError, match="scale lr"):
        TrackerConfig(scale_lr=1.5)


def test_aspect_lr_keeps_the_area_part_and_damps_the_aspect_part():
    prev = np.array([100.0, 100.0, 20.0, 60.0])  # a pedestrian, 1:3
    answered = np.array([100.0, 100.0, 20.0, 20.0])  # shrunk onto the head: centre (110, 110)
    frame = (400, 300)
    # aspect_lr 0: the area moves as scale_lr says (1200 -> 400, half way in log space: 400 *
    # sqrt(3)) and the box stays 1:3 about the answer's centre
    w = np.sqrt(400 * np.sqrt(3) / 3)
    kept = damp_size(prev, answered, 0.5, frame, aspect_lr=0.0)
    assert np.allclose(kept, [110 - w / 2, 110 - 1.5 * w, w, 3 * w])
    # aspect_lr 1 is scale_lr alone, bit for bit
    assert np.array_equal(
        damp_size(prev, answered, 0.5, frame, aspect_lr=1.0), damp_size(prev, answered, 0.5, frame)
    )
    # half of scale_lr's aspect move: 1:3 -> 1:1 is log 3, scale_lr 0.5 lets log 3 / 2 through,
    # aspect_lr 0.5 half of that
    half = damp_size(prev, answered, 0.5, frame, aspect_lr=0.5)
    assert np.isclose(half[3] / half[2], 3**0.75)
    assert np.isclose(half[2] * half[3], 400 * np.sqrt(3))
    # scale_lr 1 with aspect_lr 0: the answer's area, the previous aspect
    whole = damp_size(prev, answered, 1.0, frame, aspect_lr=0.0)
    assert np.allclose([whole[2] * whole[3], whole[3] / whole[2]], [400, 3])
    with pytest.raises(UserError, match="aspect lr"):
        TrackerConfig(aspect_lr=-0.1)


def test_scale_lr_stops_a_growing_answer_from_compounding(scripted):
    frames, boxes = moving_square_video(8)
    init = boxes[0].copy()
    init[2:] -= init[:2]

    def grows(request):
        # centred on the target, 1.25x the side the last box has in the search crop (112 / 4)
        x1, y1, x2, y2 = parse_box(white_blob_oracle(request)).box
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 1.25 * 28 / 2
        return f"[{cx - half:.0f},{cy - half:.0f},{cx + half:.0f},{cy + half:.0f}]"

    ious = {}
    for scale_lr in (1.0, 0.0):
        tracker = Tracker(scripted(grows), TrackerConfig(crop_size=112, scale_lr=scale_lr))
        results = list(tracker.track(frames, init))
        ious[scale_lr] = [
            float(iou_xyxy(xywh_to_xyxy(r.box), gt)) for r, gt in zip(results, boxes, strict=True)
        ]
    assert ious[1.0][-1] < 0.2  # 25% per frame compounds through the crops
    assert min(ious[0.0]) > 0.6  # the centre follows, the size stays the first box's


def test_aspect_lr_keeps_a_tall_target_tall_when_the_answers_shrink_onto_its_top(scripted):
    frames, boxes = moving_square_video(8)
    init = boxes[0].copy()
    init[2:] -= init[:2]  # 40 x 30

    def top(request):
        # the blob's top third: 40 x 10, a box four times as wide as tall, on its upper part
        x1, y1, x2, y2 = parse_box(white_blob_oracle(request)).box
        return f"[{x1},{y1},{x2},{y1 + (y2 - y1) / 3:.0f}]"

    aspects = {}
    for aspect_lr in (1.0, 0.0):
        config = TrackerConfig(crop_size=112, scale_lr=0.5, aspect_lr=aspect_lr)
        results = list(Tracker(scripted(top), config).track(frames, init))
        aspects[aspect_lr] = [r.box[2] / r.box[3] for r in results[1:]]
    # scale_lr alone: 2.3, 3.1, 3.6, ... 4.3, the answers' flat aspect taken half way each frame
    assert aspects[1.0][0] > 2 and aspects[1.0][-1] > 4
    assert np.allclose(aspects[0.0], 40 / 30, rtol=0.02)  # the first box's, every frame


def test_views_mirror_back_and_outvote_a_wrong_view(scripted):
    """Each view's answer is read in its mirrored crop and mapped back to the frame; a view that
    answers wrong every frame is outvoted by the others, even when it is the unmirrored one."""
    frames, boxes = moving_square_video(10)
    init = boxes[0].copy()
    init[2:] -= init[:2]

    def run(views, liar):
        def answer(request):
            # the tracker keys each view's template for the backend as "<track>:<view>"
            key = request.prefix_key
            view = int(key.rsplit(":", 1)[1]) if ":" in key else 0
            return "[0,0,20,20]" if view == liar else white_blob_oracle(request)

        backend = scripted(answer)
        tracker = Tracker(backend, TrackerConfig(crop_size=112, views=views))
        results = list(tracker.track(frames, init))
        assert len(backend.requests) == views * (len(frames) - 1)
        return [
            float(iou_xyxy(xywh_to_xyxy(r.box), gt)) for r, gt in zip(results, boxes, strict=True)
        ]

    assert min(run(1, liar=0)) < 0.3  # the lie alone loses the target
    # the three mirrored views are right only if their answers are mirrored back
    assert min(run(4, liar=0)) > 0.85
    assert min(run(3, liar=2)) > 0.85
    assert min(run(2, liar=None)) > 0.85
    with pytest.raises(UserError, match="views"):
        TrackerConfig(views=5)


def test_a_tracker_without_config_takes_the_checkpoints_settings(tiny_model, tmp_path):
    """The library, not only the CLI, applies a checkpoint's r1track_tracker.json: a Tracker
    made without a config uses the file's values, and `for_checkpoint` overrides some of them."""
    import shutil

    from r1track.backends import load_backend
    from r1track.models import write_settings

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    settings = {"crop_size": 112, "context": 3.0, "prompt": "nano", "coord_tint": 0.3}
    write_settings(model, **settings, think=False, scale_lr=0.5, views=2)
    from_file = TrackerConfig(
        crop_size=112,
        template_factor=3.0,
        search_factor=3.0,
        prompt="nano",
        think=False,
        coord_tint=0.3,
        scale_lr=0.5,
        views=2,
    )
    backend = load_backend("hf", str(model), device="cpu")
    try:
        assert Tracker(backend).config == from_file
    finally:
        backend.close()
    assert TrackerConfig.for_checkpoint(str(model)) == from_file
    overridden = TrackerConfig.for_checkpoint(str(model), views=1, context=2.0, crop_size=None)
    assert overridden == replace(from_file, views=1, template_factor=2.0, search_factor=2.0)
    assert TrackerConfig.for_checkpoint(str(tiny_model)) == TrackerConfig()  # no settings file
    assert TrackerConfig.for_checkpoint(None, prompt="100k") == TrackerConfig(prompt="100k")
    with pytest.raises(TypeError, match="unknown tracker setting 'crop'"):
        TrackerConfig.for_checkpoint(str(model), crop=112)


# -- pixels and numbers as R1-Track's checkpoints saw them ------------------------------------


def test_template_box_in_the_prompt_is_truncated_and_unclipped(scripted):
    """R1-Track wrote `list(map(int, box))` of the crop box, unclipped: a box longer than its
    window runs past the crop (here 200 x 2.5 px: window side 90 px, so x runs from -205)."""
    tracker = Tracker(scripted(lambda r: "[0,0,1,1]"), TrackerConfig(crop_size=336))
    state, _ = tracker.start(Image.new("RGB", (400, 300)), bbox=(100, 150.3, 200, 2.5))
    # crop box [-205.33, 161.65, 541.33, 170.99] (clipped and rounded it was [0,162,336,171])
    assert state.prompt == tracking_prompt((-205, 161, 541, 170), "5k")
    assert "[-205,161,541,170]" in state.prompt


def _noise_frames(n=2, size=(320, 240), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def test_model_gets_opencv_crops_through_jpeg_by_default(scripted):
    """Defaults (a released checkpoint): template and search crops are OpenCV's INTER_LINEAR
    crops of the black-padded window, passed through JPEG q95 as `cv2.imencode` does (within 2
    grey levels, mean 0.05; measured identical)."""
    pytest.importorskip("cv2")
    frames = _noise_frames()
    box = (30.4, 70.2, 50.0, 40.0)  # its window crosses the frame's left edge
    backend = scripted(lambda r: "[40,40,70,70]")
    tracker = Tracker(backend, TrackerConfig(crop_size=112))
    state, _ = tracker.start(frames[0], bbox=box)
    tracker.step(state, frames[1])
    window = crop_window(box, 4.0, 112)
    for image, frame in zip(backend.requests[0].images, frames, strict=True):
        expected = cv2_jpeg(cv2_crop(frame, window))
        diff = np.abs(np.asarray(image).astype(int) - expected)
        assert diff.max() <= 2 and diff.mean() <= 0.05
        assert sent_jpeg(image) is not None  # a server is sent these very JPEG bytes


def test_pil_and_png_settings_give_the_model_pillows_crops_untouched(scripted):
    """`resize pil`, `image_format png` (r1track-nano's settings): Pillow's BILINEAR crop of the
    window, lossless, as the tracker gave every model before these settings existed."""
    frames = _noise_frames()
    box = (100.0, 80.0, 30.0, 30.0)  # window inside the frame: [55, 35] + 120 px
    backend = scripted(lambda r: "[40,40,70,70]")
    config = TrackerConfig(crop_size=112, resize="pil", image_format="png")
    tracker = Tracker(backend, config)
    state, _ = tracker.start(frames[0], bbox=box)
    tracker.step(state, frames[1])
    for image, frame in zip(backend.requests[0].images, frames, strict=True):
        pil = Image.fromarray(frame).resize(
            (112, 112), Image.Resampling.BILINEAR, (55, 35, 175, 155)
        )
        assert np.array_equal(np.asarray(image), np.asarray(pil)) and sent_jpeg(image) is None


def test_server_decodes_the_pixels_an_in_process_model_is_given(scripted, chat_server):
    """The openai backend sends the JPEG bytes the tracker made (PNG when lossless): what the
    server decodes equals, byte for byte, what the `hf` backend would be given."""
    from helpers import decode_request
    from r1track.backends.openai_api import OpenAIBackend

    frames = _noise_frames(3)
    for image_format, mime in (("jpeg", "data:image/jpeg;base64,"), ("png", "data:image/png;")):
        config = TrackerConfig(crop_size=112, image_format=image_format)
        local = scripted(lambda r: "[40,40,70,70]")
        list(Tracker(local, config).track(frames, bbox=(100, 80, 30, 30)))
        server = chat_server(lambda body: "[40,40,70,70]")
        remote = OpenAIBackend(server.url, "m")
        try:
            list(Tracker(remote, config).track(frames, bbox=(100, 80, 30, 30)))
        finally:
            remote.close()
        assert len(server.bodies) == len(local.requests) == 2
        for body, request in zip(server.bodies, local.requests, strict=True):
            urls = [p["image_url"]["url"] for p in body["messages"][0]["content"][:2]]
            assert all(url.startswith(mime) for url in urls)
            images, _, _ = decode_request(body)
            assert [im.tobytes() for im in images] == [im.tobytes() for im in request.images]


def test_each_frame_records_the_confidence_of_its_answer(hf_backend, synth_video, tmp_path):
    """The hf backend's confidence reaches every frame's result and its track.jsonl record."""
    import json

    from r1track.outputs import TrackWriter
    from r1track.video import open_frames

    video, boxes = synth_video
    tracker = Tracker(hf_backend, TrackerConfig(crop_size=112, max_new_tokens=6))
    with TrackWriter(tmp_path, overlay=False) as writer:
        frames = list(open_frames(str(video)))[:4]
        for frame, result in zip(frames, tracker.track(frames, bbox=boxes[0]), strict=True):
            writer.write(frame, result)
    records = [json.loads(line) for line in (tmp_path / "track.jsonl").read_text().splitlines()]
    assert records[0]["confidence"] is None  # frame 0: the given box, no answer
    for record in records[1:]:
        assert 0 < record["confidence"] <= 1 and record["answer"]
