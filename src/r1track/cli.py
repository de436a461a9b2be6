"""The `r1track` command line: parses, calls the library, prints.

Expected user errors print one line on stderr and exit with code 2; other known failures
(a server that stays down, grounding that finds nothing) one line and code 1.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

from r1track.errors import R1TrackError, UserError, shorten
from r1track.interrupts import Terminated
from r1track.paths import check_out_dir, check_out_file
from r1track.prompts import LAYOUTS, PROMPT_VARIANTS

_NEGATIVE_LIST = re.compile(r"^-\d[\d.eE+-]*(,[\d.eE+ -]*)+$")  # -10,-5,40,30


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        if len(message) > 200:  # argparse echoes what was typed (a pasted page, say)
            message = message[:200] + "..."
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


# Qwen-VL's processors resize every image to sides that are multiples of 28 (patch 14 x merge 2):
# an image budget below one such square cannot hold an image.
MIN_MAX_PIXELS = 28 * 28
# Tracker settings (TrackerConfig fields) and the flag, or r1track_tracker.json key, of each.
SETTING_KEYS = {"template_factor": "context", "search_factor": "context"}


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    if "" in parts and len(parts) > 1:
        raise UserError(f"--bbox {shorten(text)}: an empty field; expected X,Y,W,H")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UserError(f"--bbox {shorten(text)}: expected four numbers X,Y,W,H") from None
    if len(values) != 4:
        raise UserError(f"--bbox {shorten(text)}: expected four numbers X,Y,W,H, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise UserError(f"--bbox {shorten(text)}: expected four finite numbers X,Y,W,H")
    return values  # type: ignore[return-value]


def _check_model_args(args: argparse.Namespace) -> None:
    """Model flags the library would only trip over later (after writing the first frame, or
    as a ZeroDivisionError): refused up front, naming the flag."""
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.max_pixels is not None and args.max_pixels < MIN_MAX_PIXELS:
        raise UserError(
            f"--max-pixels must be at least {MIN_MAX_PIXELS} (one 28x28 image patch), "
            f"got {args.max_pixels}"
        )
    if args.backend == "hf":
        from r1track.backends.hf import check_device

        check_device(args.device)


def _setting_message(exc: UserError, args: argparse.Namespace) -> str:
    """A tracker setting's error in the user's terms: the flag that set the value, or the
    checkpoint's r1track_tracker.json when the value came from there (not a field name)."""
    from r1track.tracker import SettingError

    if not isinstance(exc, SettingError):
        return str(exc)
    key = SETTING_KEYS.get(exc.field, exc.field)
    model = getattr(args, "model", None)
    if getattr(args, key, None) is None and model and getattr(args, "backend", None) == "hf":
        from r1track.models import SETTINGS_FILE, read_settings

        if key in read_settings(model):
            return f"{Path(model) / SETTINGS_FILE}: {exc}"
    return f"--{key.replace('_', '-')} {exc.rule}"


