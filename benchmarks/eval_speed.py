"""Frames/s of a GOT-10k-format evaluation at --batch 1 vs --batch 8 (issue: benchmarks).

1. `hf` backend, tiny random Qwen2.5-VL, 336 px crops: sequences stepped in lockstep, one batched
   `generate` per step.
2. `openai` backend against a local scripted server (`r1track.dev.fake_server`) that answers every
   request after a fixed latency, as a remote GPU server would: concurrency 1 vs 8.

    python benchmarks/eval_speed.py [--seqs 8] [--frames 30] [--latency 0.05]

Target: --batch 8 at least 2x the frames/s of --batch 1 on this CPU.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seqs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.05, help="scripted server seconds")
    parser.add_argument("--out", default="benchmarks/results/eval_speed.json")
    args = parser.parse_args()

    from r1track.backends.hf import HFBackend
    from r1track.backends.openai_api import OpenAIBackend
    from r1track.datasets import load_dataset
    from r1track.dev.fake_server import FakeChatServer
    from r1track.dev.tiny_model import build_tiny_model
    from r1track.tracking import Tracker

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "got10k"
        write_dataset(root, args.seqs, args.frames)
        sequences = load_dataset("got10k", root, "val")
        model = build_tiny_model(Path(tmp) / "tiny")
        for batch in (1, 8):
            tracker = Tracker(HFBackend(str(model), device="cpu", max_batch_size=batch))
            row = timed_eval(tracker, sequences, Path(tmp) / f"hf{batch}", batch)
            rows.append({"backend": "hf (tiny model)", **row})
        server = FakeChatServer(lambda body: "[120,120,200,200]", delay=args.latency)
        try:
            for batch in (1, 8):
                backend = OpenAIBackend(server.url, "scripted", concurrency=batch)
                row = timed_eval(Tracker(backend), sequences, Path(tmp) / f"api{batch}", batch)
                rows.append(
                    {"backend": f"openai (server latency {args.latency * 1e3:.0f} ms)", **row}
                )
                backend.close()
        finally:
            server.stop()
    result = {
        "command": f"python benchmarks/eval_speed.py --seqs {args.seqs} --frames {args.frames} "
        f"--latency {args.latency}",
        "machine": machine(),
        "dataset": f"GOT-10k format, {args.seqs} synthetic sequences x {args.frames} frames "
        "of 320x192",
        "runs": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| backend | batch | frames | seconds | frames/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['batch']} | {r['frames']} | {r['seconds']:.1f} "
            f"| {r['fps']:.1f} |"
        )
    for name in dict.fromkeys(r["backend"] for r in rows):
        one, eight = (r["fps"] for r in rows if r["backend"] == name)
        print(f"{name}: batch 8 / batch 1 = {eight / one:.2f}x")


if __name__ == "__main__":
    main()
