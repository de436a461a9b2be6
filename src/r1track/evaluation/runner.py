"""Run a tracker over a benchmark: resumable, sharded, several sequences per batched model call.

- Resumable: a sequence whose boxes file exists is skipped; any other is (re)done from its first
  frame. Files are written atomically at the end of a sequence, boxes last, so a killed run never
  leaves a truncated result and a rerun ends with the same files as an uninterrupted run.
- Isolated failures: a sequence that fails (unreadable frame, server down, nothing to ground) is
  recorded in `RUN/<seq>/error.txt` and the run goes on with the others, except that
  `MAX_BACKEND_FAILURES` sequences in a row failing on the backend (no model answer in between)
  stop the run with a `BackendError`: a dead server is not retried for every sequence.
- Lockstep batching: `batch` sequences advance together, one frame each per backend call.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from r1track.datasets.base import Sequence
from r1track.errors import BackendError, UserError, shorten
from r1track.evaluation import layout
from r1track.evaluation.metrics import xywh_iou
from r1track.models import model_identity
from r1track.outputs import format_xywh
from r1track.tracking.loop import MAX_BACKEND_FAILURES, BackendDown, TrackJob, run_tracks
from r1track.tracking.settings import TrackerConfig
from r1track.tracking.types import FrameResult, TrackerLike

# Settings that change the results: a run directory holds results of one combination only.
# The dataset is its name, root and split: results of another root's sequences of the same names
# would be skipped as done and then scored against frames they were not tracked on.
IDENTITY_KEYS = ("dataset", "root", "split", "model", "weights", "backend", "init", "tracker")
LATER_KEYS = ("weights",)
"""Identity keys that manifests written before them lack: such a run is compared without them."""
FLAGS = {k: f"--{k}" for k in ("dataset", "root", "split", "model", "backend", "init")}
"""The command-line flag of each identity key that has one (messages name flags)."""


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` -> (K, N) with 1 <= K <= N."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {shorten(text)}: expected K/N, e.g. 1/4") from None
    if not 1 <= k <= n:
        raise UserError(f"--shard {shorten(text)}: need 1 <= K <= N")
    return k, n


def select(sequences: list[Sequence], shard: tuple[int, int] = (1, 1), max_seqs: int | None = None):
    """The first `max_seqs` sequences, then every N-th of them starting at the K-th."""
    chosen = sequences[:max_seqs] if max_seqs else sequences
    k, n = shard
    return chosen[k - 1 :: n]


def check_manifest(run: Path, manifest: dict) -> None:
    """Refuse to mix results of different settings in one run directory; write the manifest."""
    old = layout.read_manifest(run)
    if old is not None:
        changed = [
            k
            for k in IDENTITY_KEYS
            if _identity(old, k) != _identity(manifest, k)
            and not (k in LATER_KEYS and k not in old)
        ]
        if changed:
            detail = ", ".join(FLAGS.get(k, k) for k in changed) + " differ"
            if "root" in changed:
                detail += f"; the run's --root is {old.get('root')}"
            raise UserError(f"{run} holds a run with other settings ({detail}); use another --out")
        return
    layout.atomic_write(run / layout.MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _identity(manifest: dict, key: str):
    """A manifest's value for `key` as runs compare it: a bundled model by its name, also where
    an older run recorded the path of its folder in this or another install of the package; the
    tracker's settings with those a manifest predates at the values runs had before them."""
    value = manifest.get(key)
    if key == "model" and isinstance(value, str):
        return model_identity(value)
    if key == "tracker" and isinstance(value, dict):
        return {**asdict(TrackerConfig()), **_TRACKER_BEFORE, **value}
    return value


# Tracker settings added after runs existed, at the value every run before them used where that
# is not today's default (a setting a manifest lacks otherwise had its default: features added
# later, such as re-detection, were off).
_TRACKER_BEFORE = {"layout": "r1track", "resize": "pil", "image_format": "png"}


@dataclass
class RunOutcome:
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0


def _iou(seq: Sequence, result: FrameResult) -> float | None:
    """IoU with the ground truth when it is known and the target visible."""
    gt = seq.boxes[result.index]
    visible = seq.visible is None or bool(seq.visible[result.index])
    if result.index == 0 or not visible or not np.all(np.isfinite(gt)) or gt[2] <= 0:
        return None
    return float(xywh_iou(np.asarray([result.box]), gt[None])[0])


def _finish(run: Path, dataset: str, seq: str, results: list[FrameResult]) -> None:
    records = "".join(json.dumps(r.record()) + "\n" for r in results)
    layout.atomic_write(layout.records_path(run, seq), records)
    times = "".join(f"{r.seconds:.8f}\n" for r in results)
    layout.atomic_write(layout.times_path(run, dataset, seq), times)
    boxes = "".join(format_xywh(r.box) + "\n" for r in results)
    layout.atomic_write(layout.boxes_path(run, dataset, seq), boxes)  # last: marks it finished


def _fail(run: Path, seq: Sequence, reason: str, outcome: RunOutcome) -> None:
    layout.atomic_write(layout.error_path(run, seq.name), reason + "\n")
    outcome.failed[seq.name] = reason


def run_eval(
    tracker: TrackerLike,
    sequences: list[Sequence],
    run: str | Path,
    dataset: str,
    init: str = "bbox",
    batch: int = 1,
    progress: bool = True,
) -> RunOutcome:
    """Track every sequence not finished yet into `run` (`run_tracks`, `batch` sequences in
    lockstep); returns what happened."""
    from tqdm import tqdm

    run = Path(run)
    outcome = RunOutcome()
    pending = []
    for seq in sequences:
        if layout.is_finished(run, dataset, seq.name):
            outcome.skipped.append(seq.name)
        else:
            pending.append(seq)
    total = sum(len(s) for s in pending)
    bar = tqdm(total=total, unit="frame", desc="eval", file=sys.stderr, disable=not progress)
    ious: list[float] = []
    seq_of: dict[int, Sequence] = {}
    results: dict[int, list[FrameResult]] = {}

    def jobs() -> Iterator[TrackJob]:
        """A job per pending sequence, made when the loop has room for it."""
        for seq in pending:
            layout.error_path(run, seq.name).unlink(missing_ok=True)
            if init == "text" and not seq.description:
                _fail(run, seq, "no language description for text initialisation", outcome)
                bar.update(len(seq))
                continue
            job = TrackJob(
                seq.frames(),
                bbox=seq.init_box if init != "text" else None,
                text=seq.description if init == "text" else None,
                name=seq.name,
            )
            seq_of[id(job)], results[id(job)] = seq, []
            yield job

    try:
        for event in run_tracks(tracker, jobs(), batch, MAX_BACKEND_FAILURES):
            seq, done = seq_of[id(event.job)], results[id(event.job)]
            if event.result is not None:
                done.append(event.result)
                iou = _iou(seq, event.result)
                if iou is not None:
                    ious.append(iou)
                bar.update(1)
                if ious:
                    bar.set_postfix(AO=f"{np.mean(ious):.3f}", refresh=False)
            elif event.finished:
                _finish(run, dataset, seq.name, done)
                outcome.finished.append(seq.name)
                outcome.frames += len(done)
                outcome.seconds += sum(r.seconds for r in done)
            else:
                _fail(run, seq, str(event.error), outcome)
                bar.update(len(seq) - len(done))
    except BackendDown as exc:
        raise BackendError(
            f"{exc.streak} sequences in a row failed on the backend, so the run stopped "
            f"(last: {exc.last}); rerun the same command to resume"
        ) from exc.last
    finally:
        bar.close()
    return outcome
