"""The `r1track` command line: parses, calls the library, prints.

Expected user errors print one line on stderr and exit with code 2; other known failures
(a server that stays down, grounding that finds nothing) one line and code 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from r1track.errors import R1TrackError, UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UserError(f"--bbox {text!r}: expected four numbers X,Y,W,H") from None
    if len(values) != 4:
        raise UserError(f"--bbox {text!r}: expected four numbers X,Y,W,H, got {len(values)}")
    return values  # type: ignore[return-value]


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from r1track.backends import BACKENDS

    p.add_argument(
        "--model",
        required=True,
        help="checkpoint directory or Hub id (hf), or served model name (openai)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="hf",
        help="hf: in-process transformers; openai: a server",
    )
    p.add_argument("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument(
        "--device", default="auto", help="hf backend: cpu, cuda, cuda:1, ... (default: auto)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="openai backend: seconds per request"
    )
    p.add_argument(
        "--max-pixels", type=int, help="openai backend: the server processor's max_pixels"
    )
    p.add_argument(
        "--prompt",
        choices=("5k", "100k"),
        default="5k",
        help="prompt the checkpoint was trained on",
    )
    p.add_argument(
        "--think", action="store_true", help="think checkpoints: ask for <think> and <answer>"
    )
    p.add_argument(
        "--crop-size", type=int, default=336, help="template and search crop side (multiple of 28)"
    )
    p.add_argument(
        "--context", type=float, default=4.0, help="crop side / sqrt(box area), template and search"
    )


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from r1track.backends import load_backend
    from r1track.outputs import TrackWriter
    from r1track.tracker import Tracker, TrackerConfig, check_init_box
    from r1track.video import open_frames

    bbox = _parse_bbox(args.bbox) if args.bbox is not None else None
    if args.text is not None and not args.text.strip():
        raise UserError("--text is empty")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    config = TrackerConfig(
        crop_size=args.crop_size,
        template_factor=args.context,
        search_factor=args.context,
        prompt=args.prompt,
        think=args.think,
    )
    # Everything cheap is checked before the model loads and before anything is written.
    source = open_frames(args.source)
    frames = iter(source)
    first = next(frames, None)
    if first is None:
        raise UserError(f"{args.source}: contains no frames")
    if bbox is not None:
        check_init_box(bbox, first.size)
    backend = load_backend(
        args.backend,
        args.model,
        base_url=args.base_url,
        device=args.device,
        timeout=args.timeout,
        max_pixels=args.max_pixels,
    )
    tracker = Tracker(backend, config)
    state, result = tracker.start(first, bbox=bbox, text=args.text)
    if args.text is not None:
        box = ",".join(f"{v:.1f}" for v in result.box)
        print(f"grounded {args.text!r} at x,y,w,h = {box}", file=sys.stderr)

    reasons: Counter[str] = Counter()
    t0 = time.perf_counter()
    writer = TrackWriter(out, fps=source.fps, overlay=not args.no_overlay)
    bar = tqdm(total=source.num_frames, unit="frame", desc="tracking", file=sys.stderr)
    try:
        writer.write(first, result)
        bar.update()
        for frame in frames:
            result = tracker.step(state, frame)
            writer.write(frame, result)
            reasons[result.fallback or "ok"] += 1
            bar.update()
    except KeyboardInterrupt:
        print(
            f"r1track: interrupted after {writer.frames} frames; they are in {out}/",
            file=sys.stderr,
        )
        return 130
    finally:
        bar.close()
        writer.close()
        backend.close()
    elapsed = time.perf_counter() - t0
    answered = sum(reasons.values())
    fallbacks = answered - reasons["ok"]
    detail = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()) if k != "ok")
    print(
        f"tracked {writer.frames} frames in {elapsed:.1f} s "
        f"({writer.frames / max(elapsed, 1e-9):.1f} frames/s); "
        f"{fallbacks} of {answered} answers unusable"
        + (f" ({detail})" if detail else "")
        + f"; results in {out}/",
        file=sys.stderr,
    )
    if answered and fallbacks == answered:
        print(
            "r1track: warning: no model answer was usable; the box never moved. Check that "
            "--prompt/--think match the checkpoint (or: this is an untrained model).",
            file=sys.stderr,
        )
    return 0


def _cmd_tiny_model(args: argparse.Namespace) -> int:
    from r1track.dev.tiny_model import TinyModelConfig, build_tiny_model

    out = build_tiny_model(args.dir, TinyModelConfig(seed=args.seed))
    print(f"wrote a tiny random Qwen2.5-VL checkpoint to {out}/ (untrained: its answers are noise)")
    return 0


def _cmd_synth_video(args: argparse.Namespace) -> int:
    from r1track.dev.synth_video import write_synth_video

    if args.frames < 1 or args.width < 32 or args.height < 32:
        raise UserError("need --frames >= 1 and --width/--height >= 32")
    video, gt = write_synth_video(args.out, args.frames, args.width, args.height, args.seed)
    first = gt.read_text().splitlines()[0]
    print(f"wrote {video} ({args.frames} frames) and {gt}; first box x,y,w,h = {first}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="r1track", description="Visual object tracking with a multimodal LLM.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    track = commands.add_parser("track", help="track one object through a video or image folder")
    track.add_argument("source", help="video file (mp4, avi, mkv, ...) or folder of frames")
    init = track.add_mutually_exclusive_group(required=True)
    init.add_argument("--bbox", help="initial box X,Y,W,H in first-frame pixels")
    init.add_argument("--text", help="describe the target; the model finds it on the first frame")
    _add_model_args(track)
    track.add_argument("--out", required=True, help="output directory")
    track.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    track.set_defaults(func=_cmd_track)

    dev = commands.add_parser("dev", help="developer tools: tiny model, synthetic video")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True, metavar="TOOL")
    tiny = dev_commands.add_parser("tiny-model", help="write a tiny random Qwen2.5-VL checkpoint")
    tiny.add_argument("dir", help="output directory")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=_cmd_tiny_model)
    synth = dev_commands.add_parser("synth-video", help="write a synthetic video with ground truth")
    synth.add_argument("out", help="output video path, e.g. demo.mp4")
    synth.add_argument("--frames", type=int, default=48)
    synth.add_argument("--width", type=int, default=640)
    synth.add_argument("--height", type=int, default=360)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_cmd_synth_video)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"r1track: error: {exc}", file=sys.stderr)
        return 2
    except R1TrackError as exc:
        print(f"r1track: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("r1track: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
