"""Where a run's files live: the benchmarks' official result layouts, in one place.

GOT-10k: `RUN/<seq>/<seq>_001.txt` (boxes x,y,w,h, first row = the given box) and
`RUN/<seq>/<seq>_time.txt` (seconds per frame), as the toolkit and the test server expect.
LaSOT, TrackingNet, OTB, TNL2K: `RUN/<seq>.txt` (boxes) and `RUN/<seq>/time.txt`.
Every sequence also gets `RUN/<seq>/track.jsonl` (one record per frame) and, when it failed,
`RUN/<seq>/error.txt`. The boxes file is written last and atomically: it marks a finished sequence.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MANIFEST = "run.json"
REPORT = "report.json"


def shard_report(shard: str) -> str:
    """The report of shard `K/N` alone (report.json is the whole split's, `r1track report`)."""
    k, n = shard.split("/")
    return f"report.shard-{k}-of-{n}.json"


def boxes_path(run: Path, dataset: str, seq: str) -> Path:
    return run / seq / f"{seq}_001.txt" if dataset == "got10k" else run / f"{seq}.txt"


def times_path(run: Path, dataset: str, seq: str) -> Path:
    return run / seq / f"{seq}_time.txt" if dataset == "got10k" else run / seq / "time.txt"


def records_path(run: Path, seq: str) -> Path:
    return run / seq / "track.jsonl"


def error_path(run: Path, seq: str) -> Path:
    return run / seq / "error.txt"


def is_finished(run: Path, dataset: str, seq: str) -> bool:
    return boxes_path(run, dataset, seq).is_file()


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that a crash leaves either the old file, or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(run: Path) -> dict | None:
    path = run / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None
