"""Score a run against its dataset's ground truth: report.json, a table, a success plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from r1track.datasets import load_dataset
from r1track.datasets.base import Sequence, read_boxes
from r1track.errors import UserError
from r1track.evaluation import layout
from r1track.evaluation.metrics import (
    GOT10K_CONVENTION,
    GOT10K_THRESHOLDS,
    OPE_CONVENTION,
    OPE_THRESHOLDS,
    SPEED_CONVENTION,
    got10k_scores,
    got10k_sequence_ious,
    ope_scores,
    ope_sequence,
    speeds,
)
from r1track.tracking.types import AnswerCounts, FrameResult


def _answer_counts(run: Path, seq: str) -> AnswerCounts:
    """How one sequence's answers went, from its track.jsonl (`AnswerCounts`, as `track` counts)."""
    path = layout.records_path(run, seq)
    if not path.is_file():
        return AnswerCounts()
    lines = path.read_text().splitlines()
    return AnswerCounts.of(FrameResult.from_record(json.loads(line)) for line in lines)


def _read_times(path: Path) -> np.ndarray:
    if not path.is_file():
        return np.zeros(0)
    return np.array([float(v) for v in path.read_text().split()], dtype=np.float64)


def score_run(
    run: str | Path,
    sequences: list[Sequence] | None = None,
    split_size: int | None = None,
    shard: tuple[int, int] | None = None,
) -> dict:
    """Compute the report of a run directory (dataset, split and root come from run.json).

    Scores `sequences` (default: the whole split); `split_size` (default: their number) is how
    many the split has, so a report of part of it (a shard, `--max-seqs`) says it is partial.
    """
    run = Path(run)
    manifest = layout.read_manifest(run)
    if manifest is None:
        raise UserError(f"{run}: not a run directory (no {layout.MANIFEST})")
    dataset = manifest["dataset"]
    if sequences is None:
        sequences = load_dataset(dataset, manifest["root"], manifest["split"])
    if split_size is None:
        split_size = len(sequences)
    rows, missing, ious, times, ope_rows = [], [], [], [], []
    totals = AnswerCounts()
    for seq in sequences:
        boxes_file = layout.boxes_path(run, dataset, seq.name)
        if not boxes_file.is_file():
            missing.append(seq.name)
            continue
        pred = read_boxes(boxes_file, expected=len(seq))
        seq_times = _read_times(layout.times_path(run, dataset, seq.name))
        counts = _answer_counts(run, seq.name)
        totals = totals + counts
        row = {
            "sequence": seq.name,
            "frames": len(seq),
            "fallbacks": counts.fallbacks,
            "unparsed": counts.unparsed,
        }
        times.append(seq_times)
        if seq.has_groundtruth:
            if dataset == "got10k":
                seq_ious = got10k_sequence_ious(
                    pred, seq.boxes, seq.attributes["cover"], seq.attributes["resolution"]
                )
                ious.append(seq_ious)
                scores = got10k_scores([seq_ious], [seq_times])
                row.update(
                    ao=scores["ao"],
                    sr50=scores["sr50"],
                    sr75=scores["sr75"],
                    scored_frames=len(seq_ious),  # the frames its AO pools (toolkit rules)
                )
            else:
                scores = ope_sequence(pred, seq.boxes)
                ope_rows.append(scores)
                row.update(
                    auc=scores["auc"],
                    precision=scores["precision"],
                    norm_precision=scores["norm_precision"],
                )
        rows.append(row)
    report: dict = {
        "run": str(run),
        "dataset": dataset,
        "split": manifest["split"],
        "model": manifest.get("model"),
        "sequences": len(rows),
        "missing": missing,
        "split_sequences": split_size,
        "complete": len(rows) == split_size,
        **({"shard": f"{shard[0]}/{shard[1]}"} if shard and shard[1] > 1 else {}),
        "answers": totals.answers,
        "unparsed_rate": totals.unparsed / totals.answers if totals.answers else None,
        "fallback_rate": totals.fallbacks / totals.answers if totals.answers else None,
        "per_sequence": rows,
    }
    if dataset == "got10k" and ious:
        report.update(convention=GOT10K_CONVENTION, **got10k_scores(ious, times))
    elif ope_rows:
        report.update(convention=OPE_CONVENTION, **ope_scores(ope_rows), **speeds(times))
    else:
        reason = _not_scored(run, manifest["split"], rows, missing)
        report.update(convention=reason, **speeds(times))
    if report["frames_per_second"] is not None:
        report["speed_convention"] = SPEED_CONVENTION
    return report


