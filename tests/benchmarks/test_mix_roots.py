"""benchmarks/mix_roots.py, the mixing step of `make nano-video`: one training root whose
sequences are exactly the first N of each source root's, under names that do not clash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers import write_got10k
from r1track.datasets import load_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mix_roots.py"


def mix(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True
    )


def test_mix_takes_the_first_n_of_each_root_under_distinct_names(tmp_path):
    write_got10k(tmp_path / "a", "train", num_seqs=3, length=5)
    write_got10k(tmp_path / "b", "train", num_seqs=2, length=6, size=(128, 80))
    done = mix(tmp_path / "mix", f"{tmp_path / 'a'}:2", tmp_path / "b")
    assert done.returncode == 0, done.stderr
    mixed = load_dataset("got10k", tmp_path / "mix", "train")
    sources = load_dataset("got10k", tmp_path / "a", "train")[:2] + load_dataset(
        "got10k", tmp_path / "b", "train"
    )
    assert [s.name for s in mixed] == [
        "a-GOT-10k_Train_000001",
        "a-GOT-10k_Train_000002",
        "b-GOT-10k_Train_000001",
        "b-GOT-10k_Train_000002",
    ]
    for got, want in zip(mixed, sources, strict=True):
        np.testing.assert_array_equal(got.boxes, want.boxes)
        for f, g in zip(got.frames(), want.frames(), strict=True):
            np.testing.assert_array_equal(np.asarray(f), np.asarray(g))
    # rerun over the same folder: the same list, links left as they are
    assert mix(tmp_path / "mix", f"{tmp_path / 'a'}:2", tmp_path / "b").returncode == 0
    assert len(load_dataset("got10k", tmp_path / "mix", "train")) == 4


def test_mix_refuses_more_sequences_than_a_root_has(tmp_path):
    write_got10k(tmp_path / "a", "train", num_seqs=2, length=5)
    done = mix(tmp_path / "mix", f"{tmp_path / 'a'}:3")
    assert done.returncode != 0
    assert "has 2 sequences, not 3" in done.stderr and "Traceback" not in done.stderr
