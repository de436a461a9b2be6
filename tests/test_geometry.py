"""Properties of the box and crop geometry."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as qwen_resize

from helpers import cv2_crop, cv2_jpeg
from r1track.geometry import (
    CropWindow,
    area_xyxy,
    as_sent,
    clip_xyxy,
    consensus_xyxy,
    coord_tint,
    crop_image,
    crop_window,
    giou_xyxy,
    iou_xyxy,
    mirror_image,
    mirror_xyxy,
    resize_linear,
    sent_jpeg,
    smart_resize,
    xywh_to_xyxy,
    xyxy_to_xywh,
)

coord = st.floats(-2000, 2000, allow_nan=False)
size = st.floats(0.5, 1500, allow_nan=False)
xywh = st.tuples(coord, coord, size, size)


@given(xywh)
def test_xywh_xyxy_roundtrip(box):
    assert np.allclose(xyxy_to_xywh(xywh_to_xyxy(box)), box, atol=1e-9)


@given(xywh, st.floats(1.0, 10.0), st.sampled_from([112, 224, 336, 448]), xywh)
def test_crop_then_map_back_is_identity(box, factor, out_size, other):
    window = crop_window(box, factor, out_size)
    b = xywh_to_xyxy(other)
    assert np.allclose(window.to_frame(window.to_crop(b)), b, rtol=1e-9, atol=1e-6)


@given(xywh, st.floats(1.0, 10.0), st.sampled_from([112, 336]))
def test_crop_window_is_centred_square_of_r1track_side(box, factor, out_size):
    window = crop_window(box, factor, out_size)
    x, y, w, h = box
    assert window.side == max(1, math.ceil(math.sqrt(w * h) * factor))
    # the corner is rounded to whole pixels: the centre moves by at most half a pixel
    assert abs(window.x0 + window.side / 2 - (x + w / 2)) <= 0.5 + 1e-9
    assert abs(window.y0 + window.side / 2 - (y + h / 2)) <= 0.5 + 1e-9
    # the box sits in the middle of the crop, at 1/factor of its side (geometric mean)
    crop_box = window.to_crop(xywh_to_xyxy(box))
    cw, ch = crop_box[2] - crop_box[0], crop_box[3] - crop_box[1]
    assert math.sqrt(cw * ch) == pytest.approx(out_size / factor, rel=0.02 + 2 / window.side)


@given(st.tuples(coord, coord, coord, coord), st.floats(1, 4000), st.floats(1, 4000))
def test_clip_keeps_boxes_in_frame(box, width, height):
    clipped = clip_xyxy(box, width, height)
    assert np.all(clipped[0::2] >= 0) and np.all(clipped[0::2] <= width)
    assert np.all(clipped[1::2] >= 0) and np.all(clipped[1::2] <= height)


@given(xywh, xywh)
def test_iou_symmetric_bounded_and_giou_below(a, b):
    a, b = xywh_to_xyxy(a), xywh_to_xyxy(b)
    iou_ab = float(iou_xyxy(a, b))
    assert iou_ab == pytest.approx(float(iou_xyxy(b, a)))
    assert 0.0 <= iou_ab <= 1.0
    g = float(giou_xyxy(a, b))
    assert -1.0 - 1e-12 <= g <= iou_ab + 1e-12


def test_iou_and_giou_known_values():
    a = np.array([0, 0, 10, 10])
    assert iou_xyxy(a, a) == pytest.approx(1.0)
    assert iou_xyxy(a, [5, 0, 15, 10]) == pytest.approx(50 / 150)
    # disjoint: IoU 0, GIoU = -(hull - union) / hull
    assert giou_xyxy(a, [20, 0, 30, 10]) == pytest.approx(-(300 - 200) / 300)
    assert area_xyxy([3, 3, 1, 1]) == 0


def _frame_with_rect(width, height, rect):
    frame = Image.new("RGB", (width, height), (0, 0, 255))
    frame.paste((255, 255, 255), tuple(int(v) for v in rect))
    return frame


@settings(max_examples=40, deadline=None)
@given(
    st.integers(20, 300),
    st.integers(20, 300),
    st.integers(8, 60),
    st.integers(8, 60),
    st.sampled_from([112, 336]),
)
def test_crop_pixels_land_where_to_crop_says(x, y, w, h, out_size):
    """A white rectangle in the frame appears in the crop at window.to_crop(rect)."""
    frame = _frame_with_rect(400, 400, (x, y, x + w, y + h))
    window = crop_window((x, y, w, h), 4.0, out_size)
    crop = np.asarray(crop_image(frame, window)).astype(int)
    expected = window.to_crop([x, y, x + w, y + h])
    # red is 255 inside the rectangle, 0 around it: the 50% level is the edge under bilinear
    white = np.argwhere(crop[..., 0] > 127)
    if len(white) == 0:
        assert (expected[2] - expected[0]) < 2 or (expected[3] - expected[1]) < 2
        return
    y1, x1 = white.min(axis=0)
    y2, x2 = white.max(axis=0) + 1
    assert np.allclose([x1, y1, x2, y2], expected, atol=1.5)


def test_crop_pads_black_outside_frame():
    frame = Image.new("RGB", (100, 100), (200, 200, 200))
    window = crop_window((0, 0, 20, 20), 4.0, 112)  # centred on the corner: 3/4 of it outside
    crop = np.asarray(crop_image(frame, window))
    assert crop.shape == (112, 112, 3)
    assert crop[:40, :40].max() == 0  # top-left: outside the frame
    assert crop[-20:, -20:].min() == 200  # bottom-right: inside


def test_crop_of_window_entirely_outside_is_black():
    frame = Image.new("RGB", (50, 50), (255, 255, 255))
    window = crop_window((500, 500, 10, 10), 2.0, 56)
    assert np.asarray(crop_image(frame, window)).max() == 0


@given(
    st.integers(1, 5000),
    st.integers(1, 5000),
    st.sampled_from([3136, 50176]),
    st.sampled_from([313600, 1003520, 12845056]),
)
def test_smart_resize_matches_transformers(height, width, min_pixels, max_pixels):
    if max(height, width) / min(height, width) > 200:
        with pytest.raises(ValueError):
            smart_resize(height, width, 28, min_pixels, max_pixels)
        return
    assert smart_resize(height, width, 28, min_pixels, max_pixels) == qwen_resize(
        height, width, 28, min_pixels, max_pixels
    )
    h, w = smart_resize(height, width, 28, min_pixels, max_pixels)
    # an already-resized image is left alone: what grounding relies on
    assert smart_resize(h, w, 28, min_pixels, max_pixels) == (h, w)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(28, 200),
    st.integers(28, 200),
    st.floats(0.05, 0.9),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)
def test_coord_tint_encodes_position_recoverably(width, height, strength, colour):
    image = Image.new("RGB", (width, height), colour)
    assert coord_tint(image, 0) is image
    tinted = np.asarray(coord_tint(image, strength), dtype=float)
    # undo the blend: what is left is the ramp, which gives each pixel's column and row
    ramp = (tinted - (1 - strength) * np.array(colour)) / strength
    cols = ramp[..., 0] / 255 * width - 0.5
    rows = ramp[..., 1] / 255 * height - 0.5
    tol = 0.5 / strength * max(width, height) / 255 + 1e-6  # rounding to whole levels
    assert np.allclose(cols, np.arange(width)[None, :], atol=tol)
    assert np.allclose(rows, np.arange(height)[:, None], atol=tol)
    assert np.allclose(ramp[..., 2], 128, atol=0.5 / strength + 1e-6)
    with pytest.raises(ValueError):
        coord_tint(image, 1.0)


def test_mirror_xyxy_follows_mirror_image_and_is_its_own_inverse():
    box = np.array([10.0, 20.0, 40.0, 35.0])
    pixels = np.zeros((64, 64), dtype=np.uint8)
    pixels[20:35, 10:40] = 255
    image = Image.fromarray(pixels)
    for flips in ((False, False), (True, False), (False, True), (True, True)):
        seen = np.asarray(mirror_image(image, *flips)) > 127
        ys, xs = np.nonzero(seen)
        expected = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert np.array_equal(mirror_xyxy(box, 64, *flips), expected), flips
        assert np.array_equal(mirror_xyxy(mirror_xyxy(box, 64, *flips), 64, *flips), box)


def test_consensus_outvotes_an_outlier_and_averages_the_agreeing():
    good = [[10, 10, 30, 30], [12, 10, 32, 30], [11, 11, 31, 31]]
    medoid, box = consensus_xyxy([[80, 80, 100, 100], *good])
    assert medoid in (1, 2, 3)
    assert np.allclose(box, np.mean(good, axis=0))
    # two that disagree: the first wins, nothing is averaged in
    medoid, box = consensus_xyxy([[0, 0, 10, 10], [50, 50, 60, 60]])
    assert medoid == 0 and np.array_equal(box, [0, 0, 10, 10])


# -- pixels as R1-Track made them: OpenCV's resize and JPEG, checked against OpenCV itself ------
# (opencv-python-headless comes with the `test` extra; r1track itself never imports it)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((1008, 1008), (336, 336)),  # 3x shrink
        ((504, 504), (336, 336)),  # 1.5x shrink
        ((202, 202), (336, 336)),  # 0.6x: an enlargement
        ((1011, 1011), (336, 336)),  # 3.01x
        ((672, 672), (336, 336)),  # exactly 2x (OpenCV switches to INTER_AREA there)
        ((301, 457), (112, 224)),  # non-square, odd sizes, different factors in x and y
        ((97, 131), (336, 200)),
        ((3, 5), (112, 112)),
        ((336, 336), (336, 336)),
    ],
)
def test_resize_linear_is_opencv_inter_linear(source, target):
    """Within 1 grey level of cv2.resize(INTER_LINEAR) on noise (the hardest case), colour and
    grey; Pillow's BILINEAR, which antialiases when shrinking, is far from it."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(sum(source) + sum(target))
    (src_h, src_w), (dst_h, dst_w) = source, target
    for shape in ((src_h, src_w, 3), (src_h, src_w)):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        ours = resize_linear(pixels, dst_w, dst_h)
        theirs = cv2.resize(pixels, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR)
        assert ours.shape == theirs.shape and ours.dtype == np.uint8
        assert np.abs(ours.astype(int) - theirs).max() <= 1
    if source == (1008, 1008):
        pil = Image.fromarray(pixels).resize((dst_w, dst_h), Image.Resampling.BILINEAR)
        assert np.abs(np.asarray(pil).astype(int) - theirs).max() > 16


