"""Fixtures shared by the training tests, built once per run (session scope): a dataset built
from `got_train`, the tiny model after SFT on it, and a one-size dataset for `train vision`.
No test may change them (tests/conftest.py's SHARED_FIXTURES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_train
from r1track.training.data import BuildConfig, build_dataset
from r1track.training.sampling import SamplingConfig


def _build(got_train, tmp_path_factory, folder: str, num_samples: int, sizes) -> Path:
    """A small dataset of the GOT-10k train fixture, with a validation split."""
    out = tmp_path_factory.mktemp(folder) / "data"
    config = BuildConfig(
        "got10k",
        str(got_train),
        "train",
        num_samples=num_samples,
        val_fraction=0.25,
        sampling=SamplingConfig(sizes=sizes, max_gap=5),
    )
    build_dataset(config, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def built(got_train, tmp_path_factory) -> Path:
    return _build(got_train, tmp_path_factory, "ds", 48, (112, 224))


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
    return _build(got_train, tmp_path_factory, "vision-data", 40, (112,))
