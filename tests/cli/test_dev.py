"""`r1track dev`: tiny-model, synth-video and bundle."""

from __future__ import annotations

from helpers import run_cli
from r1track.backends.base import GenerationRequest
from r1track.cli import main


def test_dev_tools(tmp_path):
    proc = run_cli(
        "dev", "synth-video", tmp_path / "v.mp4", "--frames", "5", "--width", "64", "--height", "48"
    )
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "v.groundtruth.txt").read_text().split()) == 5
    assert main(["dev", "tiny-model", str(tmp_path / "m")]) == 0
    # a second model into the same folder would leave the first one's files mixed in: refused
    weights = (tmp_path / "m" / "model.safetensors").read_bytes()
    (tmp_path / "m" / "old.bin").write_bytes(b"an older model's file")
    proc = run_cli("dev", "tiny-model", tmp_path / "m", "--seed", "1")
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"r1track: error: dev tiny-model DIR: {tmp_path / 'm'}/ exists and is not empty;"
        " use another DIR or remove it"
    ]
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == weights
    from r1track.backends.hf import HFBackend

    backend = HFBackend(str(tmp_path / "m"))
    assert isinstance(backend.generate([GenerationRequest((), "hi", 3)])[0], str)


def test_dev_bundle_writes_a_loadable_checkpoint_with_its_settings(tiny_model, tmp_path):
    import shutil

    from r1track.cli import _tracker_config, build_parser, main
    from r1track.models import read_settings

    trained = tmp_path / "trained"
    shutil.copytree(tiny_model, trained)
    (trained / "optimizer.pt").write_bytes(b"x")  # training leftovers stay behind
    out = tmp_path / "bundle"
    args = ["dev", "bundle", str(trained), str(out), "--crop-size", "112", "--context", "3"]
    flags = ["--coord-tint", "0.3", "--scale-lr", "0.5", "--aspect-lr", "0.2", "--views", "3"]
    flags += ["--resize", "pil"]
    assert main([*args, *flags, "--image-format", "png", "--layout", "reference-train"]) == 0
    assert (out / "model.safetensors").is_file() and not (out / "optimizer.pt").exists()
    assert read_settings(str(out)) == {
        "crop_size": 112,
        "context": 3.0,
        "prompt": "5k",
        "think": False,
        "coord_tint": 0.3,
        "scale_lr": 0.5,
        "aspect_lr": 0.2,
        "views": 3,
        "resize": "pil",
        "image_format": "png",
        "layout": "reference-train",
        "grounding_max_pixels": 28 * 28 * 1280,
        "grounding_windows": 0,
        "redetect": False,
        "redetect_context": 8.0,
        "redetect_verify": False,
        "redetect_interval": 1,
        "max_tiles": 16,
        "min_confidence": 0.0,
        "min_agreement": 0.0,
        "min_likeness": 0.0,
        "memory_interval": 0,
        "memory_confidence": 0.5,
    }
    track = ["track", "v.mp4", "--bbox", "1,1,5,5", "--model", str(out), "--out", "o"]
    config = _tracker_config(build_parser().parse_args(track))
    assert config.layout == "reference-train"
    assert (config.crop_size, config.search_factor, config.coord_tint) == (112, 3.0, 0.3)
    assert (config.scale_lr, config.views) == (0.5, 3)
    assert (config.resize, config.image_format) == ("pil", "png")
    config = _tracker_config(build_parser().parse_args([*track, "--resize", "cv2"]))
    assert (config.resize, config.image_format) == ("cv2", "png")
    config = _tracker_config(build_parser().parse_args([*track, "--image-format", "jpeg"]))
    assert (config.resize, config.image_format) == ("pil", "jpeg")
    config = _tracker_config(build_parser().parse_args([*track, "--coord-tint", "0"]))
    assert (config.coord_tint, config.scale_lr) == (0.0, 0.5)
    config = _tracker_config(build_parser().parse_args([*track, "--scale-lr", "1"]))
    assert config.scale_lr == 1.0
    assert main([*args[:2], str(tmp_path / "nothing"), *args[3:]]) == 2
    assert main([*args, "--coord-tint", "1.5"]) == 2
    assert main([*args, "--scale-lr", "2"]) == 2
    assert main([*args, "--views", "0"]) == 2
    assert main([*args, "--context", "4"]) == 0  # an earlier bundle is replaced
    settings = read_settings(str(out))  # the defaults are R1-Track's
    assert [settings[k] for k in ("context", "resize", "image_format")] == [4.0, "cv2", "jpeg"]
    other = tmp_path / "not-a-bundle"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main([*args[:3], str(other), *args[4:]]) == 2
    assert (other / "keep.txt").read_text() == "mine"


def test_dev_widen_computes_the_same_until_noise_is_added(tiny_model, tmp_path):
    import json

    import torch

    from helpers import noise_image
    from r1track.backends.hf import HFBackend

    exact, noisy = tmp_path / "exact", tmp_path / "noisy"
    assert main(["dev", "widen", str(tiny_model), str(exact), "--noise", "0"]) == 0
    assert main(["dev", "widen", str(tiny_model), str(noisy), "--noise", "0.05"]) == 0
    narrow = json.loads((tiny_model / "config.json").read_text())["vision_config"]
    wide = json.loads((exact / "config.json").read_text())["vision_config"]
    assert wide["hidden_size"] == 2 * narrow["hidden_size"]
    assert wide["num_heads"] == 2 * narrow["num_heads"]
    assert wide["intermediate_size"] == 2 * narrow["intermediate_size"]
    assert (exact / "r1track_tracker.json").is_file()

    def logits(path, search):
        backend = HFBackend(str(path), device="cpu")
        request = GenerationRequest((noise_image(0, 112), search), "find it")
        with torch.no_grad():
            return backend.model(**backend.encode([request])).logits[0, -8:]

    search = noise_image(1, 112)
    before, after = logits(tiny_model, search), logits(exact, search)
    assert torch.allclose(before, after, atol=1e-4), (before - after).abs().max()
    # the comparison sees the tower: another search image moves the logits far more than that
    assert (logits(tiny_model, noise_image(2, 112)) - before).abs().max() > 1e-2
    # noise makes the copies differ (identical copies would train identically for ever)
    shifted = logits(noisy, search)
    assert not torch.allclose(before, shifted, atol=1e-4)
    from safetensors.torch import load_file

    embed = load_file(noisy / "model.safetensors")["visual.patch_embed.proj.weight"]
    half = embed.shape[0] // 2
    assert not torch.allclose(embed[:half], embed[half:])
    assert main(["dev", "widen", str(tiny_model), str(tmp_path / "x"), "--factor", "1"]) == 2
