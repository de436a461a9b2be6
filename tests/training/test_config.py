"""Training configs: layers, overrides, unknown keys, types, and the checks of values."""

from __future__ import annotations

import pytest

from helpers import CONFIGS
from r1track.errors import UserError
from r1track.training.config import load_config


def test_config_layers_and_unknown_keys(tmp_path):
    config = load_config(
        CONFIGS / "tiny-cpu-grpo.yaml", ["optim.learning_rate=2e-6", "grpo.beta=0"]
    )
    assert config.optim.learning_rate == 2e-6 and config.grpo.beta == 0.0
    assert config.grpo.num_generations == 4 and config.lora.r == 12  # file, then defaults
    with pytest.raises(UserError, match=r"unknown config key 'optim\.lerning_rate'"):
        load_config(CONFIGS / "tiny-cpu-grpo.yaml", ["optim.lerning_rate=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("output_dir: x\nmodel: {path: m}\ndata: {path: d}\ngrpo: {rewrd: think}\n")
    with pytest.raises(UserError, match=r"unknown config key 'grpo\.rewrd'"):
        load_config(bad)
    with pytest.raises(UserError, match="expected an integer"):
        load_config(CONFIGS / "tiny-cpu-grpo.yaml", ["grpo.num_generations=many"])
    for path in [*CONFIGS.glob("*.yaml"), *CONFIGS.glob("nano/*.yaml")]:  # every recipe parses
        load_config(path)


_REQUIRED = "output_dir: o\nmodel: {path: m}\ndata: {path: d}\n"

# (YAML after the required keys, overrides) -> the exact UserError message
BAD_CONFIGS = {
    "unknown top-level key in YAML": ("outputdir: x\n", [], "unknown config key 'outputdir'"),
    "unknown nested key in YAML": ("optim: {foo: 1}\n", [], "unknown config key 'optim.foo'"),
    "unknown top-level override": ("", ["outputdir=x"], "unknown config key 'outputdir'"),
    "unknown nested override": ("", ["optim.max_stepz=4"], "unknown config key 'optim.max_stepz'"),
    "unknown key below a section's key": ("", ["optim.a.b=1"], "unknown config key 'optim.a'"),
    "dotted key in YAML": ("optim.max_steps: 4\n", [], "unknown config key 'optim.max_steps'"),
    "bad type in override": (
        "",
        ["optim.max_steps=abc"],
        "config key 'optim.max_steps': expected an integer, got 'abc'",
    ),
    "bad type in YAML": (
        "lora: {dropout: lots}\n",
        [],
        "config key 'lora.dropout': expected a number, got 'lots'",
    ),
    "bad bool": ("", ["lora.enabled=maybe"], "config key 'lora.enabled': expected true or false"),
    "bad Optional": (
        "",
        ["sft.max_length=long"],
        "config key 'sft.max_length': expected an integer or null, got 'long'",
    ),
    "null where not Optional": (
        "",
        ["optim.max_steps=null"],
        "config key 'optim.max_steps': expected an integer, got null",
    ),
    "text for a list": (
        "",
        ["logging.report_to=tensorboard"],
        "config key 'logging.report_to': expected a list, e.g. [a, b], got 'tensorboard'",
    ),
    "null in a list": (
        "",
        ["model.freeze=[null]"],
        "config key 'model.freeze[0]': expected text, got null",
    ),
    "value for a YAML section": (
        "optim: 3\n",
        [],
        "config key 'optim': expected a section (a mapping of its keys), got 3",
    ),
    "value for a section in override": (
        "",
        ["optim=3"],
        "config key 'optim': expected a section (a mapping of its keys), got 3",
    ),
    "section below a value": ("", ["output_dir.x=1"], "config key 'output_dir': expected text"),
    "override without =": ("", ["optim.max_steps"], "override 'optim.max_steps': expected"),
    "override not YAML": ("", ["model.freeze=[a"], "override 'model.freeze=[a': not valid YAML"),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_bad_config_is_refused_naming_the_key(name, tmp_path):
    text, overrides, message = BAD_CONFIGS[name]
    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED + text)
    with pytest.raises(UserError) as raised:
        load_config(path, overrides)
    assert str(raised.value).startswith(message), str(raised.value)


def test_a_key_given_twice_in_yaml_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED + "model: {path: n}\n")
    with pytest.raises(UserError, match=r"not valid YAML \(found duplicate key model, line 4\)$"):
        load_config(path)


def test_config_lists_nulls_and_numbers_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED + "lora: {target_modules: [q_proj]}\noptim: {num_train_epochs: 3}\n")
    config = load_config(
        path,
        [
            "model.freeze=[visual.merger.mlp.2, visual.blocks.0]",
            "logging.report_to=[]",
            "logging.save_total_limit=null",
            "sft.max_length=null",
            "data.max_train_samples=16",
            "optim.learning_rate=1e-6",
        ],
    )
    assert config.model.freeze == ["visual.merger.mlp.2", "visual.blocks.0"]
    assert type(config.model.freeze) is list and config.logging.report_to == []
    assert config.lora.target_modules == ["q_proj"]  # a YAML list replaces the default
    assert config.logging.save_total_limit is None and config.sft.max_length is None
    assert config.data.max_train_samples == 16 and config.optim.learning_rate == 1e-6
    assert config.optim.num_train_epochs == 3.0 and type(config.optim.num_train_epochs) is float
    assert load_config(path, ["sft.max_length=null", "sft.max_length=64"]).sft.max_length == 64


def test_a_list_of_names_holds_names(tmp_path):
    from r1track.training.checks import check_config

    path = tmp_path / "c.yaml"
    path.write_text(_REQUIRED)
    with pytest.raises(UserError, match=r"^model\.freeze=\[\{'a': 1\}\] must be a list of names"):
        check_config(load_config(path, ["model.freeze=[{a: 1}]"]))
