"""`r1track eval`, `report` and `pack`: run a benchmark, score runs, zip a run for a server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from r1track.cli.common import (
    _add_model_args,
    _backend,
    _check_model_args,
    _notice_guessed_settings,
    _refuse_model_flags,
    _resolve_model,
    _tracker_config,
)
from r1track.errors import UserError
from r1track.paths import check_out_dir, check_out_file


def _cmd_eval(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from r1track.datasets import load_dataset, resolve_split
    from r1track.evaluation.report import score_run, success_plot, table, write_report
    from r1track.evaluation.runner import check_manifest, parse_shard, run_eval, select
    from r1track.models import model_identity, weights_digest
    from r1track.tracking import Tracker

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
        from r1track.tracking.baselines import load_baseline

        backend, tracker = None, load_baseline(args.baseline)
    else:
        backend = _backend(args, batch_size=args.batch)
        tracker = Tracker(backend, config)
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


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add this group's commands and their arguments to `r1track`'s subcommands."""
    from r1track.datasets import LOADERS, split_help

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
