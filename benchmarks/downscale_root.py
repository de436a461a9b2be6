"""A GOT-10k root at lower resolution (benchmarks/nano.md, experiment 17): every frame resized by
`--factor` (bicubic), boxes scaled alike, labels and descriptions kept.

    python benchmarks/downscale_root.py .cache/videos/vtest .cache/eval/vtest-third --factor 0.3333
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from r1track.datasets import load_dataset
from r1track.datasets.got10k import write_sequence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--factor", type=float, required=True, help="new side / old side, 0..1")
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    if not 0 < args.factor <= 1:
        parser.error(f"--factor must be in (0, 1], got {args.factor}")
    names = []
    for seq in load_dataset("got10k", args.root, args.split):
        frames = []
        for path in seq.frame_files:
            with Image.open(path) as im:
                size = (round(im.width * args.factor), round(im.height * args.factor))
                frames.append(im.convert("RGB").resize(size, Image.Resampling.BICUBIC))
        labels = {k: seq.attributes[k] for k in ("cover", "absence", "cut_by_image")}
        meta = {k: v for k, v in seq.attributes["meta"].items() if k != "resolution"}
        folder = args.out / args.split / seq.name
        write_sequence(
            folder,
            frames,
            seq.boxes * args.factor,
            **labels,
            meta=meta,
            description=seq.description,
        )
        names.append(seq.name)
    (args.out / args.split / "list.txt").write_text("".join(f"{n}\n" for n in names))
    where = args.out / args.split
    print(f"downscale_root.py: {len(names)} sequences at {args.factor:g} in {where}")


if __name__ == "__main__":
    main()
