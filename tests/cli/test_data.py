"""`r1track data build` and `data synth` on the command line: one-line errors, refusals."""

from __future__ import annotations

from r1track.cli import main
from r1track.datasets import load_dataset


def test_data_build_bad_inputs(got_train, tmp_path, capsys):
    base = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--num-samples", "4"]
    for extra, message in (
        (["--sizes", "100"], "multiples of 28"),
        (["--sizes", "a"], "expected integers"),
        (["--val-fraction", "1.5"], "val-fraction"),
        (["--root", str(tmp_path / "none")], "no such dataset folder"),
        (["--context-range", "3"], "expected LOW,HIGH"),
        (["--context-range", "4,2"], "LOW <= HIGH"),
        (["--jitter", "0.7"], "--jitter"),
        (["--template-jitter", "-0.1"], "--template-jitter"),
        (["--template-context", "0.5"], "--template-context"),
        (["--template-context", "nan"], "--template-context"),
    ):
        assert main([*base, *extra, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def _tree(root):
    """Every file under `root` with its bytes, to show that nothing was written."""
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_into_a_split_that_has_content_is_refused(tmp_path, capsys):
    """A second `data synth` into the same split would leave the first one's frames mixed in
    (an eval then fails on "N boxes for M frames"); another split of the same root is fine."""
    root = tmp_path / "data"
    args = ["data", "synth", "--out", str(root), "--width", "64", "--height", "64"]
    args += ["--min-length", "5", "--max-length", "30", "--num-seqs", "2"]
    assert main([*args, "--split", "val", "--seed", "0"]) == 0
    before = _tree(root)
    capsys.readouterr()
    assert main([*args, "--split", "val", "--seed", "1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"r1track: error: --out: {root / 'val'}/ exists and is not empty;"
        " use another --out or --split, or remove it"
    ]
    assert _tree(root) == before
    assert main([*args, "--split", "test", "--seed", "1"]) == 0  # another split: written
    assert len(load_dataset("got10k", root, "test")) == 2
    assert {p: b for p, b in _tree(root).items() if p in before} == before
