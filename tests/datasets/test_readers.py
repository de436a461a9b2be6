"""Readers of each benchmark's layout, and line-numbered errors on malformed datasets."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import write_got10k, write_lasot, write_otb, write_tnl2k, write_trackingnet
from r1track.datasets import DatasetError, load_dataset


def test_got10k_val_reads_labels_meta_and_visibility(tmp_path):
    names = write_got10k(tmp_path, "val", num_seqs=3, length=8)
    seqs = load_dataset("got10k", tmp_path, "val")
    assert [s.name for s in seqs] == names
    s = seqs[1]
    assert len(s) == 8 and s.boxes.shape == (8, 4) and s.has_groundtruth
    assert s.attributes["cover"][3] == 0 and s.attributes["absence"][3] == 1
    assert s.attributes["resolution"] == (160, 96)
    assert s.visible.tolist() == [True, True, True, False, True, True, True, True]
    frames = list(s.frames())
    assert len(frames) == 8 and frames[0].size == (160, 96)


def test_got10k_test_has_first_box_only(tmp_path):
    write_got10k(tmp_path, "test", num_seqs=2, length=6)
    seq = load_dataset("got10k", tmp_path, "test")[0]
    assert np.isfinite(seq.boxes[0]).all() and np.isnan(seq.boxes[1:]).all()
    assert not seq.has_groundtruth and seq.visible is None


def test_lasot(tmp_path):
    write_lasot(tmp_path)
    seqs = load_dataset("lasot", tmp_path, "test")
    assert [s.name for s in seqs] == ["box-1", "box-2"]
    assert seqs[0].description == "white box number 1"
    assert seqs[0].visible.tolist() == [True, True, False, True, True, True]
    assert len(load_dataset("lasot", tmp_path, "all")) == 2


def test_trackingnet(tmp_path):
    write_trackingnet(tmp_path)
    test = load_dataset("trackingnet", tmp_path, "test")
    train = load_dataset("trackingnet", tmp_path, "train_0")
    assert [s.name for s in test] == ["seq_0", "seq_1"] and len(test[0]) == 5
    assert not test[0].has_groundtruth and train[0].has_groundtruth
    assert [f.name for f in train[0].frame_files] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    with pytest.raises(DatasetError, match=r"train_0 \.\.\. train_11"):
        load_dataset("trackingnet", tmp_path, "train_12")


def test_otb_two_targets_and_separators(tmp_path):
    write_otb(tmp_path)
    seqs = {s.name: s for s in load_dataset("otb", tmp_path, "test")}
    assert sorted(seqs) == ["Car", "Jogging-1", "Jogging-2"]
    assert np.allclose(seqs["Jogging-2"].boxes, seqs["Jogging-1"].boxes + 1)


def test_tnl2k_descriptions(tmp_path):
    write_tnl2k(tmp_path)
    seqs = load_dataset("tnl2k", tmp_path, "test")
    assert [s.description for s in seqs] == ["the white box moving right"] * 2
    assert seqs[0].frame_files[0].name == "00001.png"


def test_malformed_datasets_name_file_and_line(tmp_path):
    write_got10k(tmp_path, "val", num_seqs=2, length=5)
    seq_dir = tmp_path / "val" / "GOT-10k_Val_000002"
    gt = seq_dir / "groundtruth.txt"
    lines = gt.read_text().splitlines()

    gt.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match=r"groundtruth.txt: 4 boxes for 5 frames"):
        load_dataset("got10k", tmp_path, "val")

    gt.write_text("\n".join([*lines[:2], "1,2,three,4", *lines[3:]]) + "\n")
    with pytest.raises(DatasetError, match=r"groundtruth.txt:3: not numbers"):
        load_dataset("got10k", tmp_path, "val")
    gt.write_text("\n".join(lines) + "\n")

    (seq_dir / "cover.label").write_text("8\n8\nx\n8\n8\n")
    with pytest.raises(DatasetError, match=r"cover.label:3: not a number"):
        load_dataset("got10k", tmp_path, "val")
    (seq_dir / "cover.label").write_text("8\n" * 5)

    (seq_dir / "meta_info.ini").write_text("resolution: (1, 2)\n")
    with pytest.raises(DatasetError, match=r"meta_info.ini:1: expected the header"):
        load_dataset("got10k", tmp_path, "val")

    (tmp_path / "val" / "list.txt").unlink()
    with pytest.raises(DatasetError, match=r"list.txt: missing"):
        load_dataset("got10k", tmp_path, "val")
