"""Fixtures shared by the training tests, built once per run (session scope): a dataset built
from `got_train`, the tiny model after SFT on it, and a one-size dataset for `train vision`.
No test may change them (tests/conftest.py's SHARED_FIXTURES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_train
from r1track.training.data import BuildConfig, build_dataset
from r1track.training.sampling import SamplingConfig


@pytest.fixture(scope="session")
def built(got_train, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "data"
    config = BuildConfig(
        "got10k",
        str(got_train),
        "train",
        num_samples=48,
        val_fraction=0.25,
        sampling=SamplingConfig(sizes=(112, 224), max_gap=5),
    )
    build_dataset(config, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def sft_model(tiny_model, built, tmp_path_factory) -> Path:
    """The tiny model after 40 SFT steps: enough to learn the answer's shape (not the task)."""
    out = tmp_path_factory.mktemp("sft") / "model"
    assert (
        run_train(
            "sft",
            tiny_model,
            built,
            out,
            "optim.max_steps=40",
            "optim.learning_rate=5e-3",
            "logging.save_steps=20",
        )
        == 0
    )
    return out


@pytest.fixture(scope="session")
def vision_data(got_train, tmp_path_factory) -> Path:
    """One crop size and a validation split, as `train vision` needs."""
    out = tmp_path_factory.mktemp("vision-data") / "data"
    config = BuildConfig(
        "got10k",
        str(got_train),
        num_samples=40,
        val_fraction=0.25,
        sampling=SamplingConfig(sizes=(112,), max_gap=5),
    )
    build_dataset(config, out, workers=1, progress=False)
    return out
