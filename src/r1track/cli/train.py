"""`r1track train`: fine-tune with TRL (sft, grpo), or warm up a vision tower."""

from __future__ import annotations

import argparse
import os
import sys

from r1track.paths import check_out_dir


def _end_process_group() -> None:
    """Under torchrun, wait for rank 0's save, then close the process group: a rank that exits
    with it still open aborts at interpreter exit (gloo: "terminate called without an active
    exception", exit -6), failing the whole launch after the checkpoint was written."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _cmd_train(args: argparse.Namespace) -> int:
    from r1track.training.config import load_config
    from r1track.training.trainers import run_grpo, run_sft
    from r1track.training.vision import run_vision

    config = load_config(args.config, args.overrides)  # each run_* checks its values first
    check_out_dir(config.output_dir, "output_dir")
    run = {"sft": run_sft, "grpo": run_grpo, "vision": run_vision}[args.algorithm]
    out = run(config)
    _end_process_group()
    if os.environ.get("RANK", "0") == "0":  # once, also under torchrun / accelerate launch
        print(f"checkpoint: {out}/ (r1track track --model {out})", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add this group's commands and their arguments to `r1track`'s subcommands."""
    train = commands.add_parser(
        "train", help="fine-tune with TRL (sft, grpo); vision: warm up a from-scratch tower"
    )
    train.add_argument("algorithm", choices=("sft", "grpo", "vision"))
    train.add_argument("--config", required=True, help="YAML config (see configs/)")
    train.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="e.g. optim.learning_rate=1e-6"
    )
    train.set_defaults(func=_cmd_train)