def _not_scored(run: Path, split: str, rows: list[dict], missing: list[str]) -> str:
    """Why a run has no scores: nothing finished (and how many failed), or no ground truth."""
    if rows:
        return f"no ground truth beyond the first frame ({split} split): not scored"
    failed = sum(layout.error_path(run, name).is_file() for name in missing)
    if missing and failed == len(missing):
        return f"not scored: all {failed} sequences failed (reasons in <seq>/error.txt)"
    return f"not scored: no sequence finished ({failed} of {len(missing)} failed)"


def write_report(run: str | Path, report: dict) -> Path:
    """RUN/report.json, or RUN/report.shard-K-of-N.json for a shard's report."""
    shard = report.get("shard")
    path = Path(run) / (layout.shard_report(shard) if shard else layout.REPORT)
    layout.atomic_write(path, json.dumps(report, indent=2) + "\n")
    return path


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def table(reports: list[dict]) -> str:
    """A plain-text table of one or more runs' overall numbers."""
    got = all(r["dataset"] == "got10k" for r in reports)
    scores = ["ao", "sr50", "sr75"] if got else ["auc", "precision", "norm_precision"]
    keys = [*scores, "frames_per_second", "fps_toolkit"]
    head = ["run", *scores, "frames/s", "fps_toolkit", "fallback", "seqs", "missing"]
    lines = [head]
    for r in reports:
        lines.append(
            [
                Path(r["run"]).name or r["run"],
                *(_fmt(r.get(k)) for k in keys),
                _fmt(r.get("fallback_rate")),
                str(r["sequences"]),
                str(len(r["missing"])),
            ]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    notes = [r.get(k) for k in ("convention", "speed_convention") for r in reports]
    conventions = [c for c in dict.fromkeys(notes) if c]
    partial = [partial_note(r, named=len(reports) > 1) for r in reports]
    return "\n".join(text + [f"({c})" for c in conventions] + [n for n in partial if n])


def partial_note(report: dict, named: bool = False, most: int = 5) -> str | None:
    """`partial: shard K/N, X of Y sequences; no results: ...` for a report that does not cover
    its whole split (None when it does), so that no one quotes a part as the whole."""
    if report.get("complete", True):
        return None
    note = "partial: " + (f"{Path(report['run']).name}: " if named else "")
    if report.get("shard"):
        note += f"shard {report['shard']}, "
    note += f"{report['sequences']} of {report['split_sequences']} sequences"
    missing = report["missing"]
    if missing:
        more = f" and {len(missing) - most} more" if len(missing) > most else ""
        note += f"; no results: {', '.join(missing[:most])}{more}"
    return note


def success_plot(reports: list[dict], path: str | Path) -> Path | None:
    """One success plot (success rate vs overlap threshold) for one or more runs."""
    curves = [r for r in reports if r.get("success_curve")]
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r in curves:
        got = r["dataset"] == "got10k"
        thresholds = GOT10K_THRESHOLDS if got else OPE_THRESHOLDS
        score = r["ao"] if got else r["auc"]
        label = f"{Path(r['run']).name} [{'AO' if got else 'AUC'} {score:.3f}]"
        ax.plot(thresholds, r["success_curve"], label=label)
    ax.set(
        xlabel="Overlap threshold",
        ylabel="Success rate",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"Success plot ({curves[0]['dataset']} {curves[0]['split']})",
    )
    ax.grid(True, alpha=0.4)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
