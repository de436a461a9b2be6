"""The CPU install: no CUDA packages, no torchvision (it breaks Qwen's image processors here)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import pytest
import torch


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU environment may carry the gpu extra")
def test_cpu_environment_has_no_cuda_packages_or_torchvision():
    names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert not [n for n in names if n.startswith("nvidia-")]
    assert importlib.util.find_spec("torchvision") is None
    assert torch.version.cuda is None


def test_console_script_is_installed():
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert any(ep.name == "r1track" and ep.value == "r1track.cli:main" for ep in scripts)
