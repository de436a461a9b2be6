"""Frames/s of a GOT-10k-format evaluation (what `r1track eval` runs): template reuse and drafts
at --batch 8, and one server vs two.

1. `hf` backend, tiny random Qwen2.5-VL at 336 px crops (or `--model nano`: the bundled nano at
   its own 112 px, whose answers are a tracker's, not a random model's 64 tokens), sequences
   stepped in lockstep: --batch 1,
   then --batch 8 without template reuse (every step prefills 8 templates), with it (each
   sequence's own cached template prefix, stacked), and with drafts too (the default).
2. `openai` backend at --batch 8 against scripted local servers (`r1track.dev.fake_server`) that
   answer one request at a time after a fixed latency, as a GPU server at its batch limit: one
   server vs two of the same latency.

Variants run interleaved, `--repeats` times each; a figure is the median over repeats with its
spread (min-max), a speed-up the median of per-repeat ratios, counted only when its spread is
smaller than its gain.

    python benchmarks/eval_speed.py [--seqs 8] [--frames 30] [--latency 0.2] [--repeats 3]
        [--model tiny|nano|PATH] [--answer-tokens N] [--no-servers]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from frame_overhead import machine


def write_dataset(root: Path, seqs: int, frames: int, split: str = "val", size=(320, 192)) -> None:
    """A GOT-10k-format split of synthetic sequences."""
    import numpy as np

    from r1track.datasets.got10k import write_sequence
    from r1track.dev.synth_video import synth_frames

    names = []
    for i in range(seqs):
        pairs = list(synth_frames(frames, *size, seed=i))
        name = f"GOT-10k_{split.capitalize()}_{i + 1:06d}"
        write_sequence(root / split / name, [f for f, _ in pairs], np.array([b for _, b in pairs]))
        names.append(name)
    (root / split / "list.txt").write_text("\n".join(names) + "\n")


def timed_eval(tracker, sequences, out: Path, batch: int) -> dict:
    from r1track.evaluation.runner import run_eval

    t0 = time.perf_counter()
    outcome = run_eval(tracker, sequences, out, "got10k", batch=batch, progress=False)
    seconds = time.perf_counter() - t0
    frames = sum(len(s) for s in sequences)
    assert not outcome.failed, outcome.failed
    return {"batch": batch, "frames": frames, "seconds": seconds, "fps": frames / seconds}


def summary(runs: list[dict]) -> dict:
    fps = [r["fps"] for r in runs]
    return {"fps": statistics.median(fps), "spread": [min(fps), max(fps)], "repeats": runs}


def speedup(runs_a: list[dict], runs_b: list[dict]) -> dict:
    """Frames/s of b over a, per repeat: median, spread, and whether it counts."""
    ratios = [b["fps"] / a["fps"] for a, b in zip(runs_a, runs_b, strict=True)]
    gain = statistics.median(ratios)
    spread = [min(ratios), max(ratios)]
    return {"median": gain, "spread": spread, "counts": spread[1] - spread[0] < abs(gain - 1)}


def print_speedups(speedups: dict[str, dict], label: str = "{}") -> None:
    """One line per `speedup`, named by `label` filled with its name."""
    for name, v in speedups.items():
        counts = "counts" if v["counts"] else "within noise"
        lo, hi = v["spread"]
        print(f"{label.format(name)}: {v['median']:.2f}x [{lo:.2f}, {hi:.2f}] ({counts})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seqs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument(
        "--latency", type=float, default=0.2, help="scripted servers: seconds per request"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--answer-tokens",
        type=int,
        default=None,
        help="hf: the answer budget (default: R1-Track's, 64; a random model uses all of it)",
    )
    parser.add_argument("--no-servers", action="store_true", help="hf variants only")
    parser.add_argument(
        "--model",
        default="tiny",
        help="hf: `tiny` (a random Qwen2.5-VL built here), `nano` or a checkpoint directory",
    )
    parser.add_argument("--out", default="benchmarks/results/eval_speed.json")
    args = parser.parse_args()

    from r1track.backends.hf import HFBackend
    from r1track.backends.openai_api import OpenAIBackend
    from r1track.datasets import load_dataset
    from r1track.dev.fake_server import FakeChatServer
    from r1track.dev.tiny_model import build_tiny_model
    from r1track.tracking import Tracker, TrackerConfig

    hf_variants = {
        "batch 1": dict(batch=1, reuse_template=True, draft=False),
        "batch 8, no template reuse": dict(batch=8, reuse_template=False, draft=False),
        "batch 8, template reuse": dict(batch=8, reuse_template=True, draft=False),
        "batch 8, template reuse + drafts": dict(batch=8, reuse_template=True, draft=True),
    }
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "got10k"
        write_dataset(root, args.seqs, args.frames)
        sequences = load_dataset("got10k", root, "val")
        model = build_tiny_model(Path(tmp) / "tiny") if args.model == "tiny" else args.model
        backends = {
            name: HFBackend(
                str(model),
                device="cpu",
                max_batch_size=v["batch"],
                reuse_template=v["reuse_template"],
                draft=v["draft"],
            )
            for name, v in hf_variants.items()
        }
        servers = [
            FakeChatServer(lambda body: "[120,120,200,200]", delay=args.latency, serial=True)
            for _ in range(2)
        ]
        api_variants = {
            "openai, 1 server": [servers[0].url],
            "openai, 2 servers": [s.url for s in servers],
        }
        config = TrackerConfig.for_checkpoint(backends["batch 1"].checkpoint)
        if args.answer_tokens:
            config = dataclasses.replace(config, max_new_tokens=args.answer_tokens)
        try:
            for rep in range(args.repeats):
                names = list(hf_variants) + ([] if args.no_servers else list(api_variants))
                for name in names if rep % 2 == 0 else names[::-1]:
                    out = Path(tmp) / f"{name}-{rep}".replace(" ", "_").replace(",", "")
                    if name in hf_variants:
                        backend = backends[name]
                        backend._prefixes.clear()
                        backend._drafts.clear()
                        row = timed_eval(
                            Tracker(backend, config), sequences, out, hf_variants[name]["batch"]
                        )
                    else:
                        backend = OpenAIBackend(api_variants[name], "scripted", concurrency=8)
                        row = timed_eval(Tracker(backend), sequences, out, 8)
                        backend.close()
                    runs.setdefault(name, []).append(row)
                    print(name, json.dumps(row))
        finally:
            for server in servers:
                server.stop()
    speedups = {
        "template reuse at batch 8": speedup(
            runs["batch 8, no template reuse"], runs["batch 8, template reuse"]
        ),
        "drafts at batch 8 (with reuse)": speedup(
            runs["batch 8, template reuse"], runs["batch 8, template reuse + drafts"]
        ),
        "batch 8 (reuse + drafts) over batch 1": speedup(
            runs["batch 1"], runs["batch 8, template reuse + drafts"]
        ),
    }
    if not args.no_servers:
        speedups["two servers over one"] = speedup(
            runs["openai, 1 server"], runs["openai, 2 servers"]
        )
    result = {
        "command": f"python benchmarks/eval_speed.py --seqs {args.seqs} --frames {args.frames} "
        f"--latency {args.latency} --repeats {args.repeats}"
        + (f" --answer-tokens {args.answer_tokens}" if args.answer_tokens else "")
        + (" --no-servers" if args.no_servers else "")
        + (f" --model {args.model}" if args.model != "tiny" else ""),
        "model": args.model,
        "machine": machine(),
        "dataset": f"GOT-10k format, {args.seqs} synthetic sequences x {args.frames} frames "
        "of 320x192",
        "servers": f"scripted, one request at a time, {args.latency * 1e3:.0f} ms each",
        "variants": {name: summary(r) for name, r in runs.items()},
        "speedups": speedups,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| variant | frames/s (median) [spread] |")
    print("|---|---|")
    for name, v in result["variants"].items():
        print(f"| {name} | {v['fps']:.1f} [{v['spread'][0]:.1f}, {v['spread'][1]:.1f}] |")
    print_speedups(speedups)


if __name__ == "__main__":
    main()