def test_cv2_crops_are_opencvs_crop_of_the_black_padded_window():
    """`crop_image` (default `cv2`) = cv2.resize of the window padded with black, for windows
    inside, across the edges of, larger than and outside the frame; `pil` is Pillow's resize."""
    pytest.importorskip("cv2")
    rng = np.random.default_rng(5)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(30, 400, 2))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        w, h = rng.uniform(2, 250, 2)
        x, y = rng.uniform(-w / 2, width - w / 2), rng.uniform(-h / 2, height - h / 2)
        factor = float(rng.choice([2.0, 3.0, 4.0, 7.3]))
        window = crop_window((x, y, w, h), factor, int(rng.choice([112, 224, 336])))
        frame = Image.fromarray(pixels)
        expected = cv2_crop(pixels, window)
        assert np.abs(np.asarray(crop_image(frame, window)).astype(int) - expected).max() <= 1
        assert np.array_equal(crop_image(frame, window, "cv2"), crop_image(frame, window))
    outside = CropWindow(x0=500, y0=-900, side=90, size=112)
    assert np.asarray(crop_image(frame, outside)).max() == 0
    inside = CropWindow(x0=3, y0=4, side=20, size=56)
    pil = frame.resize((56, 56), Image.Resampling.BILINEAR, box=(3, 4, 23, 24))
    assert np.array_equal(np.asarray(crop_image(frame, inside, "pil")), np.asarray(pil))
    with pytest.raises(ValueError, match="unknown resize"):
        crop_image(frame, inside, "bicubic")


