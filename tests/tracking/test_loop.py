"""The one tracking loop (`r1track.tracking.loop.run_tracks`): lockstep batches, isolated
failures, the backend breaker, and every caller getting the same boxes through it."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import moving_square_video, white_blob_oracle
from r1track.errors import BackendError, R1TrackError
from r1track.evaluation.got10k_adapter import GOT10kTracker
from r1track.tracking import AnswerCounts, Tracker, TrackerConfig, TrackJob, run_tracks
from r1track.tracking.loop import BackendDown

CONFIG = TrackerConfig(crop_size=112, search_factor=6.0)


def _video(n, seed):
    frames, corners = moving_square_video(n, seed=seed)
    x1, y1, x2, y2 = corners[0]
    return frames, (x1, y1, x2 - x1, y2 - y1)


def _boxes(events, job):
    return [e.result.box for e in events if e.job is job and e.result is not None]


def test_lockstep_tracks_equal_one_at_a_time_and_share_model_calls(scripted):
    videos = [_video(n, seed) for n, seed in ((6, 0), (4, 1), (7, 2))]
    alone = []
    for frames, box in videos:
        job = TrackJob(frames, bbox=box)
        alone.append(
            _boxes(list(run_tracks(Tracker(scripted(white_blob_oracle), CONFIG), [job])), job)
        )
    backend = scripted(white_blob_oracle)
    jobs = [TrackJob(frames, bbox=box) for frames, box in videos]
    events = list(run_tracks(Tracker(backend, CONFIG), jobs, batch=2))
    for job, boxes in zip(jobs, alone, strict=True):
        assert _boxes(events, job) == boxes  # same boxes, frame for frame
        ends = [e for e in events if e.job is job and (e.finished or e.error)]
        assert (
            len(ends) == 1
            and ends[0].finished
            and events.index(ends[0])
            > max(i for i, e in enumerate(events) if e.job is job and e.result is not None)
        )
    # two tracks per call while two are active: 6+4+7 frames -> 14 steps in fewer calls
    assert max(backend.batches) == 2 and sum(backend.batches) == 5 + 3 + 6
    assert len(backend.batches) < 14
    # the third track starts only when the second (4 frames) has finished
    order = [
        (e.job, e.finished) for e in events if e.finished or (e.result and e.result.index == 0)
    ]
    assert order.index((jobs[2], False)) > order.index((jobs[1], True))


def test_jobs_are_taken_only_when_a_slot_is_free(scripted):
    made = []

    def jobs():
        for seed in range(3):
            made.append(seed)
            frames, box = _video(3, seed)
            yield TrackJob(frames, bbox=box)

    events = run_tracks(Tracker(scripted(white_blob_oracle), CONFIG), jobs(), batch=1)
    next(events)  # the first track's start
    assert made == [0]


class _FailsOn:
    """A frame source that raises an R1TrackError when frame `bad` is read."""

    def __init__(self, frames, bad):
        self.frames, self.bad = frames, bad

    def __iter__(self):
        for i, frame in enumerate(self.frames):
            if i == self.bad:
                raise R1TrackError(f"frame {i} is unreadable")
            yield frame


def test_a_failing_track_ends_alone_and_the_others_go_on(scripted):
    (frames, box), (other, other_box) = _video(6, 0), _video(6, 1)
    broken = TrackJob(_FailsOn(frames, 3), bbox=box)
    empty = TrackJob([], bbox=box)
    fine = TrackJob(other, bbox=other_box)
    events = list(
        run_tracks(Tracker(scripted(white_blob_oracle), CONFIG), [broken, empty, fine], 3)
    )
    errors = {id(e.job): str(e.error) for e in events if e.error}
    assert errors == {id(broken): "frame 3 is unreadable", id(empty): "no frames"}
    assert len(_boxes(events, broken)) == 3  # frames 0-2, then the failure
    assert len(_boxes(events, fine)) == 6 and any(e.finished and e.job is fine for e in events)


def test_backend_failures_in_a_row_stop_the_loop_after_their_events(scripted):
    def down(request):
        raise BackendError("connection refused")

    jobs = [TrackJob(_video(4, seed)[0], bbox=_video(4, seed)[1]) for seed in range(6)]
    seen = []
    with pytest.raises(BackendDown) as stop:
        for event in run_tracks(Tracker(scripted(down), CONFIG), jobs, batch=2):
            seen.append(event)
    # two per failed call: the second call's failures are yielded, then the loop stops
    failed = [e.job for e in seen if e.error is not None]
    assert failed == jobs[:4] and stop.value.streak == 4
    assert "connection refused" in str(stop.value.last)
    # without a breaker every track is tried and fails alone
    seen = list(run_tracks(Tracker(scripted(down), CONFIG), jobs, 2, max_backend_failures=None))
    assert [e.job for e in seen if e.error is not None] == jobs


def test_track_through_the_loop_counts_answers_once(scripted):
    frames, box = _video(6, 0)
    answers = iter(["[1,2,3]", "no", None, None, None])

    def flaky(request):
        answer = next(answers)
        return white_blob_oracle(request) if answer is None else answer

    results = list(Tracker(scripted(flaky), CONFIG).track(frames, bbox=box))
    counts = AnswerCounts.of(results)
    assert (counts.answers, counts.unparsed, counts.fallbacks) == (5, 2, 2)
    assert counts.by_reason["unparsed"] == 2
    # the records a run writes count the same
    assert AnswerCounts.of(type(r).from_record(r.record()) for r in results) == counts


def test_the_toolkit_interface_init_update_equals_its_track(scripted, tmp_path):
    frames, box = _video(7, 3)
    files = []
    for i, frame in enumerate(frames):
        files.append(tmp_path / f"{i:08d}.png")
        frame.save(files[-1])
    adapter = GOT10kTracker(Tracker(scripted(white_blob_oracle), CONFIG))
    boxes, times = adapter.track([str(f) for f in files], np.asarray(box))
    adapter = GOT10kTracker(Tracker(scripted(white_blob_oracle), CONFIG))
    adapter.init(frames[0], box)
    stepped = [adapter.update(frame) for frame in frames[1:]]
    assert np.allclose(boxes[1:], stepped) and np.allclose(boxes[0], box)
    assert times.shape == (7,) and np.all(times > 0)
    # the boxes move with the target (the loop really stepped)
    assert not np.allclose(boxes[-1], boxes[0])
