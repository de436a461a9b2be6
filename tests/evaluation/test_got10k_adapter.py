"""The GOT-10k toolkit runs our tracker through the adapter, and agrees with our runner."""

from __future__ import annotations

import numpy as np

from helpers import run_manifest, white_blob_oracle, write_got10k
from r1track.datasets import load_dataset
from r1track.evaluation import layout
from r1track.evaluation.got10k_adapter import GOT10kTracker
from r1track.evaluation.report import score_run
from r1track.evaluation.runner import check_manifest, run_eval
from r1track.tracking import Tracker, TrackerConfig

CONFIG = TrackerConfig(crop_size=112)


def test_the_toolkit_runs_our_tracker(tmp_path, scripted):
    from got10k.experiments import ExperimentGOT10k

    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=2, length=6)
    tracker = GOT10kTracker(Tracker(scripted(white_blob_oracle), CONFIG), name="r1track")
    experiment = ExperimentGOT10k(
        str(root), subset="val", result_dir=str(tmp_path / "res"), report_dir=str(tmp_path / "rep")
    )
    experiment.run(tracker)
    official = experiment.report(["r1track"])["r1track"]["overall"]
    assert official["ao"] > 0.85
    # the same tracker through our runner gives the same boxes and the same AO
    run = tmp_path / "ours"
    sequences = load_dataset("got10k", root, "val")
    check_manifest(run, run_manifest(root))
    run_eval(Tracker(scripted(white_blob_oracle), CONFIG), sequences, run, "got10k", progress=False)
    for seq in sequences:
        theirs = np.loadtxt(
            tmp_path / "res" / "GOT-10k" / "r1track" / seq.name / f"{seq.name}_001.txt",
            delimiter=",",
        )
        mine = np.loadtxt(layout.boxes_path(run, "got10k", seq.name), delimiter=",")
        assert np.allclose(theirs, mine, atol=1e-3)
    assert abs(score_run(run)["ao"] - official["ao"]) < 1e-4