def test_jpeg_is_what_opencv_encodes_and_a_png_image_is_left_alone():
    """`as_sent(image, "jpeg")` decodes to what cv2.imencode(".jpg") + cv2.imdecode give: every
    pixel within 2 grey levels and the mean within 0.05 (measured: identical, since Pillow at
    quality 95 and 4:2:0 writes the very bytes OpenCV does); it keeps the bytes it came from."""
    pytest.importorskip("cv2")
    rng = np.random.default_rng(2)
    coarse = Image.fromarray(rng.integers(0, 256, (42, 42, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((336, 336), Image.Resampling.BICUBIC))
    for pixels in (rng.integers(0, 256, (112, 112, 3), dtype=np.uint8), smooth):
        image = Image.fromarray(pixels)
        sent = as_sent(image, "jpeg")
        diff = np.abs(np.asarray(sent).astype(int) - cv2_jpeg(pixels))
        assert diff.max() <= 2 and diff.mean() <= 0.05
        assert np.abs(np.asarray(sent).astype(int) - pixels).max() > 0  # lossy indeed
        data = sent_jpeg(sent)
        assert data is not None and data[:2] == b"\xff\xd8"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), sent)
        assert sent_jpeg(mirror_image(sent, True, False)) is None  # a new image: no bytes
        assert sent_jpeg(sent.copy()) is None
        assert as_sent(image, "png") is image and sent_jpeg(image) is None
    with pytest.raises(ValueError, match="unknown image format"):
        as_sent(image, "webp")
