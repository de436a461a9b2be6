"""Frames/s with draft-verified decoding off vs on, no-think vs think, crops 112 and 336, models
`small` (random) and nano, against the per-frame floor; variants interleaved and repeated.

The floor of a frame is the time inside the model's forward passes while it is tracked: one
prefill of the search image, the text and the draft on the cached template prefix, plus one
forward per correction (without drafts: one per answer token). Everything else (crop, image
processing, tokenisation, draft bookkeeping, parsing) is wall minus floor.

The variants run interleaved (off, on, on, off, off, on, ...) `--repeats` times each on the same
frames, so that a slow minute of the machine hits both; each figure is the median over repeats of
a run's mean seconds per frame, with the spread (min-max) beside it. A speed-up is the median of
the per-repeat ratios (off / on of the same repeat) and counts only when its spread is smaller
than its gain.

Models: `r1track dev tiny-model --size small` (26.6M parameters, random, fp32): its answers never
close, so their length is the token budget (24 no-think, 128 think); the bundled nano at its own
crop (112), on the bundled demo clip it was made to track.

    python benchmarks/speed.py [--frames 8] [--think-frames 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from frame_overhead import machine

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo.mp4"


class ForwardClock:
    """Seconds spent inside `model.forward` (the floor), reset per frame."""

    def __init__(self, model):
        self.seconds = 0.0
        self.calls = 0
        forward = model.forward

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return forward(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        model.forward = timed

    def take(self) -> tuple[float, int]:
        out = (self.seconds, self.calls)
        self.seconds, self.calls = 0.0, 0
        return out


def one_run(backend, clock, config, frames, box, draft: bool) -> dict:
    from r1track.tracking import Tracker, TrackJob, run_tracks

    backend.draft = draft
    backend._drafts.clear()
    backend._prefixes.clear()
    tracker = Tracker(backend, config)
    walls, floors, calls, tokens, accepted, drafted = [], [], [], [], [], []
    t0 = time.perf_counter()
    clock.take()
    for event in run_tracks(tracker, [TrackJob(frames, bbox=box)]):
        if event.error is not None:
            raise event.error
        if event.result is None:
            continue
        wall = time.perf_counter() - t0
        floor, n = clock.take()
        # frame 0 starts the track; frame 1 makes the template prefix and the first draft
        if event.result.index >= 2:
            walls.append(wall)
            floors.append(floor)
            calls.append(n)
            tokens.append(backend.last_generated[0])
            accepted.append(backend.last_accepted[0])
            drafted.append(backend.last_drafted[0])
        t0 = time.perf_counter()
    return {
        "seconds_per_frame": statistics.mean(walls),
        "floor_seconds_per_frame": statistics.mean(floors),
        "forwards_per_frame": statistics.mean(calls),
        "answer_tokens": statistics.mean(tokens),
        "draft_tokens": sum(drafted),
        "accepted_tokens": sum(accepted),
    }


def summarise(runs: list[dict]) -> dict:
    def med(key):
        return statistics.median(r[key] for r in runs)

    seconds = [r["seconds_per_frame"] for r in runs]
    drafted = sum(r["draft_tokens"] for r in runs)
    return {
        "seconds_per_frame": med("seconds_per_frame"),
        "spread": [min(seconds), max(seconds)],
        "fps": 1 / med("seconds_per_frame"),
        "floor_seconds_per_frame": med("floor_seconds_per_frame"),
        "wall_over_floor": statistics.median(
            r["seconds_per_frame"] / r["floor_seconds_per_frame"] for r in runs
        ),
        "forwards_per_frame": med("forwards_per_frame"),
        "answer_tokens": med("answer_tokens"),
        "accepted_share": (sum(r["accepted_tokens"] for r in runs) / drafted) if drafted else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="timed frames per no-think run")
    parser.add_argument("--think-frames", type=int, default=4, help="timed frames per think run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant")
    parser.add_argument("--models", default="small,nano")
    parser.add_argument("--out", default="results/speed.json")
    args = parser.parse_args()

    import dataclasses

    import numpy as np
    import torch

    from r1track.backends.hf import HFBackend
    from r1track.dev.tiny_model import SIZES, build_tiny_model
    from r1track.tracking import TrackerConfig
    from r1track.video import open_frames

    torch.manual_seed(0)
    n = max(args.frames, args.think_frames) + 2
    frames = []
    for frame in open_frames(str(DEMO)):
        frames.append(frame.copy())
        if len(frames) == n:
            break
    truth = np.loadtxt(DEMO.with_name("demo.groundtruth.txt"), delimiter=",")
    box = tuple(float(v) for v in truth[0])
    rows, speedups = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path = (
                "nano" if name == "nano" else str(build_tiny_model(Path(tmp) / name, SIZES[name]))
            )
            backend = HFBackend(path, device="cpu")
            clock = ForwardClock(backend.model)
            base = TrackerConfig.for_checkpoint(backend.checkpoint)
            crops = (base.crop_size,) if name == "nano" else (112, 336)
            for crop in crops:
                for think, tokens, count in (
                    (False, 24, args.frames),
                    (True, 128, args.think_frames),
                ):
                    config = dataclasses.replace(
                        base, crop_size=crop, think=think, max_new_tokens=tokens
                    )
                    runs: dict[bool, list[dict]] = {False: [], True: []}
                    for rep in range(args.repeats):
                        for draft in (False, True) if rep % 2 == 0 else (True, False):
                            runs[draft].append(
                                one_run(backend, clock, config, frames[: count + 2], box, draft)
                            )
                    for draft in (False, True):
                        row = {"model": name, "crop": crop, "think": think, "draft": draft}
                        row |= summarise(runs[draft]) | {"repeats": runs[draft]}
                        rows.append(row)
                        print(json.dumps({k: v for k, v in row.items() if k != "repeats"}))
                    ratios = [
                        off["seconds_per_frame"] / on["seconds_per_frame"]
                        for off, on in zip(runs[False], runs[True], strict=True)
                    ]
                    gain = statistics.median(ratios)
                    speedups[f"{name}_crop{crop}_{'think' if think else 'nothink'}"] = {
                        "median": gain,
                        "spread": [min(ratios), max(ratios)],
                        "counts": max(ratios) - min(ratios) < abs(gain - 1),
                    }
            backend.close()
    result = {
        "command": "python benchmarks/speed.py "
        f"--frames {args.frames} --think-frames {args.think_frames} --repeats {args.repeats} "
        f"--models {args.models}",
        "machine": machine(),
        "models": {
            "small": "r1track dev tiny-model --size small (26.6M parameters, random), fp32",
            "nano": "the bundled r1track-nano (7.4M parameters), fp32, at its own crop",
        },
        "clip": "assets/demo.mp4 (the first frames)",
        "rows": rows,
        "draft_speedup": speedups,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| model | crop | think | drafts | s/frame [spread] | frames/s | forwards/frame "
        "| accepted | floor s/frame | wall / floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        share = "-" if r["accepted_share"] is None else f"{r['accepted_share']:.0%}"
        print(
            f"| {r['model']} | {r['crop']} | {'yes' if r['think'] else 'no'} | "
            f"{'on' if r['draft'] else 'off'} | {r['seconds_per_frame']:.3f} "
            f"[{r['spread'][0]:.3f}, {r['spread'][1]:.3f}] | {r['fps']:.2f} | "
            f"{r['forwards_per_frame']:.1f} | {share} | {r['floor_seconds_per_frame']:.3f} | "
            f"{r['wall_over_floor']:.3f} |"
        )
    for key, value in speedups.items():
        lo, hi = value["spread"]
        counts = "counts" if value["counts"] else "within noise"
        print(f"draft speed-up {key}: {value['median']:.2f}x [{lo:.2f}, {hi:.2f}] ({counts})")


if __name__ == "__main__":
    main()
