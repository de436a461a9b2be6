"""Several objects in one video (`r1track.tracking.objects`): one decode per frame, one batched
model call per frame for all objects, each object tracked as it would be alone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import white_blob_oracle
from r1track.errors import UserError
from r1track.outputs import OBJECT_COLOURS, ObjectsWriter
from r1track.tracking import FrameResult, Target, Tracker, TrackerConfig
from r1track.tracking.objects import ObjectError, check_targets
from tracking.test_redetect import _iou

WIDTH, HEIGHT = 480, 160


def two_objects_clip(n=10):
    """Two white boxes far apart on dark noise, each moving its own way: frames and each one's
    true boxes (x, y, w, h). Search crops (context 2) around one never reach the other."""
    rng = np.random.default_rng(3)
    frames, left, right = [], [], []
    for i in range(n):
        pixels = rng.integers(0, 60, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
        a = (30 + 5 * i, 40 + 2 * i, 30, 24)
        b = (400 - 4 * i, 90 - 3 * i, 36, 30)
        for x, y, w, h in (a, b):
            pixels[y : y + h, x : x + w] = 255
        frames.append(Image.fromarray(pixels))
        left.append(a)
        right.append(b)
    return frames, left, right


class CountingFrames:
    """A frame source that counts the frames read from it (each one "decoded")."""

    def __init__(self, frames):
        self.frames, self.read = frames, 0

    def __iter__(self):
        for frame in self.frames:
            self.read += 1
            yield frame


def _config():
    return TrackerConfig(crop_size=112, template_factor=2.0, search_factor=2.0)


def test_each_frame_is_decoded_once_and_asked_about_in_one_call(scripted):
    frames, left, right = two_objects_clip()
    backend = scripted(white_blob_oracle)
    source = CountingFrames(frames)
    targets = [Target("a", bbox=left[0]), Target("b", bbox=right[0])]
    steps = list(Tracker(backend, _config()).track_objects(source, targets))
    assert source.read == len(frames)  # one decode per frame, not one per object
    assert backend.batches == [2] * (len(frames) - 1)  # both objects in one call per frame
    assert [s.index for s in steps] == list(range(len(frames)))
    assert all(list(s.results) == ["a", "b"] for s in steps)
    assert all(s.frame is frames[s.index] for s in steps)
    for s in steps:
        assert _iou(s.results["a"].box, left[s.index]) > 0.8
        assert _iou(s.results["b"].box, right[s.index]) > 0.8


def test_each_object_gets_the_boxes_it_would_get_alone(scripted):
    frames, left, right = two_objects_clip()
    together = list(
        Tracker(scripted(white_blob_oracle), _config()).track_objects(
            frames, [Target("1", bbox=left[0]), Target("2", bbox=right[0])]
        )
    )
    for object_id, boxes in (("1", left), ("2", right)):
        alone = list(Tracker(scripted(white_blob_oracle), _config()).track(frames, bbox=boxes[0]))
        assert [s.results[object_id].box for s in together] == [r.box for r in alone]


def test_a_box_and_a_description_mix(scripted):
    """One object from a box, one grounded from a description on the first frame."""
    frames, left, right = two_objects_clip(n=4)
    x, y, w, h = right[0]

    def answer(request):
        if len(request.images) == 1:  # grounding: the whole first frame, as resized
            sx = request.images[0].size[0] / WIDTH
            sy = request.images[0].size[1] / HEIGHT
            box = [x * sx, y * sy, (x + w) * sx, (y + h) * sy]
            return '{"bbox_2d": [' + ", ".join(f"{v:.1f}" for v in box) + "]}"
        return white_blob_oracle(request)

    targets = [Target("box", bbox=left[0]), Target("said", text="the right white box")]
    steps = list(Tracker(scripted(answer), _config()).track_objects(frames, targets))
    assert _iou(steps[0].results["said"].box, right[0]) > 0.9
    assert all(_iou(s.results["said"].box, right[s.index]) > 0.7 for s in steps)


def test_a_description_not_found_names_its_object(scripted):
    frames, left, _ = two_objects_clip(n=3)
    targets = [Target("a", bbox=left[0]), Target("ghost", text="a purple cow")]
    with pytest.raises(ObjectError, match="object ghost: the model found no box"):
        list(Tracker(scripted(lambda r: "no idea"), _config()).track_objects(frames, targets))


@pytest.mark.parametrize(
    ("targets", "limit", "message"),
    [
        ([], 16, "no object to track"),
        ([Target("a", bbox=(1, 1, 5, 5)), Target("a", bbox=(9, 9, 5, 5))], 16, "given twice"),
        ([Target("a b", bbox=(1, 1, 5, 5))], 16, "letters, digits"),
        ([Target("../x", bbox=(1, 1, 5, 5))], 16, "letters, digits"),
        ([Target(str(i), bbox=(1, 1, 5, 5)) for i in range(5)], 4, "limit of 4"),
        ([Target("a")], 16, "exactly one of"),
    ],
)
def test_bad_targets_are_refused(targets, limit, message):
    with pytest.raises(UserError, match=message):
        check_targets(targets, limit)


def test_the_overlay_draws_every_object_in_its_colour_with_its_id(tmp_path):
    frames, left, right = two_objects_clip(n=3)
    with ObjectsWriter(tmp_path, ["car", "dog"], fps=5) as writer:
        for i, frame in enumerate(frames):
            results = {
                "car": FrameResult(index=i, box=left[i]),
                "dog": FrameResult(index=i, box=right[i], visible=i != 2),
            }
            drawn = writer.drawn(results)
            writer.write(frame, results)
    assert [d.color for d in drawn] == [OBJECT_COLOURS[0], OBJECT_COLOURS[1]]
    assert [d.label for d in drawn] == ["car", "dog?"]  # the held box says so
    assert [d.solid for d in drawn] == [True, False]
    for object_id, boxes in (("car", left), ("dog", right)):
        lines = (tmp_path / object_id / "boxes.txt").read_text().splitlines()
        assert [tuple(float(v) for v in line.split(",")) for line in lines] == boxes[:3]
    from r1track.video import open_frames

    shown = [np.asarray(f) for f in open_frames(tmp_path / "overlay.mp4")]
    assert len(shown) == 3
    # each box's left edge, mid-height, in its own colour (H.264 blurs it a little)
    for (x, y, _, h), colour in ((left[0], OBJECT_COLOURS[0]), (right[0], OBJECT_COLOURS[1])):
        pixel = shown[0][y + h // 2, x + 1].astype(int)
        assert np.abs(pixel - np.array(colour)).max() < 70, (pixel, colour)
    assert not (tmp_path / "boxes.txt").exists()  # several objects: a folder each


def test_a_bad_frame_is_the_videos_fault_not_an_objects(scripted):
    """An error of the shared frame source is raised as it is (a `UserError`: exit 2 at the
    command line), not blamed on whichever object read the frame first."""
    frames, left, right = two_objects_clip(n=4)

    def source():
        yield from frames[:2]
        raise UserError("frame 3: 200x96 pixels, the others 480x160")

    targets = [Target("a", bbox=left[0]), Target("b", bbox=right[0])]
    with pytest.raises(UserError) as info:
        list(Tracker(scripted(white_blob_oracle), _config()).track_objects(source(), targets))
    assert not isinstance(info.value, ObjectError) and str(info.value).startswith("frame 3")


def test_an_objects_refused_input_stays_a_user_error_and_names_it(scripted):
    from r1track.tracking.objects import ObjectInputError

    frames, left, _ = two_objects_clip(n=2)
    targets = [Target("a", bbox=left[0]), Target("far", bbox=(5000, 10, 5, 5))]
    with pytest.raises(ObjectInputError, match="object far: box 5000,10,5,5 lies entirely") as info:
        list(Tracker(scripted(white_blob_oracle), _config()).track_objects(frames, targets))
    assert isinstance(info.value, UserError)


def test_ids_that_differ_only_in_case_are_one_folder():
    with pytest.raises(UserError, match="given twice"):
        check_targets([Target("Car", bbox=(1, 1, 5, 5)), Target("car", bbox=(9, 9, 5, 5))])
