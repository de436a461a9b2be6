"""`r1track track`: one or several objects through a video or image folder.

Each `--bbox` / `--text` is an object (`ID=` before the value names it); all of them are tracked in
one pass, each frame decoded once and all objects' requests in one batched model call
(`tracking/objects.py`). One object writes boxes.txt, track.jsonl and overlay.mp4 in --out;
several write `<id>/boxes.txt` and `<id>/track.jsonl` per object and one overlay.mp4 of all.
"""

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
    _resolve_model,
    _tracker_config,
)
from r1track.errors import UserError, shorten
from r1track.interrupts import Terminated
from r1track.paths import check_out_dir
from r1track.tracking.objects import MAX_OBJECTS


def _targets(given: list[tuple[str, str]] | None, first_size: tuple[int, int]):
    """`--bbox` / `--text` values, in the order given, as `Target`s: `ID=` before a value names
    the object (else its place, 1, 2, ...); boxes are checked against the first frame."""
    from r1track.tracking.objects import ID_PATTERN, Target
    from r1track.tracking.steps import check_init_box, parse_xywh

    targets = []
    for n, (kind, raw) in enumerate(given or [], start=1):
        name, sep, value = raw.partition("=")
        named = bool(sep and ID_PATTERN.fullmatch(name))
        if not named:
            name, value = str(n), raw
        flag = f"--{kind} {name}" if named else f"--{kind}"
        if kind == "text":
            if not value.strip():
                raise UserError(f"{flag}: the description is empty")
            targets.append(Target(name, text=value))
            continue
        box = parse_xywh(value, "--bbox")
        try:
            check_init_box(box, first_size)
        except UserError as exc:
            raise UserError(f"{flag}: {exc}") from None
        targets.append(Target(name, bbox=box))
    return targets


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from r1track.interrupts import sigterm_raises
    from r1track.outputs import ObjectsWriter
    from r1track.tracking.objects import check_targets, run_objects
    from r1track.tracking.tracker import Tracker
    from r1track.tracking.types import AnswerCounts
    from r1track.video import open_frames

    if not args.targets:
        raise UserError("give the object to track: --bbox X,Y,W,H or --text DESCRIPTION")
    if args.max_objects < 1:
        raise UserError(f"--max-objects must be at least 1, got {args.max_objects}")
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
    targets = _targets(args.targets, first.size)
    check_targets(targets, args.max_objects)
    backend = _backend(args)
    tracker = Tracker(backend, config)
    _notice_guessed_settings(args)
    counts = {t.id: AnswerCounts() for t in targets}
    writer = bar = None  # made once every track has started: a failed grounding writes nothing
    stopped = None  # (what stopped the run, exit code)
    with sigterm_raises():  # SIGTERM goes through `finally` too: a playable overlay
        try:
            for step in run_objects(tracker, itertools.chain([first], frames), targets):
                if writer is None:
                    for t in targets:
                        if t.text is not None:
                            box = ",".join(f"{v:.1f}" for v in step.results[t.id].box)
                            who = f"object {t.id}: " if len(targets) > 1 else ""
                            print(
                                f"{who}grounded {shorten(t.text)} at x,y,w,h = {box}",
                                file=sys.stderr,
                            )
                    t0 = time.perf_counter()
                    writer = ObjectsWriter(
                        out, [t.id for t in targets], fps=source.fps, overlay=not args.no_overlay
                    )
                    bar = tqdm(
                        total=source.num_frames, unit="frame", desc="tracking", file=sys.stderr
                    )
                writer.write(step.frame, step.results)
                for object_id, result in step.results.items():
                    counts[object_id].add(result)
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
    assert writer is not None  # the loop yields the first frame's results or raises
    elapsed = time.perf_counter() - t0
    _summary(writer.frames, elapsed, counts, out)
    short = source.ended_early()
    if short:
        print(f"r1track: warning: {short}; results cover the frames decoded", file=sys.stderr)
    if all(c.answers and c.fallbacks == c.answers for c in counts.values()):
        print(
            "r1track: warning: no model answer was usable; the box never moved. Check that "
            "--prompt/--think match the checkpoint (or: this is an untrained model).",
            file=sys.stderr,
        )
    return 0


def _summary(frames: int, elapsed: float, counts: dict, out) -> None:
    """The closing lines: frames, speed, and each object's unusable answers."""

    def answers(c) -> str:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(c.by_reason.items()) if v)
        return (
            f"{c.fallbacks} of {c.answers} answers unusable"
            + (f" ({detail})" if detail else "")
            + (f"; re-detected on {c.redetected}" if c.redetected else "")
        )

    rate = frames / max(elapsed, 1e-9)
    if len(counts) == 1:
        (c,) = counts.values()
        print(
            f"tracked {frames} frames in {elapsed:.1f} s ({rate:.1f} frames/s); "
            f"{answers(c)}; results in {out}/",
            file=sys.stderr,
        )
        return
    print(
        f"tracked {len(counts)} objects through {frames} frames in {elapsed:.1f} s "
        f"({rate:.1f} frames/s, {rate * len(counts):.1f} object-frames/s); results in {out}/",
        file=sys.stderr,
    )
    for object_id, c in counts.items():
        print(f"  object {object_id}: {answers(c)}", file=sys.stderr)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add this group's commands and their arguments to `r1track`'s subcommands."""
    track = commands.add_parser(
        "track", help="track one or several objects through a video or image folder"
    )
    track.add_argument("source", help="video file (mp4, avi, mkv, ...) or folder of frames")
    track.add_argument(
        "--bbox",
        dest="targets",
        action="append",
        type=lambda v: ("bbox", v),
        help="initial box [ID=]X,Y,W,H in first-frame pixels; repeat for several objects",
    )
    track.add_argument(
        "--text",
        dest="targets",
        action="append",
        type=lambda v: ("text", v),
        help="[ID=]description of a target, found on the first frame; repeatable, mixable "
        "with --bbox (ids default to 1, 2, ... in the order given)",
    )
    track.add_argument(
        "--max-objects",
        type=int,
        default=MAX_OBJECTS,
        help=f"refuse more objects than this (default: {MAX_OBJECTS})",
    )
    _add_model_args(track)
    track.add_argument("--out", required=True, help="output directory")
    track.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    track.set_defaults(func=_cmd_track)