def _add_model_args(p: argparse.ArgumentParser, baseline: bool = False) -> None:
    from r1track.backends import BACKENDS
    from r1track.backends.openai_api import SERVER_PROFILES
    from r1track.geometry import IMAGE_FORMATS, RESIZE_METHODS

    model_help = "checkpoint directory or Hub id (hf), or served model name (openai)"
    if baseline:  # --model or --baseline, exactly one
        from r1track.baselines import BASELINES

        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--model", help=model_help)
        who.add_argument(
            "--baseline", choices=BASELINES, help="no model: no-motion returns the first box"
        )
    else:
        p.add_argument("--model", required=True, help=model_help)
    first = len(p._actions)
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="hf",
        help="hf: in-process transformers; openai: a server",
    )
    p.add_argument("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument(
        "--server",
        choices=SERVER_PROFILES,
        default="openai",
        help="openai backend: openai sends only standard chat-completions fields (any server); "
        "vllm adds vLLM's include_stop_str_in_output and repetition_penalty 1.0 (default: openai)",
    )
    p.add_argument(
        "--device", default="auto", help="hf backend: cpu, cuda, cuda:1, ... (default: auto)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="openai backend: seconds per request"
    )
    p.add_argument(
        "--max-pixels", type=int, help="openai backend: the server processor's max_pixels"
    )
    # These default to the checkpoint's own settings (r1track_tracker.json), else R1-Track's.
    p.add_argument(
        "--prompt", choices=PROMPT_VARIANTS, help="prompt the checkpoint was trained on (5k)"
    )
    p.add_argument(
        "--think",
        action=argparse.BooleanOptionalAction,
        help="think checkpoints: ask for <think> and <answer> (off)",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        help="where images and text go in the message, as the checkpoint was trained "
        "(released checkpoints: reference-train; others: r1track; see docs/fidelity.md)",
    )
    p.add_argument(
        "--crop-size", type=int, help="template and search crop side, multiple of 28 (336)"
    )
    p.add_argument("--context", type=float, help="crop side / sqrt(box area) (4.0)")
    p.add_argument(
        "--coord-tint",
        type=float,
        help="blend a coordinate ramp into the images, for checkpoints trained with it (0)",
    )
    p.add_argument(
        "--scale-lr",
        type=float,
        help="share of each answer's size change the track takes, 0..1 (1: all of it)",
    )
    p.add_argument(
        "--views",
        type=int,
        help="test-time views per frame, 1-4 (crops as cut, then mirrored); consensus answer (1)",
    )
    p.add_argument(
        "--resize",
        choices=RESIZE_METHODS,
        help="crop resampling: cv2 (OpenCV INTER_LINEAR, as R1-Track) or pil (antialiased) (cv2)",
    )
    p.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        help="images to the model: jpeg (quality 95, as R1-Track) or png (lossless) (jpeg)",
    )
    p.add_argument(
        "--no-template-reuse",
        action="store_true",
        help="hf backend: recompute the template every frame (default: encode and prefill it once)",
    )
    # Every flag above configures a model; a baseline refuses them rather than ignore them.
    model_only = {a.dest: (a.option_strings[0], a.default) for a in p._actions[first:]}
    p.set_defaults(model_only=model_only)


def _refuse_model_flags(args: argparse.Namespace) -> None:
    """A baseline has no model: a model flag given with it is a mistake, said in one line."""
    given = [
        flag for dest, (flag, default) in args.model_only.items() if getattr(args, dest) != default
    ]
    if given:
        raise UserError(f"--baseline {args.baseline} takes no model flags: drop {', '.join(given)}")


def _setting_flags(args: argparse.Namespace) -> dict:
    from r1track.models import SETTINGS_KEYS

    return {key: getattr(args, key) for key in SETTINGS_KEYS}  # each has its flag of that name


def _tracker_config(args: argparse.Namespace):
    """Tracker settings: flags, else the checkpoint's r1track_tracker.json, else a released
    checkpoint's known settings, else the defaults."""
    from r1track.tracker import TrackerConfig

    # A served model is known by its name only (a released Hub id); hf reads its directory too.
    return TrackerConfig.for_checkpoint(
        args.model, served=args.backend != "hf", **_setting_flags(args)
    )


def _notice_guessed_settings(args: argparse.Namespace) -> None:
    """Once the inputs are checked: say which prompt, think mode and layout a model gets that
    r1track does not know (one line; nothing for a released or self-describing checkpoint)."""
    from r1track.tracker import notice_guessed_settings

    notice_guessed_settings(args.model, args.backend != "hf", **_setting_flags(args))


def _resolve_model(args: argparse.Namespace) -> None:
    """`--model nano` (a bundled model) becomes its directory, for the hf backend."""
    from r1track.models import resolve_model

    if args.backend == "hf":
        args.model = resolve_model(args.model)


