"""Tracker settings have one home, `TrackerConfig`: flags and settings-file keys are made from
its fields, and which value wins is one function (`choose_settings`)."""

from __future__ import annotations

import dataclasses

import pytest

from r1track.cli import build_parser
from r1track.tracking.settings import (
    SETTINGS,
    SETTINGS_KEYS,
    TrackerConfig,
    choose_settings,
)

# Three valid values per setting, none of them the default: (flag, settings file, released
# checkpoint). A new setting fails test_every_setting_is_tested until it is added here.
SAMPLES = {
    "crop_size": (112, 224, 448),
    "context": (2.5, 3.0, 5.0),
    "prompt": ("nano", "100k", "5k-oneline"),
    "think": (True, True, True),
    "layout": ("reference-eval", "reference-train", "reference-eval"),
    "coord_tint": (0.1, 0.2, 0.3),
    "scale_lr": (0.25, 0.5, 0.75),
    "views": (2, 3, 4),
    "resize": ("pil", "pil", "pil"),
    "image_format": ("png", "png", "png"),
}


def test_every_setting_is_tested():
    assert set(SAMPLES) == set(SETTINGS_KEYS)


@pytest.mark.parametrize("key", SETTINGS_KEYS)
def test_flag_over_checkpoint_file_over_known_over_default(key):
    flag, from_file, known = SAMPLES[key]
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
    # context stands for both crop factors; the answer budget and grounding size are no settings
    assert SETTINGS_KEYS == (
        "crop_size",
        "context",
        "prompt",
        "think",
        "layout",
        "coord_tint",
        "scale_lr",
        "views",
        "resize",
        "image_format",
    )
    assert names - {n for s in SETTINGS for n in s.fields} == {
        "max_new_tokens",
        "grounding_max_pixels",
    }
    for setting in SETTINGS:
        assert setting.help and setting.type in (int, float, str, bool)
    config = TrackerConfig(crop_size=224, template_factor=3.0, search_factor=3.0, views=2)
    assert config.settings() == {
        **TrackerConfig().settings(),
        "crop_size": 224,
        "context": 3.0,
        "views": 2,
    }


@pytest.mark.parametrize(
    "command",
    [
        ["track", "v.mp4", "--bbox", "1,1,2,2", "--out", "o"],
        ["eval", "--dataset", "got10k", "--root", "r", "--out", "o"],
        ["dev", "bundle", "ckpt", "out"],
    ],
)
def test_each_command_takes_every_setting_as_a_flag_not_given_by_default(command):
    parser = build_parser()
    model = ["--model", "m"] if command[0] != "dev" else []
    args = parser.parse_args([*command, *model])
    assert all(getattr(args, key) is None for key in SETTINGS_KEYS)  # None: not given
    for key, (flag_value, _, _) in SAMPLES.items():
        setting = next(s for s in SETTINGS if s.key == key)
        if setting.type is bool:
            given = [setting.flag] if flag_value else ["--no-" + setting.flag[2:]]
        else:
            given = [setting.flag, str(flag_value)]
        assert getattr(parser.parse_args([*command, *model, *given]), key) == flag_value
