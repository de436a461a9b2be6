"""`r1track data build`, `synth`, `import` and `export`: training data from tracking datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from r1track.cli.common import _refuse_non_empty
from r1track.errors import UserError, shorten
from r1track.paths import check_out_dir
from r1track.prompts import LAYOUTS, PROMPT_VARIANTS


def _parse_context_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--context-range {shorten(text)}: expected LOW,HIGH, e.g. 2,8") from None
    return low, high  # SamplingConfig checks the values


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(
            f"--sizes {shorten(text)}: expected integers, e.g. 336 or 112,224,336,448"
        ) from None
    if not sizes:
        raise UserError("--sizes is empty")
    return sizes


# Endings that name a file, not the directory `data build --out` writes a dataset to.
FILE_SUFFIXES = {".txt", ".json", ".jsonl", ".csv", ".parquet", ".arrow", ".zip", ".tar", ".gz"}


def _cmd_data_build(args: argparse.Namespace) -> int:
    from r1track.training.data import BuildConfig, build_dataset
    from r1track.training.sampling import SamplingConfig

    # the configs check the values (a ConfigError names the field; main names its flag)
    config = BuildConfig(
        dataset=args.dataset,
        root=args.root,
        split=args.split,
        num_samples=args.num_samples,
        prompt=args.prompt,
        think=args.think,
        layout=args.layout,
        val_fraction=args.val_fraction,
        seed=args.seed,
        sampling=SamplingConfig(
            sizes=_parse_sizes(args.sizes),
            images=args.images,
            max_gap=args.max_gap,
            context_range=_parse_context_range(args.context_range),
            jitter=args.jitter,
            template_jitter=args.template_jitter,
            template_context=args.template_context,
            coord_tint=args.coord_tint,
            resize=args.resize,
            absent_rate=args.absent_rate,
            paste_rate=args.paste_rate,
            grounding_rate=args.grounding_rate,
            grounding_factor=args.grounding_factor,
            grounding_pixels=args.grounding_pixels,
            grounding_windows=args.grounding_windows,
        ),
        grounding_root=args.grounding_root,
        tracker_run=args.tracker_run,
        image_format=args.image_format,
    )
    out = check_out_dir(args.out, "--out")
    if out.suffix.lower() in FILE_SUFFIXES:
        raise UserError(f"--out {out}: names a file; give a directory for the dataset")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out}: exists and is not empty")
    info = build_dataset(config, out, workers=args.workers)
    for split, stats in info["stats"].items():
        drops = ", ".join(f"{k} {v}" for k, v in sorted(stats["drops"].items())) or "none"
        print(f"{split}: {stats['made']} samples; rejected draws: {drops}", file=sys.stderr)
    print(f"wrote {out}/ (load with datasets.load_from_disk)", file=sys.stderr)
    if args.format == "easyr1":
        _export_easyr1(out, out / "easyr1")
    return 0


def _export_easyr1(dataset: Path, out: Path) -> None:
    from r1track.training.formats import export_easyr1

    written = export_easyr1(dataset, out)
    counts = ", ".join(f"{split} {n}" for split, n in written.items())
    print(f"wrote {out}/<split>.parquet in EasyR1's format ({counts} rows)", file=sys.stderr)


def _cmd_data_import(args: argparse.Namespace) -> int:
    from r1track.training.formats import import_dataset

    out = check_out_dir(args.out, "--out")
    _refuse_non_empty(out, "--out", "use another --out or remove it")
    info = import_dataset(
        args.format, args.src, out, args.val_fraction, images_root=args.images_root, seed=args.seed
    )
    made = ", ".join(f"{split} {stats['made']}" for split, stats in info["stats"].items())
    dropped = "; ".join(f"{why} ({n})" for why, n in info["dropped"].items()) or "none"
    print(f"imported {made} rows; dropped: {dropped}", file=sys.stderr)
    print(f"wrote {out}/ (train with data.path={out})", file=sys.stderr)
    return 0


def _cmd_data_export(args: argparse.Namespace) -> int:
    out = check_out_dir(args.out, "--out")
    _refuse_non_empty(out, "--out", "use another --out or remove it")
    _export_easyr1(Path(args.dataset), out)
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from r1track.datasets.synth import SynthConfig, write_synth

    config = SynthConfig(**{f.name: getattr(args, f.name) for f in fields(SynthConfig)})
    out = check_out_dir(args.out, "--out")
    _refuse_non_empty(out / args.split, "--out", "use another --out or --split, or remove it")
    names = write_synth(args.out, args.split, args.num_seqs, args.seed, config)
    print(f"wrote {len(names)} sequences to {Path(args.out) / args.split}/", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add this group's commands and their arguments to `r1track`'s subcommands."""
    from r1track.geometry import IMAGE_FORMATS, RESIZE_METHODS

    data = commands.add_parser("data", help="training data from tracking datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="TOOL")
    build = data_commands.add_parser("build", help="sample crops pairs into a HF dataset for TRL")
    build.add_argument("--dataset", choices=("got10k", "lasot", "trackingnet"), required=True)
    build.add_argument("--root", required=True, help="dataset root folder")
    build.add_argument("--split", default="train")
    build.add_argument("--out", required=True, help="output dataset directory")
    build.add_argument("--num-samples", type=int, required=True)
    build.add_argument("--sizes", default="336", help="crop sizes, e.g. 336 or 112,224,336,448")
    build.add_argument("--images", type=int, choices=(2, 3), default=2, help="3: two templates")
    build.add_argument("--prompt", choices=PROMPT_VARIANTS, default="5k")
    build.add_argument("--think", action="store_true", help="think prompt and <answer> targets")
    build.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="r1track",
        help="message layout of the rows (r1track; see docs/fidelity.md)",
    )
    build.add_argument(
        "--val-fraction", type=float, default=0.05, help="share of sequences held out"
    )
    build.add_argument(
        "--max-gap", type=int, default=100, help="max frames from template to search"
    )
    build.add_argument(
        "--context-range",
        default="2,8",
        help="each crop's context factor is drawn from U(LOW, HIGH) (reference: 2,8)",
    )
    build.add_argument(
        "--jitter", type=float, default=0.2, help="crop centre jitter, x crop side (reference: 0.2)"
    )
    build.add_argument(
        "--template-jitter",
        type=float,
        help="template crops' jitter (default: --jitter); 0 for a box-free prompt such as nano",
    )
    build.add_argument(
        "--template-context",
        type=float,
        help="template crops' context factor (default: drawn from --context-range); fixed at the"
        " tracker's with a wide --context-range, answer sizes must be read from the search crops",
    )
    build.add_argument(
        "--coord-tint",
        type=float,
        default=0.0,
        help="blend a coordinate ramp into every crop (r1track-nano; reference: 0)",
    )
    build.add_argument(
        "--resize",
        choices=RESIZE_METHODS,
        default="cv2",
        help="crop resampling: cv2 (OpenCV INTER_LINEAR, as R1-Track's data) or pil (antialiased,"
        " as r1track-nano's) (cv2)",
    )
    build.add_argument(
        "--absent-rate",
        type=float,
        default=0.0,
        help="share of samples whose search crop shows no target, answered [] (half from frames"
        " where it is absent or fully covered, half from crops that miss it) (0)",
    )
    build.add_argument(
        "--paste-rate",
        type=float,
        default=0.0,
        help="share of tracking samples with another sequence's target pasted into the search"
        " crop, half of them answered with it under its own template, so that only the template"
        " says which object to answer (r1track-nano; 0)",
    )
    build.add_argument(
        "--grounding-rate",
        type=float,
        default=0.0,
        help="share of samples that teach text initialisation: a whole frame, the sequence's"
        " description, the box (docs/training.md) (0)",
    )
    build.add_argument(
        "--grounding-factor",
        type=int,
        default=28,
        help="grounding images: sides in multiples of the patch x merge size (28; nano 112)",
    )
    build.add_argument(
        "--grounding-pixels",
        type=int,
        default=28 * 28 * 1280,
        help="grounding images: at most this many pixels, the tracker's grounding_max_pixels"
        " (1003520; nano 12544)",
    )
    build.add_argument(
        "--grounding-windows",
        type=int,
        default=0,
        help="grounding samples: one of at most N windows of the frame (search crops at several"
        " scales, at --template-context), the box where the target is at its centre, else the"
        " absent answer, as `--grounding-windows N` tracks (0: the whole frame)",
    )
    build.add_argument(
        "--grounding-root",
        default=None,
        help="draw grounding samples from this root's sequences (same --dataset and --split)"
        " instead of --root's: scenes whose descriptions name one object each (default: --root)",
    )
    build.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        default="jpeg",
        help="stored crops: jpeg (quality 95, as R1-Track's data) or png (lossless) (jpeg)",
    )
    build.add_argument(
        "--tracker-run",
        help="an `r1track eval` run on this dataset and split: on-policy pairs (template = frame 0,"
        " search crop centred on the run's previous box)",
    )
    build.add_argument("--workers", type=int, default=1)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument(
        "--format",
        choices=("hf", "easyr1"),
        default="hf",
        help="easyr1: also write OUT/easyr1/<split>.parquet (images, problem, answer) for EasyR1",
    )
    build.set_defaults(func=_cmd_data_build)

    imp = data_commands.add_parser(
        "import", help="the released R1-Track data (EasyR1 parquet, ShareGPT) as training data"
    )
    imp.add_argument("--format", choices=("easyr1", "sharegpt"), required=True)
    imp.add_argument(
        "--src", required=True, help="parquet file or folder (easyr1), JSON (sharegpt)"
    )
    imp.add_argument("--out", required=True, help="output dataset directory")
    imp.add_argument("--images-root", help="sharegpt: folder image paths are relative to")
    imp.add_argument(
        "--val-fraction", type=float, default=0.0, help="share of rows held out (seeded)"
    )
    imp.add_argument("--seed", type=int, default=0)
    imp.set_defaults(func=_cmd_data_import)
    exp = data_commands.add_parser("export", help="a data build dataset as EasyR1 parquet")
    exp.add_argument("dataset", help="a dataset written by r1track data build / import")
    exp.add_argument("--out", required=True, help="output folder: <split>.parquet")
    exp.set_defaults(func=_cmd_data_export)

    from r1track.datasets.synth import SynthConfig

    synth = data_commands.add_parser("synth", help="procedural sequences in the GOT-10k layout")
    synth.add_argument("--out", required=True, help="dataset root (ROOT/<split>/...)")
    synth.add_argument("--split", choices=("train", "val", "test"), default="train")
    synth.add_argument("--num-seqs", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    defaults = SynthConfig()
    for name, kind, text in (
        ("width", int, "frame width"),
        ("height", int, "frame height"),
        ("min_length", int, "shortest sequence"),
        ("max_length", int, "longest sequence"),
        ("distractors", int, "look-alikes per sequence, at most"),
        ("occluders", int, "occluding bars per sequence, at most"),
        ("clutter", float, "background clutter 0..1"),
        ("max_speed", float, "pixels per frame"),
        ("scale_change", float, "relative size change"),
        ("out_of_view", float, "probability of leaving the view"),
        ("illumination", float, "brightness drift amplitude"),
        (
            "vanish",
            int,
            "vanishings (exit or full occlusion) per sequence, each reappearing far"
            " away; in place of --out-of-view",
        ),
        ("vanish_min", int, "fewest invisible frames of a vanishing"),
        ("vanish_max", int, "most invisible frames of a vanishing"),
        ("size_min", float, "smallest target side, a fraction of the frame's shorter side"),
        ("size_max", float, "largest target side, a fraction of the frame's shorter side"),
        ("aspect_max", float, "when > 1: width/height log-uniform in 1/A..A (0: w, h apart)"),
        (
            "photos",
            str,
            "a folder of photographs: backgrounds, targets, look-alikes and occluders cut from"
            " them (default: procedural textures; docs/nano.md)",
        ),
        ("photo_rate", float, "with --photos: the share of sequences made of photographs"),
        ("blur", float, "largest Gaussian blur radius in pixels, per sequence"),
        ("shake", float, "hand-held camera: spread of a per-frame offset in pixels"),
    ):
        synth.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=getattr(defaults, name),
            help=f"{text} (default {getattr(defaults, name)})",
        )
    synth.set_defaults(func=_cmd_data_synth)
