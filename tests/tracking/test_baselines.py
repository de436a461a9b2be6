"""Reference trackers without a model: the no-motion baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_got10k
from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.evaluation import layout
from r1track.evaluation.report import score_run


def test_no_motion_baseline_repeats_the_first_box(tmp_path, capsys):
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=2, length=6)
    out = tmp_path / "base"
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    assert main([*args, "--baseline", "no-motion", "--out", str(out)]) == 0
    for seq in load_dataset("got10k", root, "val"):
        boxes = np.loadtxt(layout.boxes_path(out, "got10k", seq.name), delimiter=",")
        assert boxes.shape == (len(seq), 4)
        assert np.allclose(boxes, seq.boxes[0], atol=1e-3)
    report = score_run(out)
    # the white boxes move, so not moving scores below a perfect tracker
    assert 0 < report["ao"] < 0.9
    assert json.loads((out / layout.MANIFEST).read_text())["model"] == "baseline:no-motion"
    capsys.readouterr()
    assert main([*args, "--baseline", "no-motion", "--init", "text", "--out", str(out)]) == 2
    assert "box only" in capsys.readouterr().err
    # a model flag beside a baseline is refused, not silently ignored
    flags = ["--crop-size", "112", "--backend", "openai"]
    assert main([*args, "--baseline", "no-motion", *flags, "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--crop-size" in err[0] and "--backend" in err[0], err
    assert not (tmp_path / "f").exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse: --model or --baseline, not both
        main([*args, "--baseline", "no-motion", "--model", "m", "--out", str(out)])
    assert exit_info.value.code == 2
