"""`r1track app`'s command line: what it refuses before a page starts, and the models it offers.
The page itself: tests/app/test_browser.py."""

from __future__ import annotations

import argparse

import pytest

from helpers import run_main
from r1track.errors import UserError


def _has_gradio() -> bool:
    try:
        from gradio import Blocks  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_has_gradio(), reason="Gradio is installed here")
def test_without_gradio_the_app_says_what_to_install(capsys):
    code, err = run_main(["app"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "pip install 'r1track[app]'" in lines[0], lines


def _args(**given):
    defaults = {"model": None, "base_url": None, "served_model": None, "device": "cpu"}
    return argparse.Namespace(**(defaults | given))


def test_the_page_offers_nano_the_checkpoints_and_the_servers_it_was_started_with(tiny_model):
    from r1track.cli.app import _loaders

    loaders = _loaders(
        _args(model=[str(tiny_model)], base_url=["http://127.0.0.1:9/v1"], served_model="m")
    )
    assert list(loaders) == ["nano", str(tiny_model), "m @ http://127.0.0.1:9/v1"]
    with pytest.raises(UserError, match="--served-model"):
        _loaders(_args(base_url=["http://127.0.0.1:9/v1"]))
    with pytest.raises(UserError, match="no such directory"):  # refused at start, not in the page
        _loaders(_args(model=["/nowhere/model"]))