def _backend(args: argparse.Namespace, batch_size: int = 8):
    from r1track.backends import load_backend

    return load_backend(
        args.backend,
        args.model,
        base_url=args.base_url,
        server=args.server,
        device=args.device,
        batch_size=batch_size,
        timeout=args.timeout,
        max_pixels=args.max_pixels,
        reuse_template=not args.no_template_reuse,
    )


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from r1track.interrupts import sigterm_raises
    from r1track.outputs import TrackWriter
    from r1track.tracker import Tracker, check_init_box
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
    state, result = tracker.start(first, bbox=bbox, text=args.text)
    if args.text is not None:
        box = ",".join(f"{v:.1f}" for v in result.box)
        print(f"grounded {shorten(args.text)} at x,y,w,h = {box}", file=sys.stderr)

    reasons: Counter[str] = Counter()
    t0 = time.perf_counter()
    writer = TrackWriter(out, fps=source.fps, overlay=not args.no_overlay)
    bar = tqdm(total=source.num_frames, unit="frame", desc="tracking", file=sys.stderr)
    stopped = None  # (what stopped the run, exit code)
    with sigterm_raises():  # SIGTERM goes through `finally` too: a playable overlay
        try:
            writer.write(first, result)
            bar.update()
            for frame in frames:
                result = tracker.step(state, frame)
                writer.write(frame, result)
                reasons[result.fallback or "ok"] += 1
                bar.update()
        except KeyboardInterrupt:
            stopped = ("interrupted", 130)
        except Terminated:
            stopped = ("terminated", Terminated.exit_code)
        finally:
            bar.close()
            writer.close()
            backend.close()
    if stopped:
        print(
            f"r1track: {stopped[0]} after {writer.frames} frames; they are in {out}/",
            file=sys.stderr,
        )
        return stopped[1]
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
    short = source.ended_early()
    if short:
        print(f"r1track: warning: {short}; results cover the frames decoded", file=sys.stderr)
    if answered and fallbacks == answered:
        print(
            "r1track: warning: no model answer was usable; the box never moved. Check that "
            "--prompt/--think match the checkpoint (or: this is an untrained model).",
            file=sys.stderr,
        )
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from r1track.datasets import load_dataset, resolve_split
    from r1track.evaluation.report import score_run, success_plot, table, write_report
    from r1track.evaluation.runner import check_manifest, parse_shard, run_eval, select
    from r1track.models import model_identity, weights_digest
    from r1track.tracker import Tracker

    if args.baseline:
        if args.init != "bbox":
            raise UserError(f"--baseline {args.baseline} starts from a box only (use --init bbox)")
        _refuse_model_flags(args)
        args.model = f"baseline:{args.baseline}"
    else:
        _check_model_args(args)
        _resolve_model(args)
    shard = parse_shard(args.shard)
    if args.batch < 1:
        raise UserError(f"--batch must be at least 1, got {args.batch}")
    if args.max_seqs is not None and args.max_seqs < 1:
        raise UserError(f"--max-seqs must be at least 1, got {args.max_seqs}")
    config = _tracker_config(args) if not args.baseline else None
    out = check_out_dir(args.out, "--out")
    args.split = resolve_split(args.dataset, args.split)
    sequences = load_dataset(args.dataset, args.root, args.split)
    chosen = select(sequences, shard, args.max_seqs)
    if args.init == "text" and not any(s.description for s in chosen):
        raise UserError(
            f"--init text: no sequence of {args.dataset} {args.split} has a description"
        )
    if args.baseline:
        from r1track.baselines import load_baseline

        backend, tracker = None, load_baseline(args.baseline)
    else:
        backend = _backend(args, batch_size=args.batch)
        tracker = Tracker(backend, config)
    if backend and args.batch > 1 and args.backend == "hf" and not args.no_template_reuse:
        print(
            "r1track: note: template reuse applies to --batch 1; batched steps recompute it",
            file=sys.stderr,
        )
    manifest = {
        "dataset": args.dataset,
        "root": str(Path(args.root).resolve()),
        "split": args.split,
        "model": model_identity(args.model),
        "weights": weights_digest(args.model) if backend and args.backend == "hf" else None,
        "backend": args.backend if backend else None,
        "init": args.init,
        "tracker": asdict(config) if config else None,
    }
    out.mkdir(parents=True, exist_ok=True)
    check_manifest(out, manifest)
    if backend:
        _notice_guessed_settings(args)
    try:
        outcome = run_eval(tracker, chosen, out, args.dataset, args.init, args.batch)
    finally:
        if backend:
            backend.close()
    fps = outcome.frames / outcome.seconds if outcome.seconds else 0.0
    print(
        f"{len(outcome.finished)} sequences tracked ({outcome.frames} frames, {fps:.1f} frames/s "
        f"in the tracker), {len(outcome.skipped)} already done, {len(outcome.failed)} failed",
        file=sys.stderr,
    )
    for name, reason in outcome.failed.items():
        print(f"failed: {name}: {reason}", file=sys.stderr)
    if outcome.finished or outcome.skipped:
        # a shard's report is RUN/report.shard-K-of-N.json; `r1track report` scores the whole split
        report = score_run(out, sequences=chosen, split_size=len(sequences), shard=shard)
        write_report(out, report)
        if "shard" not in report:
            success_plot([report], out / "success.png")
        print(table([report]))
    return 1 if outcome.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from r1track.evaluation.report import score_run, success_plot, table, write_report

    # one run: its plot goes to RUN/success.png unless --plot says where; several: one plot
    plot_path = args.plot or ("success_compare.png" if len(args.runs) > 1 else None)
    if plot_path:  # checked before any run is scored or written
        check_out_file(plot_path, "--plot", _plot_suffixes(), parent_must_exist=True)
    for run in args.runs:
        if not Path(run).is_dir():
            raise UserError(f"{run}: no such run directory")
        check_out_dir(run, "run directory")  # report.json and success.png are written there
    reports = []
    for run in args.runs:
        report = score_run(run)
        write_report(run, report)
        if len(args.runs) == 1:
            success_plot([report], plot_path or Path(run) / "success.png")
        reports.append(report)
        if report["missing"]:
            print(
                f"r1track: warning: {run}: {len(report['missing'])} sequences have no results "
                "(scored without them)",
                file=sys.stderr,
            )
    if len(reports) > 1:
        if len({(r["dataset"], r["split"]) for r in reports}) > 1:
            raise UserError("runs on different datasets or splits cannot share one table")
        plot = success_plot(reports, plot_path)
        if plot:
            print(f"success plot: {plot}", file=sys.stderr)
    print(table(reports))
    return 0


