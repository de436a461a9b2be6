"""`r1track track`: one object through a video or image folder."""

from __future__ import annotations

import argparse
import itertools
import sys
import time

from r1track.cli.common import (
    _add_model_args,
    _backend,
    _check_model_args,
    _notice_guessed_settings,
    _parse_bbox,
    _resolve_model,
    _tracker_config,
)
from r1track.errors import UserError, shorten
from r1track.interrupts import Terminated
from r1track.paths import check_out_dir


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from r1track.interrupts import sigterm_raises
    from r1track.outputs import TrackWriter
    from r1track.tracking.loop import TrackJob, run_tracks
    from r1track.tracking.steps import check_init_box
    from r1track.tracking.tracker import Tracker
    from r1track.tracking.types import AnswerCounts
    from r1track.video import open_frames

    bbox = _parse_bbox(args.bbox) if args.bbox is not None else None
    if args.text is not None and not args.text.strip():
        raise UserError("--text is empty")
    out = check_out_dir(args.out, "--out")
    _check_model_args(args)
    _resolve_model(args)
    config = _tracker_config(args)
    # Everything cheap is checked before the model loads and before anything is written.
    source = open_frames(args.source)
    frames = iter(source)
    first = next(frames, None)
    if first is None:
        raise UserError(f"{args.source}: contains no frames")
    if bbox is not None:
        try:
            check_init_box(bbox, first.size)
        except UserError as exc:
            raise UserError(f"--bbox: {exc}") from None
    backend = _backend(args)
    tracker = Tracker(backend, config)
    _notice_guessed_settings(args)
    job = TrackJob(itertools.chain([first], frames), bbox=bbox, text=args.text)
    counts = AnswerCounts()
    writer = bar = None  # made once the track has started: a failed grounding writes nothing
    stopped = None  # (what stopped the run, exit code)
    with sigterm_raises():  # SIGTERM goes through `finally` too: a playable overlay
        try:
            for event in run_tracks(tracker, [job]):
                if event.error is not None:
                    raise event.error
                if event.result is None:
                    continue
                if writer is None:
                    if args.text is not None:
                        box = ",".join(f"{v:.1f}" for v in event.result.box)
                        print(f"grounded {shorten(args.text)} at x,y,w,h = {box}", file=sys.stderr)
                    t0 = time.perf_counter()
                    writer = TrackWriter(out, fps=source.fps, overlay=not args.no_overlay)
                    bar = tqdm(
                        total=source.num_frames, unit="frame", desc="tracking", file=sys.stderr
                    )
                writer.write(event.frame, event.result)
                counts.add(event.result)
                bar.update()  # type: ignore[union-attr]
        except KeyboardInterrupt:
            stopped = ("interrupted", 130)
        except Terminated:
            stopped = ("terminated", Terminated.exit_code)
        finally:
            if writer is not None:
                bar.close()
                writer.close()
            backend.close()
    if stopped:
        where = f"after {writer.frames} frames; they are in {out}/" if writer else "on frame 0"
        print(f"r1track: {stopped[0]} {where}", file=sys.stderr)
        return stopped[1]
    assert writer is not None  # the loop yields the first frame's result or raises
    elapsed = time.perf_counter() - t0
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.by_reason.items()) if v)
    print(
        f"tracked {writer.frames} frames in {elapsed:.1f} s "
        f"({writer.frames / max(elapsed, 1e-9):.1f} frames/s); "
        f"{counts.fallbacks} of {counts.answers} answers unusable"
        + (f" ({detail})" if detail else "")
        + (f"; re-detected on {counts.redetected}" if counts.redetected else "")
        + f"; results in {out}/",
        file=sys.stderr,
    )
    short = source.ended_early()
    if short:
        print(f"r1track: warning: {short}; results cover the frames decoded", file=sys.stderr)
    if counts.answers and counts.fallbacks == counts.answers:
        print(
            "r1track: warning: no model answer was usable; the box never moved. Check that "
            "--prompt/--think match the checkpoint (or: this is an untrained model).",
            file=sys.stderr,
        )
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add this group's commands and their arguments to `r1track`'s subcommands."""
    track = commands.add_parser("track", help="track one object through a video or image folder")
    track.add_argument("source", help="video file (mp4, avi, mkv, ...) or folder of frames")
    init = track.add_mutually_exclusive_group(required=True)
    init.add_argument("--bbox", help="initial box X,Y,W,H in first-frame pixels")
    init.add_argument("--text", help="describe the target; the model finds it on the first frame")
    _add_model_args(track)
    track.add_argument("--out", required=True, help="output directory")
    track.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    track.set_defaults(func=_cmd_track)
