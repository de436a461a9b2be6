"""The app's session logic (`r1track.app.session`), without a browser: uploads, limits, boxes
drawn by two clicks, a run's files, and one folder per session."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from helpers import white_blob_oracle
from r1track.app.session import AppError, AppLimits, Session
from r1track.tracking import Tracker, TrackerConfig
from tracking.test_objects import two_objects_clip


@pytest.fixture
def clip(tmp_path):
    """The two-object clip as an mp4 (the overlay writer's encoder) and its true boxes."""
    from r1track.video import OverlayWriter

    frames, left, right = two_objects_clip(n=5)
    path = tmp_path / "upload" / "clip.mp4"
    path.parent.mkdir()
    with OverlayWriter(path, fps=5) as writer:
        for frame in frames:
            writer.write_boxes(frame, [])
    return path, left, right


def test_a_text_file_named_like_a_video_is_refused_in_one_line(tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video at all\n" * 50)
    session = Session.new(tmp_path, AppLimits())
    with pytest.raises(AppError) as info:
        session.load_video(fake, AppLimits())
    message = str(info.value)
    assert "holiday.mp4" in message and "\n" not in message and str(session.dir) not in message
    assert session.video is None and not list(session.dir.iterdir())  # the copy is gone
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(AppError, match="not a video file"):
        session.load_video(notes, AppLimits())


def test_limits_are_checked_before_anything_is_tracked(tmp_path, clip):
    path, _, _ = clip
    session = Session.new(tmp_path, AppLimits())
    with pytest.raises(AppError, match="more than 3 frames"):
        session.load_video(path, AppLimits(max_frames=3))
    with pytest.raises(AppError, match="MB, more than"):
        session.load_video(path, AppLimits(max_upload_mb=0.0001))
    first = session.load_video(path, AppLimits())
    assert first.size == (480, 160) and session.frames == 5


def test_two_clicks_make_a_box_and_bad_boxes_are_refused(tmp_path, clip):
    path, _, _ = clip
    session = Session.new(tmp_path, AppLimits(max_objects=2))
    with pytest.raises(AppError, match="upload a video"):
        session.add("1,1,5,5", "", "")
    session.load_video(path, AppLimits())
    assert session.click(60, 64) is None  # first corner
    assert session.click(30, 40) == "30,40,30,24"  # second corner, in either order
    with pytest.raises(AppError, match="entirely outside"):
        session.add("900,10,5,5", "", "")
    with pytest.raises(AppError, match="four numbers"):
        session.add("1,2,3", "", "")
    with pytest.raises(AppError, match=r"a box .* or a description"):
        session.add("", "  ", "")
    session.add("30,40,30,24", "", "car")
    with pytest.raises(AppError, match="named car already"):
        session.add("1,1,5,5", "", "car")
    with pytest.raises(AppError, match="letters, digits"):
        session.add("1,1,5,5", "", "../etc")
    session.add("", "the right box", "")
    with pytest.raises(AppError, match="at most 2 objects"):
        session.add("1,1,5,5", "", "")
    assert [t.id for t in session.targets] == ["car", "2"]
    preview = np.asarray(session.preview())
    assert (preview[40, 35] == (0, 255, 0)).all()  # car's box on the preview, in its colour


def test_a_run_writes_the_overlay_and_each_objects_files_in_the_session(tmp_path, clip, scripted):
    path, left, right = clip
    session = Session.new(tmp_path, AppLimits())
    session.load_video(path, AppLimits())
    session.add(",".join(f"{v:g}" for v in left[0]), "", "a")
    session.add(",".join(f"{v:g}" for v in right[0]), "", "b")
    tracker = Tracker(
        scripted(white_blob_oracle),
        TrackerConfig(crop_size=112, template_factor=2.0, search_factor=2.0),
    )
    seen = []
    overlay, files = session.track(tracker, lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5) and len(seen) == 5
    assert overlay.is_file() and overlay.parent.parent == session.dir
    names = sorted(p.name for p in files)
    assert names == ["a_boxes.txt", "a_track.jsonl", "b_boxes.txt", "b_track.jsonl", "results.zip"]
    assert all(p.is_relative_to(session.dir) for p in files)
    with zipfile.ZipFile(files[0]) as z:
        assert sorted(z.namelist()) == [
            "a/boxes.txt",
            "a/track.jsonl",
            "b/boxes.txt",
            "b/track.jsonl",
        ]
        lines = z.read("b/boxes.txt").decode().split()
    boxes = [[float(v) for v in line.split(",")] for line in lines]
    assert len(boxes) == 5 and boxes[0] == list(right[0])


def test_sessions_do_not_share_folders_and_closing_removes_one(tmp_path, clip):
    path, _, _ = clip
    a, b = Session.new(tmp_path, AppLimits()), Session.new(tmp_path, AppLimits())
    assert a.dir != b.dir and a.dir.parent == b.dir.parent == tmp_path
    a.load_video(path, AppLimits())
    a.close()
    assert not a.dir.exists() and b.dir.exists()


def test_a_session_closed_during_a_run_goes_when_the_run_ends(tmp_path, clip, scripted):
    """Gradio may drop a session's state while its run is still writing: the folder stays until
    the run is done, then goes."""
    path, left, _ = clip
    session = Session.new(tmp_path, AppLimits())
    session.load_video(path, AppLimits())
    session.add(",".join(f"{v:g}" for v in left[0]), "", "a")
    tracker = Tracker(
        scripted(white_blob_oracle),
        TrackerConfig(crop_size=112, template_factor=2.0, search_factor=2.0),
    )
    still_there = []

    def progress(done, total):
        if done == 2:
            session.close()  # the page went away mid-run
        still_there.append(session.dir.exists())

    session.track(tracker, progress)
    assert all(still_there) and len(still_there) == 5
    assert not session.dir.exists()
