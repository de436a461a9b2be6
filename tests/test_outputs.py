"""Writing a track to disk: every finished frame in all three outputs, even on Ctrl-C."""

from __future__ import annotations

import os

import pytest

from helpers import outputs_agree


class _SignallingStream:
    """Wraps a PyAV video stream: sends this process `signum` around its next `encode` call."""

    def __init__(self, stream, signum: int, when: str):
        self.stream, self.signum, self.when = stream, signum, when

    def encode(self, frame):
        when, self.when = self.when, None  # once
        if when == "before":
            os.kill(os.getpid(), self.signum)
        packets = self.stream.encode(frame)
        if when == "after":
            os.kill(os.getpid(), self.signum)
        return packets

    def __getattr__(self, name):
        return getattr(self.stream, name)


@pytest.mark.parametrize("when", ["before", "after"])
def test_ctrl_c_inside_the_overlay_encoder_finishes_that_frame_everywhere(
    synth_video, tmp_path, when
):
    """SIGINT while a frame is being encoded: that frame still gets its boxes.txt line, its
    track.jsonl record and its overlay frame, then KeyboardInterrupt; the count agrees."""
    import signal

    from r1track.outputs import TrackWriter
    from r1track.tracking import FrameResult
    from r1track.video import open_frames

    video, boxes = synth_video
    frames = list(open_frames(video))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    writer = TrackWriter(tmp_path, fps=25.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            for i, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
                if i == 3:
                    overlay = writer._overlay
                    overlay._stream = _SignallingStream(overlay._stream, signal.SIGINT, when)
                writer.write(frame, FrameResult(i, box, answer=f"a{i}"))
    finally:
        signal.signal(signal.SIGINT, previous)
        writer.close()
    assert writer.frames == 4
    assert outputs_agree(tmp_path) == 4


def test_a_record_has_likeness_only_when_the_check_is_on():
    """With `min_likeness` off, track.jsonl records are what they were before it existed."""
    from r1track.tracking.types import FrameResult

    off = FrameResult(index=3, box=(1.0, 2.0, 3.0, 4.0)).record()
    on = FrameResult(index=3, box=(1.0, 2.0, 3.0, 4.0), likeness=0.912345).record()
    assert "likeness" not in off and on["likeness"] == 0.9123
    assert FrameResult.from_record(on).likeness == 0.9123
    assert FrameResult.from_record(off).likeness is None
