"""Packing a GOT-10k test run for the evaluation server."""

from __future__ import annotations

import zipfile

import pytest

from helpers import run_manifest, white_blob_oracle, write_got10k
from r1track.datasets import load_dataset
from r1track.errors import UserError
from r1track.evaluation import layout
from r1track.evaluation.pack import pack_got10k
from r1track.evaluation.runner import check_manifest, run_eval
from r1track.tracking import Tracker, TrackerConfig

CONFIG = TrackerConfig(crop_size=112)


def test_pack_got10k_test_submission(tmp_path, scripted):
    root = tmp_path / "data"
    names = write_got10k(root, "test", num_seqs=3, length=4)
    run = tmp_path / "run"
    check_manifest(run, run_manifest(root.resolve(), split="test"))
    run_eval(
        Tracker(scripted(white_blob_oracle), CONFIG),
        load_dataset("got10k", root, "test"),
        run,
        "got10k",
        progress=False,
    )
    out, count = pack_got10k(run, tmp_path / "sub.zip")
    assert count == 3
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(
            f"{n}/{n}_{suffix}.txt" for n in names for suffix in ("001", "time")
        )
        assert len(archive.read(f"{names[0]}/{names[0]}_001.txt").decode().split()) == 4
    layout.times_path(run, "got10k", names[2]).unlink()
    with pytest.raises(UserError, match=f"1 of 3 test sequences have no results: {names[2]}"):
        pack_got10k(run, tmp_path / "sub2.zip")
    assert not (tmp_path / "sub2.zip").exists()