def _plot_suffixes() -> set[str]:
    """File name endings matplotlib can save a figure as (.png, .pdf, .svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return {"." + ext for ext in FigureCanvasBase.get_supported_filetypes()}


def _cmd_pack(args: argparse.Namespace) -> int:
    from r1track.evaluation.pack import pack_got10k

    check_out_file(args.out, "--out", {".zip"})
    out, count = pack_got10k(args.run, args.out)
    print(f"wrote {out} ({count} sequences) for the GOT-10k evaluation server")
    return 0


def _parse_context_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--context-range {shorten(text)}: expected LOW,HIGH, e.g. 2,8") from None
    if not 1 <= low <= high:
        raise UserError(f"--context-range {shorten(text)}: need 1 <= LOW <= HIGH")
    return low, high


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

    if args.max_gap < 1:
        raise UserError(f"--max-gap must be at least 1, got {args.max_gap}")
    if not 0 <= args.coord_tint < 1:
        raise UserError(f"--coord-tint must be in [0, 1), got {args.coord_tint}")
    if not 0 <= args.jitter < 0.5:
        raise UserError(f"--jitter must be in [0, 0.5), got {args.jitter}")
    if args.template_jitter is not None and not 0 <= args.template_jitter < 0.5:
        raise UserError(f"--template-jitter must be in [0, 0.5), got {args.template_jitter}")
    if args.template_context is not None and not 1 <= args.template_context < float("inf"):
        raise UserError(f"--template-context must be at least 1, got {args.template_context}")
    out = check_out_dir(args.out, "--out")
    if out.suffix.lower() in FILE_SUFFIXES:
        raise UserError(f"--out {out}: names a file; give a directory for the dataset")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out}: exists and is not empty")
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
        ),
        tracker_run=args.tracker_run,
        image_format=args.image_format,
    )
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


def _refuse_non_empty(path: Path, label: str, instead: str) -> None:
    """Refuse to write into a folder that already has content: files of another run would stay
    mixed in with the new ones (a dataset's old frames, a model's old weights)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{label}: {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise UserError(f"{label}: {path}/ exists and is not empty; {instead}")


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from r1track.datasets.synth import SynthConfig, write_synth

    if args.num_seqs < 1:
        raise UserError(f"--num-seqs must be at least 1, got {args.num_seqs}")
    knobs = {f.name: getattr(args, f.name) for f in fields(SynthConfig)}
    if knobs["min_length"] < 2 or knobs["max_length"] < knobs["min_length"]:
        raise UserError("need 2 <= --min-length <= --max-length")
    if knobs["width"] < 64 or knobs["height"] < 64:
        raise UserError("--width and --height must be at least 64")
    out = check_out_dir(args.out, "--out")
    _refuse_non_empty(out / args.split, "--out", "use another --out or --split, or remove it")
    names = write_synth(args.out, args.split, args.num_seqs, args.seed, SynthConfig(**knobs))
    print(f"wrote {len(names)} sequences to {Path(args.out) / args.split}/", file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from r1track.training.config import load_config
    from r1track.training.trainers import run_grpo, run_sft
    from r1track.training.vision import run_vision

    config = load_config(args.config, args.overrides)  # each run_* checks its values first
    check_out_dir(config.output_dir, "output_dir")
    run = {"sft": run_sft, "grpo": run_grpo, "vision": run_vision}[args.algorithm]
    out = run(config)
    if os.environ.get("RANK", "0") == "0":  # once, also under torchrun / accelerate launch
        print(f"checkpoint: {out}/ (r1track track --model {out})", file=sys.stderr)
    return 0


def _cmd_tiny_model(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from r1track.dev.tiny_model import SIZES, build_tiny_model

    check_out_dir(args.dir, "dev tiny-model DIR")
    _refuse_non_empty(Path(args.dir), "dev tiny-model DIR", "use another DIR or remove it")
    out = build_tiny_model(args.dir, replace(SIZES[args.size], seed=args.seed))
    print(f"wrote a tiny random Qwen2.5-VL checkpoint to {out}/ (untrained: its answers are noise)")
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from r1track.models import bundle_checkpoint
    from r1track.tracker import TrackerConfig

    # validates the settings the way the tracker will read them
    TrackerConfig(
        crop_size=args.crop_size,
        template_factor=args.context,
        search_factor=args.context,
        coord_tint=args.coord_tint,
        scale_lr=args.scale_lr,
        views=args.views,
        resize=args.resize,
        image_format=args.image_format,
        layout=args.layout,
    )
    check_out_dir(args.out, "output directory")
    out = bundle_checkpoint(
        args.checkpoint,
        args.out,
        crop_size=args.crop_size,
        context=args.context,
        prompt=args.prompt,
        think=args.think,
        coord_tint=args.coord_tint,
        scale_lr=args.scale_lr,
        views=args.views,
        resize=args.resize,
        image_format=args.image_format,
        layout=args.layout,
    )
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"wrote {out}/ ({size:.1f} MB) with its tracking settings")
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

    from r1track.datasets import LOADERS, split_help
    from r1track.geometry import IMAGE_FORMATS, RESIZE_METHODS

    ev = commands.add_parser(
        "eval", help="run a benchmark (resumable, sharded, batched) and score it"
    )
    ev.add_argument("--dataset", choices=sorted(LOADERS), required=True)
    ev.add_argument("--root", required=True, help="dataset root folder")
    ev.add_argument("--split", help=f"the dataset's split; {split_help()}")
    ev.add_argument(
        "--init", choices=("bbox", "text"), default="bbox", help="text: use the description"
    )
    ev.add_argument(
        "--batch", type=int, default=1, help="sequences stepped together per model call"
    )
    ev.add_argument("--shard", default="1/1", help="K/N: run the K-th of N disjoint parts")
    ev.add_argument("--max-seqs", type=int, help="only the first N sequences")
    _add_model_args(ev, baseline=True)
    ev.add_argument("--out", required=True, help="run directory (rerun the same command to resume)")
    ev.set_defaults(func=_cmd_eval)

    rep = commands.add_parser("report", help="score runs: report.json, table, success plot")
    rep.add_argument("runs", nargs="+", help="run directories; several give one comparison table")
    rep.add_argument(
        "--plot",
        help="success plot path (default: RUN/success.png for one run, success_compare.png for"
        " several)",
    )
    rep.set_defaults(func=_cmd_report)

    pack = commands.add_parser("pack", help="zip a GOT-10k test run for the evaluation server")
    pack.add_argument("run", help="run directory of a got10k test eval")
    pack.add_argument("--out", required=True, help="zip file to write")
    pack.set_defaults(func=_cmd_pack)

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
    ):
        synth.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=getattr(defaults, name),
            help=f"{text} (default {getattr(defaults, name)})",
        )
    synth.set_defaults(func=_cmd_data_synth)

    train = commands.add_parser(
        "train", help="fine-tune with TRL (sft, grpo); vision: warm up a from-scratch tower"
    )
    train.add_argument("algorithm", choices=("sft", "grpo", "vision"))
    train.add_argument("--config", required=True, help="YAML config (see configs/)")
    train.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="e.g. optim.learning_rate=1e-6"
    )
    train.set_defaults(func=_cmd_train)

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
        "bundle", help="copy a trained checkpoint with its tracking settings (for --model NAME)"
    )
    bundle.add_argument("checkpoint", help="trained checkpoint directory")
    bundle.add_argument("out", help="output directory (replaced)")
    bundle.add_argument("--crop-size", type=int, required=True)
    bundle.add_argument("--context", type=float, required=True)
    bundle.add_argument("--prompt", choices=PROMPT_VARIANTS, default="5k")
    bundle.add_argument("--think", action="store_true")
    bundle.add_argument(
        "--layout", choices=LAYOUTS, default="r1track", help="message layout it was trained on"
    )
    bundle.add_argument("--coord-tint", type=float, default=0.0)
    bundle.add_argument("--scale-lr", type=float, default=1.0)
    bundle.add_argument("--views", type=int, default=1)
    bundle.add_argument(
        "--resize", choices=RESIZE_METHODS, default="cv2", help="crop resampling it was trained on"
    )
    bundle.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        default="jpeg",
        help="images it was trained on: jpeg (data build's default) or png",
    )
    bundle.set_defaults(func=_cmd_bundle)
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
    synth.set_defaults(func=_cmd_synth_video)
    return parser


