"""`r1track train` on the command line: config errors are one line."""

from __future__ import annotations

from helpers import CONFIGS
from r1track.cli import main


def test_unknown_key_on_the_command_line_is_one_line(capsys):
    code = main(["train", "sft", "--config", str(CONFIGS / "tiny-cpu-sft.yaml"), "optim.nope=1"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "r1track: error: unknown config key 'optim.nope'"


def test_bad_type_on_the_command_line_is_one_line(capsys):
    code = main(
        ["train", "sft", "--config", str(CONFIGS / "tiny-cpu-sft.yaml"), "optim.max_steps=abc"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "r1track: error: config key 'optim.max_steps': expected an integer, got 'abc'"
    )
