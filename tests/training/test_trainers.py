"""SFT and GRPO on TRL with the tiny model: weights change, LoRA, freezing, DDP, and the
settings a trained checkpoint carries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CONFIGS, changed_weights, run_train, torch_allclose
from r1track.training.data import BuildConfig, build_dataset
from r1track.training.sampling import SamplingConfig


def _tracks(model_dir: Path, synth_video) -> list:
    from r1track.backends.hf import HFBackend
    from r1track.tracking import Tracker, TrackerConfig
    from r1track.video import open_frames

    video, boxes = synth_video
    tracker = Tracker(HFBackend(str(model_dir)), TrackerConfig(crop_size=112))
    return list(tracker.track(open_frames(video), bbox=boxes[0]))


def test_sft_changes_weights_and_the_tracker_loads_the_result(tiny_model, sft_model, synth_video):
    changed = changed_weights(tiny_model, sft_model)
    # saved in Qwen's checkpoint layout: language model under model.layers, vision under visual
    assert any(k.startswith("model.layers.") for k in changed)
    assert any(k.startswith("visual.") for k in changed)
    assert (sft_model / "checkpoint-20").is_dir() and (sft_model / "r1track_train.json").is_file()
    results = _tracks(sft_model, synth_video)
    assert len(results) == len(synth_video[1]) and all(
        isinstance(r.answer, str) for r in results[1:]
    )
    # it has learned the answer's shape: a bracketed list of numbers
    assert all(r.answer.startswith("[") for r in results[1:])


def test_grpo_changes_weights_and_the_tracker_loads_the_result(
    sft_model, built, tmp_path, synth_video
):
    import torch

    out = tmp_path / "grpo"
    assert run_train("grpo", sft_model, built, out, "grpo.scale_rewards=nope") == 2
    # the format reward varies within groups even for this barely trained model
    recipe = ["grpo.updates_per_rollout=2", "grpo.num_iterations=2", "grpo.epsilon=0.3"]
    overrides = ["grpo.reward=format", "grpo.scale_rewards=none", *recipe]
    assert run_train("grpo", sft_model, built, out, *overrides) == 0
    args = torch.load(out / "checkpoint-4" / "training_args.bin", weights_only=False)
    assert args.scale_rewards == "none"
    # rollouts of 2 optimiser steps, each used twice, clipped at 0.3 (EasyR1's several updates)
    assert (args.steps_per_generation, args.num_iterations, args.epsilon) == (2, 2, 0.3)
    assert args.generation_batch_size == 8  # 4 completions per step x 2 steps
    changed = changed_weights(sft_model, out)
    assert any(k.startswith("model.layers.") for k in changed)
    assert any(k.startswith("visual.") for k in changed)
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert any(entry.get("reward_std", 0) > 0 for entry in state["log_history"])
    assert len(_tracks(out, synth_video)) == len(synth_video[1])


def test_lora_adapter_with_trained_vision_loads_in_the_tracker(
    tiny_model, built, tmp_path, synth_video
):
    import torch

    from r1track.backends.hf import HFBackend

    out = tmp_path / "lora"
    assert (
        run_train("sft", tiny_model, built, out, "lora.enabled=true", "model.train_vision=true")
        == 0
    )
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    merged = HFBackend(str(out)).model.state_dict()
    base = HFBackend(str(tiny_model)).model.state_dict()
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    v = "model.visual.blocks.0.attn.qkv.weight"
    assert not torch.equal(merged[q], base[q]) and not torch.equal(merged[v], base[v])
    assert len(_tracks(out, synth_video)) == len(synth_video[1])


def test_lora_on_the_vision_tower_as_the_reference_sft(tiny_model, built, tmp_path):
    """lora.vision: adapters on every linear layer of the tower and projector (LLaMA-Factory's
    LoRA with an unfrozen tower), no full copy of the tower; the tracker loads the result."""
    from safetensors.torch import load_file

    from r1track.backends.hf import HFBackend

    out = tmp_path / "lora-vision"
    overrides = ["lora.enabled=true", "lora.vision=true", "lora.dropout=0"]
    assert run_train("sft", tiny_model, built, out, *overrides) == 0
    keys = list(load_file(out / "adapter_model.safetensors"))
    adapted = {k.split(".lora_")[0].split("visual.")[1] for k in keys if ".visual." in k}
    assert {
        "blocks.0.attn.qkv",
        "blocks.1.mlp.down_proj",
        "merger.mlp.0",
        "merger.mlp.2",
    } <= adapted
    assert not any("modules_to_save" in k or "patch_embed" in k for k in keys)
    merged = HFBackend(str(out)).model.state_dict()
    base = HFBackend(str(tiny_model)).model.state_dict()
    v = "model.visual.blocks.0.attn.qkv.weight"
    assert not torch_allclose(merged[v], base[v])  # the adapter reached the tower
    patch = "model.visual.patch_embed.proj.weight"
    assert torch_allclose(merged[patch], base[patch])  # and nothing else of it was trained


@pytest.mark.slow
def test_grpo_under_torchrun_ddp(tiny_model, built, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "-m",
            "r1track.cli",
            "train",
            "grpo",
            "--config",
            str(CONFIGS / "tiny-cpu-grpo.yaml"),
            f"model.path={tiny_model}",
            f"data.path={built}",
            f"output_dir={out}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "terminate called" not in proc.stderr  # no rank aborts at exit (open process group)
    assert proc.stderr.count("checkpoint:") == 1
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    # two processes x 4 completions per step: twice the samples of one process per step
    assert state["global_step"] == 4 and (out / "model.safetensors").is_file()


def test_model_freeze_keeps_matching_weights(tiny_model, built, tmp_path, capsys):
    out = tmp_path / "frozen"
    merger_out = "visual.merger.mlp.2."
    args = ["optim.max_steps=2", "optim.learning_rate=1e-2", "logging.save_steps=100"]
    assert (
        run_train("sft", tiny_model, built, out, *args, "model.freeze=[visual.merger.mlp.2]") == 0
    )
    changed = changed_weights(tiny_model, out)
    assert not [k for k in changed if k.startswith(merger_out)]
    assert [k for k in changed if k.startswith("visual.") and not k.startswith(merger_out)]
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert run_train("sft", tiny_model, built, bad, *args, "model.freeze=[no.such.module]") == 2
    assert "matches no parameter" in capsys.readouterr().err


def test_a_trained_checkpoint_carries_the_settings_its_data_were_built_with(
    tiny_model, got_train, tmp_path
):
    """train writes r1track_tracker.json from the data's build record: `track` and `eval` then
    use the crop size, context, prompt and pixels it was trained on without flags."""
    from r1track.cli import _tracker_config, build_parser
    from r1track.models import read_settings

    data = tmp_path / "data"
    sampling = SamplingConfig(sizes=(112,), context_range=(3, 3), max_gap=5, template_jitter=0)
    config = BuildConfig(
        "got10k", str(got_train), num_samples=8, prompt="nano", val_fraction=0.25,
        sampling=sampling, image_format="png",
    )  # fmt: skip
    build_dataset(config, data, workers=1, progress=False)
    out = tmp_path / "sft"
    assert run_train("sft", tiny_model, data, out, "optim.max_steps=1") == 0
    assert read_settings(str(out)) == {
        "prompt": "nano",
        "think": False,
        "layout": "r1track",
        "grounding_windows": 0,
        "coord_tint": 0.0,
        "resize": "cv2",
        "image_format": "png",
        "crop_size": 112,
        "context": 3.0,
    }
    track = ["eval", "--dataset", "got10k", "--root", "r", "--model", str(out), "--out", "o"]
    tracker = _tracker_config(build_parser().parse_args(track))
    assert (tracker.crop_size, tracker.search_factor, tracker.prompt) == (112, 3.0, "nano")
    assert (tracker.image_format, tracker.template_factor) == ("png", 3.0)
