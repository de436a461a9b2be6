"""Samples/s of `data build` with 1 vs 2 workers; seconds per SFT and GRPO step (tiny-cpu configs).

    python benchmarks/training_speed.py [--samples 200] [--steps 10]

Data: a GOT-10k-format train split of 8 synthetic sequences x 40 frames of 640x360 (JPEG frames
decoded per sample, as with the real dataset). Training: `configs/tiny-cpu-{sft,grpo}.yaml` with
the tiny random model (`r1track dev tiny-model`), 112 px crops, 4 samples per step, GRPO groups
of 4 with up to 16 new tokens.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from eval_speed import write_dataset
from frame_overhead import machine

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="results/training_speed.json")
    args = parser.parse_args()

    from r1track.dev.tiny_model import build_tiny_model
    from r1track.training.config import load_config
    from r1track.training.data import BuildConfig, build_dataset
    from r1track.training.sampling import SamplingConfig
    from r1track.training.trainers import run_grpo, run_sft

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "got10k"
        write_dataset(root, 8, 40, split="train", size=(640, 360))
        for workers in (1, 2):
            config = BuildConfig(
                "got10k",
                str(root),
                "train",
                num_samples=args.samples,
                sampling=SamplingConfig(sizes=(112,)),
            )
            t0 = time.perf_counter()
            build_dataset(config, Path(tmp) / f"data{workers}", workers=workers, progress=False)
            seconds = time.perf_counter() - t0
            rows.append(
                {
                    "what": f"data build, {workers} worker(s)",
                    "seconds": seconds,
                    "rate": args.samples / seconds,
                    "unit": "samples/s",
                }
            )
        model = build_tiny_model(Path(tmp) / "tiny")
        for kind, run in (("sft", run_sft), ("grpo", run_grpo)):
            config = load_config(
                CONFIGS / f"tiny-cpu-{kind}.yaml",
                [
                    f"model.path={model}",
                    f"data.path={Path(tmp) / 'data1'}",
                    f"output_dir={Path(tmp) / kind}",
                    f"optim.max_steps={args.steps}",
                    "logging.save_steps=100000",
                ],
            )
            out = run(config)
            runtime = json.loads((out / "r1track_train.json").read_text())["metrics"][
                "train_runtime"
            ]
            rows.append(
                {
                    "what": f"{kind}, {args.steps} steps (trainer time)",
                    "seconds": runtime,
                    "rate": runtime / args.steps,
                    "unit": "s/step",
                }
            )
    result = {
        "command": "python benchmarks/training_speed.py "
        f"--samples {args.samples} --steps {args.steps}",
        "machine": machine(),
        "runs": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| what | seconds | rate |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['seconds']:.1f} | {r['rate']:.2f} {r['unit']} |")


if __name__ == "__main__":
    main()