# errno values of an OSError that mean a path the user gave cannot be used (exit 2, not 1).
PATH_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EROFS,
}


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--bbox -10,-5,40,30` as `--bbox=-10,-5,40,30`: argparse takes a value that starts with
    `-` and is not a plain number for an option, and then says the flag lacks its value."""
    joined: list[str] = []
    for arg in argv:
        flag = joined[-1] if joined else ""
        if flag.startswith("--") and "=" not in flag and _NEGATIVE_LIST.match(arg):
            joined[-1] = f"{flag}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _join_negative_values(sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        # KEY=VALUE overrides may come after options (`train sft --config F a.b=1`)
        train = getattr(args, "command", None) == "train"
        if train and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides += extra
        elif train and not any(e.startswith("-") for e in extra):
            bad = next(e for e in extra if "=" not in e)
            parser.error(f"override {shorten(bad)}: expected KEY=VALUE, e.g. optim.max_steps=4")
        else:
            if train:  # the overrides among them are fine: name only what is not one
                extra = [e for e in extra if e.startswith("-") or "=" not in e]
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"r1track: error: {_setting_message(exc, args)}", file=sys.stderr)
        return 2
    except R1TrackError as exc:
        print(f"r1track: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("r1track: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("r1track: terminated", file=sys.stderr)
        return Terminated.exit_code
    except OSError as exc:
        if exc.filename is None:  # not about a path: a bug, keep its traceback
            raise
        # a path the up-front checks could not foresee (/sys, a disk that filled up, ...)
        print(f"r1track: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2 if exc.errno in PATH_ERRNOS else 1


if __name__ == "__main__":
    sys.exit(main())
