"""`r1track dev tiny-model`, `bundle`, `widen` and `synth-video`: developer tools."""

from __future__ import annotations

import argparse
from pathlib import Path

from r1track.cli.common import _add_setting_flags, _refuse_non_empty, _setting_flags
from r1track.errors import UserError
from r1track.paths import check_out_dir, check_out_file


def _cmd_tiny_model(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from r1track.dev.tiny_model import SIZES, build_tiny_model

    check_out_dir(args.dir, "dev tiny-model DIR")
    _refuse_non_empty(Path(args.dir), "dev tiny-model DIR", "use another DIR or remove it")
    out = build_tiny_model(args.dir, replace(SIZES[args.size], seed=args.seed))
    print(f"wrote a tiny random Qwen2.5-VL checkpoint to {out}/ (untrained: its answers are noise)")
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from r1track.models import SETTINGS_FILE, bundle_checkpoint, read_settings
    from r1track.tracking import TrackerConfig

    # The checkpoint's own settings (train writes them from its data), with the flags over them;
    # the geometry has no default worth guessing for a model r1track did not train.
    flags = _setting_flags(args)
    own = read_settings(args.checkpoint)
    missing = [k for k in ("crop_size", "context") if flags[k] is None and k not in own]
    if missing:
        needed = " and ".join("--" + k.replace("_", "-") for k in missing)
        raise UserError(f"{args.checkpoint} has no {SETTINGS_FILE} that gives them: {needed}")
    config = TrackerConfig.for_checkpoint(args.checkpoint, **flags)
    check_out_dir(args.out, "output directory")
    out = bundle_checkpoint(args.checkpoint, args.out, **config.settings())
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"wrote {out}/ ({size:.1f} MB) with its tracking settings")
    return 0


def _cmd_widen(args: argparse.Namespace) -> int:
    from r1track.models import bundle_checkpoint, read_settings

    if args.factor < 2:
        raise UserError(f"--factor must be 2 or more, got {args.factor}")
    if not 0 <= args.noise <= 1:
        raise UserError(f"--noise must be in 0..1, got {args.noise}")
    check_out_dir(args.out, "output directory")
    out = bundle_checkpoint(args.checkpoint, args.out, **read_settings(args.checkpoint))
    from transformers import Qwen2_5_VLForConditionalGeneration

    from r1track.models.widen import widen_vision

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(out)
    before = model.config.vision_config.hidden_size
    try:
        widen_vision(model, args.factor, args.noise, args.seed)
    except ValueError as err:  # a tower this module has no rule for
        raise UserError(f"{args.checkpoint}: {err}") from None
    model.save_pretrained(out)
    width = model.config.vision_config.hidden_size
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"wrote {out}/: vision tower {before} -> {width} wide, {millions:.1f}M parameters")
    return 0


# Containers `dev synth-video` writes (PyAV picks the format from the ending).
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm"}


def _cmd_synth_video(args: argparse.Namespace) -> int:
    from r1track.dev.synth_video import write_synth_video

    if args.frames < 1 or args.width < 32 or args.height < 32:
        raise UserError("need --frames >= 1 and --width/--height >= 32")
    check_out_file(args.out, "output video", VIDEO_SUFFIXES)
    video, gt = write_synth_video(
        args.out, args.frames, args.width, args.height, args.seed, kind=args.kind
    )
    first = gt.read_text().splitlines()[0]
    print(f"wrote {video} ({args.frames} frames) and {gt}; first box x,y,w,h = {first}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add this group's commands and their arguments to `r1track`'s subcommands."""
    dev = commands.add_parser("dev", help="developer tools: tiny model, synthetic video")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True, metavar="TOOL")
    tiny = dev_commands.add_parser("tiny-model", help="write a tiny random Qwen2.5-VL checkpoint")
    tiny.add_argument("dir", help="output directory")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument(
        "--size",
        choices=("tiny", "small", "nano"),
        default="tiny",
        help="small: 27M parameters (speed measurements); nano: 7.4M (r1track-nano's start)",
    )
    tiny.set_defaults(func=_cmd_tiny_model)
    bundle = dev_commands.add_parser(
        "bundle",
        help="copy a trained checkpoint with its tracking settings (its own, flags over them)",
    )
    bundle.add_argument("checkpoint", help="trained checkpoint directory")
    bundle.add_argument("out", help="output directory (replaced)")
    _add_setting_flags(bundle)
    bundle.set_defaults(func=_cmd_bundle)
    widen = dev_commands.add_parser(
        "widen",
        help="copy a checkpoint with its vision tower widened, computing the same (Net2Net)",
    )
    widen.add_argument("checkpoint", help="checkpoint directory")
    widen.add_argument("out", help="output directory (replaced if an earlier bundle)")
    widen.add_argument("--factor", type=int, default=2, help="copies of every tower unit")
    widen.add_argument(
        "--noise",
        type=float,
        default=0.01,
        help="Gaussian added to the widened weights, a share of each weight's spread (0: exact)",
    )
    widen.add_argument("--seed", type=int, default=0, help="seed of the noise")
    widen.set_defaults(func=_cmd_widen)
    synth = dev_commands.add_parser("synth-video", help="write a synthetic video with ground truth")
    synth.add_argument("out", help="output video path, e.g. demo.mp4")
    synth.add_argument("--frames", type=int, default=48)
    synth.add_argument("--width", type=int, default=640)
    synth.add_argument("--height", type=int, default=360)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--kind",
        choices=("simple", "dataset"),
        default="simple",
        help="dataset: a `data synth` scene (clutter, a look-alike), as nano is trained on",
    )
    # --kind dataset: a SynthConfig's sequence lengths are --frames (its ConfigError, that flag)
    frames = {"min_length": "--frames", "max_length": "--frames"}
    synth.set_defaults(func=_cmd_synth_video, field_flags=frames)
