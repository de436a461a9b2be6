"""Tracker settings have one home, `TrackerConfig`: flags and settings-file keys are made from
its fields, and which value wins is one function (`choose_settings`); released checkpoints
set themselves up, unknown ones get a note."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from helpers import SETTING_SAMPLES
from r1track.errors import UserError
from r1track.models import KNOWN_CHECKPOINTS, write_settings
from r1track.prompts import LAYOUTS
from r1track.tracking.settings import SETTINGS, SETTINGS_KEYS, TrackerConfig, choose_settings


def test_every_setting_is_tested():
    assert set(SETTING_SAMPLES) == set(SETTINGS_KEYS)


@pytest.mark.parametrize("key", SETTINGS_KEYS)
def test_flag_over_checkpoint_file_over_known_over_default(key):
    flag, from_file, known = SETTING_SAMPLES[key]
    setting = next(s for s in SETTINGS if s.key == key)

    def value(chosen):
        config = TrackerConfig(**chosen)
        return [getattr(config, name) for name in setting.fields]

    n = len(setting.fields)
    assert value(choose_settings({key: flag}, {key: from_file}, {key: known})) == [flag] * n
    assert value(choose_settings({key: None}, {key: from_file}, {key: known})) == [from_file] * n
    assert value(choose_settings({key: None}, {}, {key: known})) == [known] * n
    assert value(choose_settings({key: None}, {}, {})) == [setting.default] * n
    assert setting.default == getattr(TrackerConfig(), setting.fields[0])


def test_a_field_given_beside_its_setting_wins():
    chosen = choose_settings({"context": 3.0, "template_factor": 2.0}, {"context": 5.0}, {})
    assert (TrackerConfig(**chosen).template_factor, TrackerConfig(**chosen).search_factor) == (
        2.0,
        3.0,
    )


def test_settings_are_generated_from_the_fields():
    names = {f.name for f in dataclasses.fields(TrackerConfig)}
    # context stands for both crop factors; the answer budget is no setting
    assert SETTINGS_KEYS == (
        "crop_size",
        "context",
        "prompt",
        "think",
        "layout",
        "grounding_max_pixels",
        "grounding_windows",
        "coord_tint",
        "scale_lr",
        "aspect_lr",
        "views",
        "resize",
        "image_format",
        "redetect",
        "redetect_context",
        "redetect_verify",
        "redetect_interval",
        "max_tiles",
        "min_confidence",
        "min_agreement",
        "min_likeness",
        "memory_interval",
        "memory_confidence",
    )
    assert names - {n for s in SETTINGS for n in s.fields} == {"max_new_tokens"}
    for setting in SETTINGS:
        assert setting.help and setting.type in (int, float, str, bool)
    config = TrackerConfig(crop_size=224, template_factor=3.0, search_factor=3.0, views=2)
    assert config.settings() == {
        **TrackerConfig().settings(),
        "crop_size": 224,
        "context": 3.0,
        "views": 2,
    }


# -- released checkpoints set themselves up ---------------------------------------------------


def _expected(repo: str) -> TrackerConfig:
    known = KNOWN_CHECKPOINTS[repo]
    return TrackerConfig(prompt=known["prompt"], think=known["think"], layout="reference-train")


@pytest.mark.parametrize("repo", sorted(KNOWN_CHECKPOINTS))
def test_released_checkpoints_get_their_settings_without_flags(repo, tiny_model, tmp_path, capsys):
    org, name = repo.split("/")
    snapshot = tmp_path / "hub" / f"models--{org}--{name}" / "snapshots" / "0123abcd"
    local = tmp_path / "copies" / name  # `hf download REPO --local-dir NAME`
    for path in (snapshot, local):
        shutil.copytree(tiny_model, path)
    for model in (repo, repo.lower(), str(snapshot), str(snapshot) + "/", str(local)):
        assert TrackerConfig.for_checkpoint(model) == _expected(repo), model
    assert TrackerConfig.for_checkpoint(repo, served=True) == _expected(repo)  # a served name
    assert capsys.readouterr().err == ""
    # flags still win
    assert TrackerConfig.for_checkpoint(str(snapshot), layout="reference-eval", think=None) == (
        TrackerConfig(
            prompt=KNOWN_CHECKPOINTS[repo]["prompt"],
            think=KNOWN_CHECKPOINTS[repo]["think"],
            layout="reference-eval",
        )
    )


def test_released_values_fill_what_a_settings_file_leaves_out(tiny_model, tmp_path):
    local = tmp_path / "R1-Track-GRPO-5k"
    shutil.copytree(tiny_model, local)
    write_settings(local, crop_size=224)
    assert TrackerConfig.for_checkpoint(str(local)) == TrackerConfig(
        crop_size=224, prompt="5k", think=True, layout="reference-train"
    )


def test_an_unknown_checkpoint_gets_a_notice_once(tiny_model, tmp_path, capsys):
    from r1track.backends import load_backend
    from r1track.tracking import Tracker
    from r1track.tracking.settings import guessed_settings, notice_guessed_settings

    model = tmp_path / "my-finetune"
    shutil.copytree(tiny_model, model)
    line = (
        f"r1track: note: model {str(model)!r} is not a released R1-Track checkpoint and has no "
        "r1track_tracker.json; tracking with --prompt 5k --no-think --layout r1track "
        "(flags change them)"
    )
    assert guessed_settings(str(model), crop_size=112) == line
    backend = load_backend("hf", str(model), device="cpu")
    try:
        for _ in range(2):  # a library Tracker made without a config says it too, once
            assert Tracker(backend).config == TrackerConfig()
    finally:
        backend.close()
    notice_guessed_settings(str(model))
    assert capsys.readouterr().err == line + "\n"
    # what it names is what the flags make it
    assert guessed_settings(str(model), prompt="100k", think=True) == line.replace(
        "5k --no-think", "100k --think"
    )
    # nothing is guessed: all three given, a settings file, a released id, a bundled model
    assert guessed_settings(str(model), prompt="5k", think=False, layout="r1track") is None
    write_settings(model, prompt="nano")
    assert guessed_settings(str(model)) is None
    assert guessed_settings("WangBiao/R1-Track-GRPO-5k", served=True) is None
    assert guessed_settings("nano") is None
    assert guessed_settings("r1track", served=True) == line.replace(repr(str(model)), "'r1track'")


def test_nano_keeps_its_layout(capsys):
    config = TrackerConfig.for_checkpoint("nano")
    assert (config.prompt, config.think, config.layout) == ("nano", False, "r1track")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_setting_is_checked(layout):
    assert TrackerConfig(layout=layout).layout == layout
    with pytest.raises(UserError, match="layout 'qwen' is unknown"):
        TrackerConfig(layout="qwen")  # type: ignore[arg-type]


def test_released_checkpoints_get_opencv_and_jpeg_and_nano_keeps_its_settings(tiny_model):
    """A checkpoint without r1track_tracker.json (a released R1-Track one) is given what R1-Track
    was trained on; the bundled nano keeps Pillow's resize and lossless crops; flags override."""
    released = TrackerConfig.for_checkpoint(str(tiny_model))
    assert (released.resize, released.image_format) == ("cv2", "jpeg")
    nano = TrackerConfig.for_checkpoint("nano")
    assert (nano.resize, nano.image_format) == ("pil", "png")
    chosen = TrackerConfig.for_checkpoint("nano", resize="cv2", image_format="jpeg")
    assert (chosen.resize, chosen.image_format) == ("cv2", "jpeg")
    for field, value in (("resize", "bicubic"), ("image_format", "webp")):
        with pytest.raises(UserError, match=f"{field.replace('_', ' ')} '{value}' is unknown"):
            TrackerConfig(**{field: value})
