"""One GOT-10k training root linking the first N sequences of several (benchmarks/nano.md,
experiment 15): `python benchmarks/mix_roots.py OUT ROOT[:N] ...`. Each sequence is a symbolic link
named `<root's folder name>-<sequence>` (so two roots' `GOT-10k_Train_000001` do not clash), in the
order given; OUT/train/list.txt lists them. What `r1track data build --root OUT` samples from."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("roots", nargs="+", help="ROOT or ROOT:N (its train split's first N)")
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    split = args.out / args.split
    split.mkdir(parents=True, exist_ok=True)
    names = []
    for spec in args.roots:
        root, _, count = spec.partition(":")
        src = Path(root) / args.split
        if not (src / "list.txt").is_file():
            raise SystemExit(f"mix_roots.py: no {src / 'list.txt'}")
        seqs = (src / "list.txt").read_text().split()
        if count and int(count) > len(seqs):
            raise SystemExit(f"mix_roots.py: {root} has {len(seqs)} sequences, not {count}")
        for seq in seqs[: int(count) if count else None]:
            name = f"{Path(root).name}-{seq}"
            link = split / name
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(src / seq, split))
            names.append(name)
    (split / "list.txt").write_text("\n".join(names) + "\n")
    print(f"mix_roots.py: {len(names)} sequences in {split}")


if __name__ == "__main__":
    main()
