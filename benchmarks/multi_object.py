"""Several objects in one pass vs one run per object: object-frames per second and peak memory.

    python benchmarks/multi_object.py [--video assets/demo.mp4] [--model nano] [--counts 1 4 8]
        [--repeats 3]

For each object count N: N boxes on the first frame (a grid over the frame, so each object has
its own crops), tracked (a) together, `Tracker.track_objects` (one decode per frame, one batched
model call for all N), and (b) one after another, `Tracker.track` per object (what N separate
`r1track track` runs do, without their N model loads: the comparison leans towards (b)). Each
measurement runs in a fresh process, so its peak resident memory (`ru_maxrss`) is its own; the
variants alternate (a b a b ...) and the median of `--repeats` is reported with its range.
Times are tracking only (model loaded, video opened before the clock starts).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def grid_boxes(n: int, width: int, height: int) -> list[tuple[float, float, float, float]]:
    """`n` boxes of a sixth of the frame's shorter side, spread over a grid."""
    side = min(width, height) / 6
    cols = max(1, round((n * width / height) ** 0.5))
    rows = -(-n // cols)
    boxes = []
    for k in range(n):
        r, c = divmod(k, cols)
        cx = (c + 0.5) * width / cols
        cy = (r + 0.5) * height / rows
        boxes.append((cx - side / 2, cy - side / 2, side, side))
    return boxes


def child(video: str, model: str, n: int, mode: str) -> dict:
    from r1track.backends import load_backend
    from r1track.tracking import Target, Tracker
    from r1track.video import open_frames

    tracker = Tracker(load_backend("hf", model))
    frames = list(open_frames(video))  # decoded before the clock: both modes alike
    boxes = grid_boxes(n, *frames[0].size)
    t0 = time.perf_counter()
    if mode == "together":
        targets = [Target(str(i), bbox=b) for i, b in enumerate(boxes)]
        steps = sum(1 for _ in tracker.track_objects(frames, targets))
        object_frames = steps * n
    else:
        object_frames = sum(sum(1 for _ in tracker.track(frames, bbox=b)) for b in boxes)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"object_frames_per_s": object_frames / seconds, "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default="assets/demo.mp4")
    parser.add_argument("--model", default="nano")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.video, args.model, int(args.child[0]), args.child[1])))
        return
    runs: dict[tuple[int, str], list[dict]] = {}
    for _ in range(args.repeats):
        for n in args.counts:
            for mode in ("together", "separate"):
                command = [sys.executable, __file__, "--video", args.video, "--model", args.model]
                out = subprocess.run(
                    [*command, "--child", str(n), mode], capture_output=True, text=True, check=True
                )
                runs.setdefault((n, mode), []).append(json.loads(out.stdout.splitlines()[-1]))
    print(
        "| objects | together object-frames/s | separate object-frames/s | speed-up | "
        "peak MB together | peak MB separate |"
    )
    print("|---|---|---|---|---|---|")
    rows = []
    for n in args.counts:
        a = [r["object_frames_per_s"] for r in runs[(n, "together")]]
        b = [r["object_frames_per_s"] for r in runs[(n, "separate")]]
        ma = [r["peak_mb"] for r in runs[(n, "together")]]
        mb = [r["peak_mb"] for r in runs[(n, "separate")]]
        ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
        rows.append({"objects": n, "together": a, "separate": b, "peak_mb": ma, "speedup": ratio})
        print(
            f"| {n} | {statistics.median(a):.1f} ({min(a):.1f}-{max(a):.1f}) | "
            f"{statistics.median(b):.1f} ({min(b):.1f}-{max(b):.1f}) | {ratio:.2f}x | "
            f"{statistics.median(ma):.0f} | {statistics.median(mb):.0f} |"
        )
    if len(args.counts) > 1:
        first, last = rows[0], rows[-1]
        growth = (statistics.median(last["peak_mb"]) - statistics.median(first["peak_mb"])) / (
            last["objects"] - first["objects"]
        )
        print(f"peak memory growth together: {growth:.1f} MB per added object")


if __name__ == "__main__":
    main()
