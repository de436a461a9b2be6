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
    LOST_FOUND_CONVENTION,
    OPE_CONVENTION,
    OPE_THRESHOLDS,
    SPEED_CONVENTION,
    frame_ious,
    got10k_scores,
    got10k_sequence_ious,
    ope_scores,
    ope_sequence,
    pooled_recovery,
    recovery_rate,
    speeds,
    visibility_counts,
    visibility_scores,
)
from r1track.tracking.types import AnswerCounts, FrameResult


def _read_records(run: Path, seq: str) -> list[dict]:
    """One sequence's track.jsonl records ([] when the run has none, e.g. imported results)."""
    path = layout.records_path(run, seq)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _said_visible(results: list[FrameResult], frames: int, path: Path) -> np.ndarray:
    """The tracker's per-frame visible flag from its records (`FrameResult.visible`: True for a
    record from before trackers said so); True for a frame that has no record."""
    said = np.ones(frames, dtype=bool)
    for result in results:
        if not 0 <= result.index < frames:
            raise UserError(f"{path}: a record of frame {result.index}, the sequence has {frames}")
        said[result.index] = result.visible
    return said


def _lost_and_found_figures(recovery: list[tuple[int, int]], visibility: list[dict]) -> dict:
    """The report's `recovery` and `visibility_f1` entries, pooled over the given sequences."""
    return {"recovery": pooled_recovery(recovery), "visibility_f1": visibility_scores(visibility)}


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
    recovery, visibility = [], []
    totals = AnswerCounts()
    for seq in sequences:
        boxes_file = layout.boxes_path(run, dataset, seq.name)
        if not boxes_file.is_file():
            missing.append(seq.name)
            continue
        pred = read_boxes(boxes_file, expected=len(seq))
        seq_times = _read_times(layout.times_path(run, dataset, seq.name))
        results = [FrameResult.from_record(r) for r in _read_records(run, seq.name)]
        counts = AnswerCounts.of(results)
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
            if seq.visible is not None:
                # IoUs of every frame, clipped to the image where its size is known (GOT-10k)
                all_ious = frame_ious(pred, seq.boxes, seq.attributes.get("resolution"))
                said = _said_visible(results, len(seq), layout.records_path(run, seq.name))
                recovery.append(recovery_rate(all_ious, seq.visible))
                visibility.append(visibility_counts(said, seq.visible))
                row.update(_lost_and_found_figures(recovery[-1:], visibility[-1:]))
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
    if recovery:
        report.update(lost_found_convention=LOST_FOUND_CONVENTION)
        report.update(_lost_and_found_figures(recovery, visibility))
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


def _fmt_recovery(recovery: dict | None) -> str:
    """`rate (recovered/reappearances)`, e.g. `0.214 (3/14)`; `-` when not measured."""
    if recovery is None:
        return "-"
    return f"{_fmt(recovery['rate'])} ({recovery['recovered']}/{recovery['reappearances']})"


def table(reports: list[dict]) -> str:
    """A plain-text table of one or more runs' overall numbers; the lost-and-found columns
    (recovery, vis_f1) when some run has them (a dataset with visibility labels)."""
    got = all(r["dataset"] == "got10k" for r in reports)
    scores = ["ao", "sr50", "sr75"] if got else ["auc", "precision", "norm_precision"]
    keys = [*scores, "frames_per_second", "fps_toolkit"]
    found = any("recovery" in r for r in reports)
    head = ["run", *scores, "frames/s", "fps_toolkit"]
    head += ["recovery", "vis_f1"] if found else []
    head += ["fallback", "seqs", "missing"]
    lines = [head]
    for r in reports:
        f1 = (r.get("visibility_f1") or {}).get("f1")
        lines.append(
            [
                Path(r["run"]).name or r["run"],
                *(_fmt(r.get(k)) for k in keys),
                *([_fmt_recovery(r.get("recovery")), _fmt(f1)] if found else []),
                _fmt(r.get("fallback_rate")),
                str(r["sequences"]),
                str(len(r["missing"])),
            ]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    note_keys = ("convention", "speed_convention", "lost_found_convention")
    notes = [r.get(k) for k in note_keys for r in reports]
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
