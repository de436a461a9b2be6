"""`r1track train vision`: only the tower trains, and its tokens are centred."""

from __future__ import annotations

import json

from helpers import CONFIGS, changed_weights
from r1track.cli import main


def test_train_vision_trains_only_the_tower_and_centres_its_tokens(
    tiny_model, vision_data, built, tmp_path, capsys
):
    import torch
    from datasets import load_from_disk
    from transformers import Qwen2_5_VLForConditionalGeneration

    from r1track.backends.processor import load_processor
    from r1track.training.vision import search_pixels, visual_tokens

    one_size = vision_data
    out = tmp_path / "vision"
    args = ["train", "vision", "--config", str(CONFIGS / "nano" / "vision.yaml")]
    common = [f"model.path={tiny_model}", f"output_dir={out}", "optim.max_steps=6"]
    assert main([*args, *common, f"data.path={built}", "logging.logging_steps=3"]) == 2
    assert "differ in size" in capsys.readouterr().err  # 112 and 224 px crops in one dataset
    bad = [f"data.path={one_size}", "optim.lr_scheduler_type=nope"]
    assert main([*args, *common, *bad]) == 2
    assert "optim.lr_scheduler_type" in capsys.readouterr().err
    assert main([*args, *common, f"data.path={one_size}", "logging.logging_steps=3"]) == 0
    log = capsys.readouterr().err
    assert "vision step 3/6" in log and "vision step 6/6" in log and "centred" in log
    changed = changed_weights(tiny_model, out)
    assert changed and all(k.startswith("visual.") for k in changed)  # the language model is kept
    assert json.loads((out / "r1track_train.json").read_text())["metrics"]["heldout_r2_box"]
    # centring: over the rows it was set on, visual tokens average to zero, deviation norm 1
    rows = load_from_disk(str(one_size))["train"]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(out).eval()
    pixels, grid = search_pixels(load_processor(out), rows)
    with torch.no_grad():
        tokens = visual_tokens(model, pixels, grid).view(-1, model.config.text_config.hidden_size)
    assert float(tokens.mean(0).norm()) < 1e-3
    assert abs(float((tokens - tokens.mean(0)).norm(dim=-1).mean()) - 1.0) < 1e-3


def test_the_warm_up_leaves_out_absent_pairs():
    """Absent pairs (solution []) have no box to regress: `with_boxes` leaves them out."""
    from datasets import Dataset

    from r1track.training.vision import with_boxes

    rows = Dataset.from_dict({"solution": [[1, 2, 3, 4], [], [5, 6, 7, 8]], "size": [112] * 3})
    assert with_boxes(rows)["solution"] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    full = rows.select([0, 2])
    assert with_boxes(full) is full
