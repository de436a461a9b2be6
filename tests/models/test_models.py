"""Models by name: bundled models, their recorded identity, and weights digests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_got10k
from r1track.cli import main
from r1track.errors import UserError
from r1track.evaluation import layout


def test_a_bundled_model_is_recorded_by_name(tmp_path, tiny_model, monkeypatch, capsys):
    """`--model nano` records "nano", not its install path: a run resumes after the package
    is reinstalled elsewhere (same weights digest), also a run that recorded an old path."""
    import shutil

    from r1track import models

    installs = [tmp_path / f"site{i}" / "r1track" / "models" / "nano" for i in (1, 2)]
    for folder in installs:
        shutil.copytree(tiny_model, folder)
    root = tmp_path / "data"
    write_got10k(root, "val", num_seqs=1, length=3)
    args = ["eval", "--dataset", "got10k", "--root", str(root), "--split", "val"]
    args += ["--model", "nano", "--crop-size", "112"]
    run = tmp_path / "run"
    monkeypatch.setitem(models.BUNDLED, "nano", installs[0])
    assert main([*args, "--out", str(run)]) == 0
    manifest = json.loads((run / layout.MANIFEST).read_text())
    assert manifest["model"] == "nano"
    assert manifest["weights"] == models.weights_digest(str(installs[0]))
    monkeypatch.setitem(models.BUNDLED, "nano", installs[1])  # reinstalled elsewhere
    capsys.readouterr()
    assert main([*args, "--out", str(run)]) == 0
    assert "1 already done" in capsys.readouterr().err
    # a run.json of before: the absolute path of nano in an install that is gone
    legacy = tmp_path / "legacy"
    shutil.copytree(run, legacy)
    manifest["model"] = "/old/site-packages/r1track/models/nano"
    del manifest["tracker"]["layout"]  # and from before layouts: those runs used r1track's
    (legacy / layout.MANIFEST).write_text(json.dumps(manifest))
    assert main([*args, "--out", str(legacy)]) == 0
    assert "1 already done" in capsys.readouterr().err
    manifest["tracker"]["layout"] = "reference-eval"  # a run of another layout is not this one
    (legacy / layout.MANIFEST).write_text(json.dumps(manifest))
    assert main([*args, "--out", str(legacy)]) == 2
    assert "tracker differ" in capsys.readouterr().err
    # other weights under the name are still refused; a user's own path is kept as given
    (installs[1] / "config.json").write_text((installs[1] / "config.json").read_text() + " ")
    assert main([*args, "--out", str(run)]) == 2
    assert "(weights differ)" in capsys.readouterr().err
    assert models.model_identity(str(tmp_path / "models" / "nano")) == str(
        tmp_path / "models" / "nano"
    )


def test_weights_digest_of_large_files_samples_windows(tmp_path, monkeypatch):
    import r1track.models.digest as models

    monkeypatch.setattr(models, "DIGEST_FULL_BYTES", 1000)
    monkeypatch.setattr(models, "DIGEST_WINDOW", 100)
    data = bytearray(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (tmp_path / "model.bin").write_bytes(bytes(data))
    first = models.weights_digest(str(tmp_path))
    data[0] ^= 1  # inside the first window
    (tmp_path / "model.bin").write_bytes(bytes(data))
    second = models.weights_digest(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(bytes(data) + b"x")  # the size is part of it
    third = models.weights_digest(str(tmp_path))
    assert len({first, second, third}) == 3
    (tmp_path / "notes.txt").write_text("not a weight or config file")
    assert models.weights_digest(str(tmp_path)) == third


def test_a_bundled_model_missing_from_the_build_is_a_clear_error(tmp_path, monkeypatch):
    from r1track import models

    monkeypatch.setitem(models.BUNDLED, "nano", tmp_path / "not-built")
    with pytest.raises(UserError) as err:
        models.resolve_model("nano")
    assert str(err.value) == "the bundled model 'nano' is not in this build of r1track yet"
    assert models.resolve_model("some/dir") == "some/dir"  # other names pass through
