"""Per-frame time outside the model, and peak memory vs video length (issue: core tracker).

Runs the loop `r1track track` runs (`run_tracks`: decode -> crop -> backend -> parse -> write
boxes, jsonl and overlay) on a synthetic 640x360 video with the tiny random model, once per video
length, each in a fresh process so that peak RSS is that run's own.
Prints a Markdown table and writes JSON.

    python benchmarks/frame_overhead.py [--lengths 200 2000] [--out FILE.json]

Targets: everything but the model under 15 ms per frame; peak RSS within 10% between lengths.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(video: str, gt: str, model: str, out_dir: str) -> dict:
    """Track one video in this process; returns timings and peak RSS."""
    import numpy as np

    from r1track.backends.hf import HFBackend
    from r1track.outputs import TrackWriter
    from r1track.tracking import Tracker, TrackJob, run_tracks
    from r1track.video import open_frames

    bbox = [float(v) for v in Path(gt).read_text().split()[0].split(",")]
    tracker = Tracker(HFBackend(model, device="cpu"))
    source = open_frames(video)
    rss_after_start = None
    totals, models = [], []
    with TrackWriter(out_dir, fps=source.fps) as writer:
        t = time.perf_counter()
        # the clock runs across decode, step and write: the loop reads each frame itself
        for event in run_tracks(tracker, [TrackJob(source, bbox=bbox)]):
            if event.error is not None:
                raise event.error
            if event.result is None:
                continue
            writer.write(event.frame, event.result)
            if event.result.index == 0:
                t = time.perf_counter()
                continue
            now = time.perf_counter()
            totals.append(now - t)
            models.append(event.result.model_seconds)
            t = now
            if rss_after_start is None and len(totals) == 20:
                rss_after_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    totals_ms, models_ms = np.array(totals) * 1e3, np.array(models) * 1e3
    other = totals_ms - models_ms
    return {
        "frames": len(totals) + 1,
        "total_ms_mean": float(totals_ms.mean()),
        "model_ms_mean": float(models_ms.mean()),
        "other_ms_mean": float(other.mean()),
        "other_ms_p50": float(np.percentile(other, 50)),
        "other_ms_p95": float(np.percentile(other, 95)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_20_frames_mb": (rss_after_start or 0) / 1024,
    }


def machine() -> str:
    """CPU model, cores and Python version, for the recorded result."""
    import os

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--out", default="benchmarks/results/frame_overhead.json")
    parser.add_argument(
        "--child", nargs=4, metavar=("VIDEO", "GT", "MODEL", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child)))
        return

    from r1track.dev.synth_video import write_synth_video
    from r1track.dev.tiny_model import build_tiny_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        for n in args.lengths:
            video, gt = write_synth_video(Path(tmp) / f"v{n}.mp4", n, 640, 360, seed=0)
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(video),
                    str(gt),
                    str(model),
                    f"{tmp}/out{n}",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    result = {
        "command": "python benchmarks/frame_overhead.py --lengths "
        + " ".join(map(str, args.lengths)),
        "machine": machine(),
        "model": "tiny random Qwen2.5-VL (dev tiny-model), crops 336, 640x360 synthetic video",
        "runs": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| frames | total ms/frame | model ms/frame | other ms/frame (mean/p50/p95) | peak RSS MB |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['frames']} | {r['total_ms_mean']:.1f} | {r['model_ms_mean']:.1f} | "
            f"{r['other_ms_mean']:.1f} / {r['other_ms_p50']:.1f} / {r['other_ms_p95']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    if len(rows) > 1:
        lo, hi = rows[0]["peak_rss_mb"], rows[-1]["peak_rss_mb"]
        print(
            f"peak RSS change {rows[0]['frames']} -> {rows[-1]['frames']} frames: "
            f"{100 * (hi - lo) / lo:+.1f}%"
        )


if __name__ == "__main__":
    main()
