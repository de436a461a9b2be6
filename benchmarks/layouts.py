"""Which input does a checkpoint track best with? Each layout / resize / image-format variant
evaluated side by side on the same GOT-10k sequences, each against the checkpoint's own settings
with a paired bootstrap interval (as paired_ao.py).

    python benchmarks/layouts.py --model M --root GOT10K_ROOT [--split val] [--max-seqs N] \\
        --out runs/layouts [--variants layout=reference-eval resize=pil ...] [-- EVAL FLAGS]

Every variant is one `r1track eval` run in OUT/<variant> (resumable: rerun the same command);
`base` is the checkpoint's own settings (r1track_tracker.json, the released-checkpoint table or
the defaults), every other variant changes one setting by its flag. Flags after `--` go to every
run (e.g. `-- --batch 8 --device cuda`). With a released R1-Track checkpoint on a GPU this is the
measurement that settles docs/fidelity.md's defaults.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from paired_ao import compare, paired

VARIANTS = (
    "layout=reference-train",
    "layout=reference-eval",
    "layout=r1track",
    "resize=cv2",
    "resize=pil",
    "image_format=jpeg",
    "image_format=png",
)


def flags(variant: str) -> list[str]:
    """`layout=reference-eval` -> ["--layout", "reference-eval"]; settings joined by `+` change
    together (`redetect=on+redetect_context=4`); `on` / `off` give a switch's two flags."""
    out = []
    for part in variant.split("+"):
        key, _, value = part.partition("=")
        if not value:
            raise SystemExit(f"variant {variant!r}: expected KEY=VALUE, e.g. layout=reference-eval")
        flag = "--" + key.replace("_", "-")
        if value in ("on", "off"):
            out.append(flag if value == "on" else "--no-" + flag[2:])
        else:
            out += [flag, value]
    return out


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--root", required=True, help="GOT-10k-layout dataset root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--max-seqs", type=int)
    parser.add_argument("--out", required=True)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--samples", type=int, default=10000)
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    out = Path(args.out)
    common = ["--dataset", "got10k", "--root", args.root, "--split", args.split]
    common += ["--model", args.model, *extra]
    if args.max_seqs:
        common += ["--max-seqs", str(args.max_seqs)]
    runs = {}
    for variant in ["base", *args.variants]:
        run = out / variant.replace("=", "-")
        command = [sys.executable, "-m", "r1track.cli", "eval", *common, "--out", str(run)]
        command += flags(variant) if variant != "base" else []
        print(f"== {variant}: {' '.join(command[3:])}", file=sys.stderr, flush=True)
        if subprocess.run(command, stdout=sys.stderr).returncode not in (0, 1):  # 1: some failed
            raise SystemExit(f"{variant}: r1track eval failed")
        runs[variant] = str(run)
    rows = []
    for variant, run in runs.items():
        ao_a, ao_b, w = paired([runs["base"]], [run])
        report = json.loads((Path(run) / "report.json").read_text())
        row = {"variant": variant, "ao": report["ao"], "sr50": report["sr50"]}
        row["frames_per_second"] = report.get("frames_per_second")
        if report.get("recovery"):  # the lost-and-found figures, where the set has labels
            row["recovery"] = report["recovery"]
            row["visibility_f1"] = report["visibility_f1"]
        if variant != "base":
            c = compare(ao_a, ao_b, w, args.samples)
            row |= {"minus_base": c["b_minus_a"], "ci95": c["ci95"]}
        rows.append(row)
    print(
        f"{'variant':40} {'AO':>6} {'SR0.5':>6}  minus base [95% interval]  recovery  vis F1  fps"
    )
    for r in rows:
        diff = (
            f"{r['minus_base']:+.4f} [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]"
            if "ci95" in r
            else "-"
        )
        lost = ""
        if "recovery" in r:
            rec, vis = r["recovery"], r["visibility_f1"]
            lost = f"  {rec['recovered']}/{rec['reappearances']}  {_num(vis['f1'])}"
        fps = _num(r["frames_per_second"], ".1f")
        print(f"{r['variant']:40} {r['ao']:6.3f} {r['sr50']:6.3f}  {diff}{lost}  {fps}")
    (out / "layouts.json").write_text(json.dumps(rows, indent=2) + "\n")


def _num(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    main()
