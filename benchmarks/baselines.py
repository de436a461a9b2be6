"""A model beside the trackers a user would pick instead: one `r1track eval` run per tracker and
set, then one table (AO / SR0.5 / SR0.75 / frames per second per set).

    python benchmarks/baselines.py --out runs/baselines \\
        --set val=.cache/nano/synth-val --set real=../shared/real-clips \\
        --tracker no-motion --tracker csrt --tracker kcf --tracker mil \\
        --tracker nano="--model nano --batch 8" [--split val]

A `--tracker` is a baseline name (`r1track eval --baseline NAME`) or `LABEL="EVAL FLAGS"` for a
model. Every run goes to OUT/<set>/<tracker> and resumes when the command is run again; the table
is printed as markdown and written to OUT/baselines.json. Frames per second are the tracker's own
(per-frame step times, video decoding and writes excluded: `report.json` `frames_per_second`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


def tracker_flags(spec: str) -> tuple[str, list[str]]:
    """`csrt` -> ("csrt", ["--baseline", "csrt"]); `nano=--model nano --batch 8` -> ("nano",
    ["--model", "nano", "--batch", "8"])."""
    if "=" not in spec:
        return spec, ["--baseline", spec]
    label, flags = _pair(spec)
    return label, shlex.split(flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", dest="sets", type=_pair, action="append", required=True)
    parser.add_argument("--tracker", dest="trackers", action="append", required=True)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    out = Path(args.out)
    rows = []
    for set_name, root in args.sets:
        for spec in args.trackers:
            label, flags = tracker_flags(spec)
            run = out / set_name / label
            command = [sys.executable, "-m", "r1track.cli", "eval", "--dataset", "got10k"]
            command += ["--root", root, "--split", args.split, *flags, "--out", str(run)]
            print(f"== {set_name} / {label}: {shlex.join(command[3:])}", file=sys.stderr)
            if subprocess.run(command, stdout=sys.stderr).returncode not in (0, 1):
                raise SystemExit(f"{set_name} / {label}: r1track eval failed")
            report = json.loads((run / "report.json").read_text())
            rows.append(
                {
                    "set": set_name,
                    "tracker": label,
                    "ao": report["ao"],
                    "sr50": report["sr50"],
                    "sr75": report["sr75"],
                    "frames_per_second": report.get("frames_per_second"),
                }
            )
    (out / "baselines.json").write_text(json.dumps(rows, indent=2) + "\n")
    sets = [name for name, _ in args.sets]
    print("| tracker | " + " | ".join(f"{s} AO / SR0.5 / SR0.75 | {s} fps" for s in sets) + " |")
    print("|---|" + "---|---|" * len(sets))
    for spec in args.trackers:
        label, _ = tracker_flags(spec)
        cells = []
        for s in sets:
            r = next(r for r in rows if r["set"] == s and r["tracker"] == label)
            fps = r["frames_per_second"]
            cells.append(f"{r['ao']:.3f} / {r['sr50']:.3f} / {r['sr75']:.3f}")
            cells.append("-" if fps is None else f"{fps:.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
