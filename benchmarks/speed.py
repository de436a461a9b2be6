"""Frames/s with template reuse off vs on, no-think vs think, crops 112 and 336, against the limit.

The limit of an MLLM tracker is one prefill of the search image and its text on top of the cached
template prefix, plus the decoding of the answer's tokens. We measure it directly on the same
frames: the model calls alone (vision encoder for the search image, language-model prefill of the
suffix, one forward per answer token), with no crop, image processing, tokenisation or parsing.

Model: `r1track dev tiny-model --size small` (26.6M parameters, random): large enough that model
compute dominates a frame on this CPU. A random model never closes its answer, so the answer length
is fixed by the token budget: 24 tokens without thinking (about the length of a box in Qwen's
tokenizer, which spells digits one by one) and 128 with thinking.

    python benchmarks/speed.py [--frames 8] [--think-frames 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from frame_overhead import machine


def limit_seconds(backend, request, n_tokens: int) -> float:
    """Model-only time of one frame on the cached prefix: search prefill + n_tokens decodes."""
    import torch

    from r1track.backends.hf import VISION_END

    head, sep, tail = backend.render(request).partition(VISION_END)
    prefix = backend._prefix(request, head + sep)
    suffix, pixels, grid = backend.tokenize_with_images(tail, request.images[1:])
    model = backend.model
    n_prefix = prefix.ids.shape[1]
    with torch.inference_mode():
        positions = backend._suffix_positions(prefix, suffix, grid)
        next_position = int(positions.max()) + 1
        t0 = time.perf_counter()
        out = backend._prefill_suffix(prefix, suffix, pixels, grid, positions)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        for i in range(n_tokens - 1):
            step = torch.full((3, 1, 1), next_position + i)
            out = model(
                input_ids=token, position_ids=step, past_key_values=prefix.cache, use_cache=True
            )
            token = out.logits[:, -1].argmax(-1, keepdim=True)
        seconds = time.perf_counter() - t0
    prefix.cache.crop(n_prefix - prefix.cache.get_seq_length())
    return seconds


def run(backend, frames, box, crop: int, think: bool, reuse: bool, tokens: int, limit: bool):
    from r1track.backends.base import GenerationRequest
    from r1track.geometry import crop_image, crop_window
    from r1track.tracking import Tracker, TrackerConfig, TrackJob, run_tracks

    backend.reuse_template = reuse
    tracker = Tracker(backend, TrackerConfig(crop_size=crop, think=think, max_new_tokens=tokens))
    walls, limits, generated = [], [], []
    job = TrackJob(frames, bbox=box)
    t0, search_box = time.perf_counter(), None
    for event in run_tracks(tracker, [job]):  # the loop `track` and `eval` run
        if event.error is not None:
            raise event.error
        if event.result is None:
            continue
        wall = time.perf_counter() - t0
        # frame 0 starts the track, frame 1 warms up (and makes the prefix, when reused)
        if event.result.index >= 2:
            walls.append(wall)
            generated.append(backend.last_generated[0])
            if limit and search_box is not None:
                window = crop_window(search_box, tracker.config.search_factor, crop)
                request = GenerationRequest(
                    (job.state.template, crop_image(event.frame, window)),
                    job.state.prompt,
                    tokens,
                    prefix_key=job.state.key,
                    think=think,
                    layout=tracker.config.layout,
                )
                limits.append(limit_seconds(backend, request, generated[-1]))
        search_box = job.state.box.copy()  # where the next frame's search crop is cut
        t0 = time.perf_counter()
    row = {
        "crop": crop,
        "think": think,
        "reuse": reuse,
        "answer_tokens": generated[0],
        "frames": len(walls),
        "seconds_per_frame": statistics.mean(walls),
        "fps": 1 / statistics.mean(walls),
    }
    if limits:
        row["limit_seconds_per_frame"] = statistics.mean(limits)
        row["wall_over_limit"] = statistics.mean(walls) / statistics.mean(limits)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="timed frames per no-think run")
    parser.add_argument("--think-frames", type=int, default=4, help="timed frames per think run")
    parser.add_argument("--out", default="results/speed.json")
    args = parser.parse_args()

    import torch

    from r1track.backends.hf import HFBackend
    from r1track.dev.synth_video import synth_frames
    from r1track.dev.tiny_model import SIZES, build_tiny_model

    torch.manual_seed(0)
    n = max(args.frames, args.think_frames) + 2
    pairs = list(synth_frames(n, 640, 360, seed=0))
    frames, box = [f for f, _ in pairs], pairs[0][1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        backend = HFBackend(
            str(build_tiny_model(Path(tmp) / "small", SIZES["small"])), device="cpu"
        )
        for crop in (112, 336):
            for think, tokens, count in ((False, 24, args.frames), (True, 128, args.think_frames)):
                for reuse in (False, True):
                    rows.append(
                        run(
                            backend,
                            frames[: count + 2],
                            box,
                            crop,
                            think,
                            reuse,
                            tokens,
                            limit=reuse,
                        )
                    )
                    print(json.dumps(rows[-1]))
    speedups = {}
    for crop in (112, 336):
        for think in (False, True):
            off, on = (r for r in rows if r["crop"] == crop and r["think"] == think)
            speedups[f"crop{crop}_{'think' if think else 'nothink'}"] = (
                off["seconds_per_frame"] / on["seconds_per_frame"]
            )
    result = {
        "command": "python benchmarks/speed.py "
        f"--frames {args.frames} --think-frames {args.think_frames}",
        "machine": machine(),
        "model": "r1track dev tiny-model --size small (26.6M parameters, random), fp32, CPU",
        "runs": rows,
        "reuse_speedup": speedups,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| crop | think | answer tokens | reuse | s/frame | frames/s | limit s/frame | wall/limit |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lim = (
            f"{r['limit_seconds_per_frame']:.3f} | {r['wall_over_limit']:.3f}"
            if "wall_over_limit" in r
            else "- | -"
        )
        print(
            f"| {r['crop']} | {'yes' if r['think'] else 'no'} | {r['answer_tokens']} | "
            f"{'on' if r['reuse'] else 'off'} | {r['seconds_per_frame']:.3f} | {r['fps']:.2f} "
            f"| {lim} |"
        )
    for key, value in speedups.items():
        print(f"reuse speed-up {key}: {value:.2f}x")


if __name__ == "__main__":
    main()
