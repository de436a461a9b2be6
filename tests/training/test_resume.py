"""Resuming training: a killed run resumes to the weights of an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CONFIGS, model_weights, run_train, torch_allclose
from r1track.cli import main
from r1track.training.trainers import TRAIN_INFO


def _final_weights(out: Path) -> dict:
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (out / "adapter_config.json").is_file() else None
    return load_file(out / name) if name else model_weights(out)


def _logged_losses(out: Path) -> list[float]:
    last = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    history = json.loads((last / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


# three steps (killed after two), and groups that vary: the format reward of a barely trained model
_GRPO_FAST = ["optim.max_steps=3", "grpo.reward=format", "grpo.scale_rewards=none"]
RESUME_CASES = {
    "sft": ("sft", "tiny", []),
    "sft-lora": ("sft", "tiny", ["lora.enabled=true", "model.train_vision=true"]),
    "grpo": ("grpo", "sft", [*_GRPO_FAST]),
    "grpo-lora": ("grpo", "sft", [*_GRPO_FAST, "lora.enabled=true"]),
    "vision": ("vision", "tiny", ["optim.max_steps=6", "logging.logging_steps=3"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", RESUME_CASES)
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(
    case, tiny_model, sft_model, built, vision_data, tmp_path, request
):
    """Killed (SIGKILL) right after its step-2 (vision: step-4) checkpoint, then rerun: the final
    weights and every logged loss equal those of one uninterrupted run with the same seed."""
    kind, start, extra = RESUME_CASES[case]
    model = tiny_model if start == "tiny" else sft_model
    data = vision_data if kind == "vision" else built
    config = CONFIGS / ("nano/vision.yaml" if kind == "vision" else f"tiny-cpu-{kind}.yaml")
    args = ["train", kind, "--config", str(config), f"model.path={model}", f"data.path={data}"]
    args += ["logging.save_steps=2", *extra]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert main([*args, f"output_dir={whole}"]) == 0
    kill_at = "4" if kind == "vision" else "2"
    killed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parents[1] / "kill_at_checkpoint.py"),
            kill_at,
            *args,
            f"output_dir={resumed}",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (resumed / f"checkpoint-{kill_at}").is_dir() and not (resumed / TRAIN_INFO).exists()
    assert main([*args, f"output_dir={resumed}"]) == 0
    a, b = _final_weights(whole), _final_weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch_allclose(a[k], b[k]) for k in a), [
        k for k in a if not torch_allclose(a[k], b[k])
    ][:5]
    start_weights = model_weights(model)
    if kind != "vision":
        assert _logged_losses(whole) == pytest.approx(_logged_losses(resumed), rel=1e-6)
        assert len(_logged_losses(whole)) == (3 if kind == "grpo" else 4)
    if not (resumed / "adapter_config.json").is_file():  # and it trained: not the start weights
        assert any(not torch_allclose(b[k], start_weights[k]) for k in b)


def test_resume_passes_over_checkpoints_a_kill_left_incomplete(tiny_model, built, tmp_path, capsys):
    """The newest complete checkpoint is resumed from; newer ones without their trainer state (a
    kill while saving), or with weights cut short, are named and passed over, not a traceback."""
    out = tmp_path / "run"
    assert (
        run_train("sft", tiny_model, built, out, "optim.max_steps=3", "logging.save_steps=1") == 0
    )
    os.remove(out / "checkpoint-3" / "trainer_state.json")
    weights = out / "checkpoint-2" / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    capsys.readouterr()
    assert (
        run_train("sft", tiny_model, built, out, "optim.max_steps=3", "logging.save_steps=1") == 0
    )
    captured = capsys.readouterr()
    assert captured.out.count("'loss'") == 2  # steps 2 and 3 again, from checkpoint-1
    notes = [line for line in captured.err.splitlines() if line.startswith("r1track: note:")]
    assert len(notes) == 2 and "checkpoint-3: no trainer_state.json" in notes[0]
    assert "checkpoint-2/model.safetensors: truncated" in notes[1]
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3]


def test_resume_false_starts_over(tiny_model, built, tmp_path, capsys):
    out = tmp_path / "resume"
    assert (
        run_train("sft", tiny_model, built, out, "optim.max_steps=1", "logging.save_steps=1") == 0
    )
    capsys.readouterr()
    assert run_train("sft", tiny_model, built, out, "optim.max_steps=2", "resume=false") == 0
    assert capsys.readouterr().out.count("'loss'") == 2  # both steps again, none resumed
