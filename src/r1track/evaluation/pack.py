"""The GOT-10k test-server submission: a zip of `<seq>/<seq>_001.txt` and `<seq>/<seq>_time.txt`."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from r1track.datasets.base import read_list
from r1track.errors import UserError
from r1track.evaluation import layout


def pack_got10k(run: str | Path, out: str | Path) -> tuple[Path, int]:
    """Zip the test-split results of `run`; refuses, naming them, if any sequence is missing."""
    run, out = Path(run), Path(out)
    manifest = layout.read_manifest(run)
    if manifest is None:
        raise UserError(f"{run}: not a run directory (no {layout.MANIFEST})")
    if manifest["dataset"] != "got10k" or manifest["split"] != "test":
        raise UserError(
            f"{run}: a {manifest['dataset']} {manifest['split']} run; the GOT-10k server takes "
            "got10k test results only"
        )
    names = read_list(Path(manifest["root"]) / "test" / "list.txt")
    files = []
    missing = []
    for name in names:
        pair = [layout.boxes_path(run, "got10k", name), layout.times_path(run, "got10k", name)]
        if all(p.is_file() for p in pair):
            files += pair
        else:
            missing.append(name)
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise UserError(f"{len(missing)} of {len(names)} test sequences have no results: {shown}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory; give a file name")
    tmp = out.with_name(out.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, file.relative_to(run).as_posix())
        os.replace(tmp, out)
    finally:  # an interrupted or failed pack leaves no half-written zip behind
        tmp.unlink(missing_ok=True)
    return out, len(names)
