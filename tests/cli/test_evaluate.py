"""`r1track eval` and `r1track report` on the command line: bad inputs, defaults, --plot."""

from __future__ import annotations

import json

import pytest

from helpers import (
    OPENAI_NO_SERVER,
    write_got10k,
    write_lasot,
    write_otb,
    write_tnl2k,
    write_trackingnet,
)
from r1track.cli import main
from r1track.evaluation import layout


def test_eval_bad_inputs_are_one_line_exit_2(tmp_path, capsys):
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=1, length=3)
    base = [
        "eval",
        "--dataset",
        "got10k",
        "--model",
        "m",
        *OPENAI_NO_SERVER,
        "--out",
        str(tmp_path / "o"),
    ]
    cases = {
        "no such dataset folder": ["--root", str(tmp_path / "nope")],
        "split must be one of": ["--root", str(root), "--split", "dev"],
        "expected K/N": ["--root", str(root), "--shard", "half"],
        "--batch must be at least 1": ["--root", str(root), "--batch", "0"],
        "has a description": ["--root", str(root), "--init", "text"],
    }
    for message, extra in cases.items():
        assert main([*base, *extra]) == 2, message
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_eval_without_split_uses_the_datasets_own_default(tmp_path, capsys):
    """`--split` defaults per dataset (OTB has no val split), and --help says which."""
    expected = {"got10k": "val", "lasot": "test", "otb": "test", "tnl2k": "test"}
    expected["trackingnet"] = "test"
    writers = {"lasot": write_lasot, "otb": write_otb, "tnl2k": write_tnl2k}
    writers["trackingnet"] = write_trackingnet
    writers["got10k"] = lambda root: write_got10k(root, "val", num_seqs=1, length=4)
    for dataset, split in expected.items():
        root = tmp_path / dataset
        writers[dataset](root)
        out = tmp_path / f"run-{dataset}"
        args = ["eval", "--dataset", dataset, "--root", str(root), "--baseline", "no-motion"]
        assert main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
        assert json.loads((out / layout.MANIFEST).read_text())["split"] == split
        assert json.loads((out / layout.REPORT).read_text())["sequences"] >= 1
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for dataset, split in expected.items():
        assert f"{dataset}: {split} (default)" in help_text


def test_report_of_one_run_writes_its_plot_where_told(tmp_path, capsys):
    from helpers import write_got10k

    write_got10k(tmp_path / "got", "val", num_seqs=1, length=3)
    run = tmp_path / "run"
    eval_args = ["--dataset", "got10k", "--root", str(tmp_path / "got"), "--split", "val"]
    assert main(["eval", *eval_args, "--baseline", "no-motion", "--out", str(run)]) == 0
    plot = tmp_path / "mine.svg"
    assert main(["report", str(run), "--plot", str(plot)]) == 0
    assert plot.read_text().lstrip().startswith("<?xml")  # an SVG, where --plot said
