"""Message layouts (one function, three consumers) and the settings of released checkpoints."""

from __future__ import annotations

import base64
import io
import shutil

import pytest
from PIL import Image

from helpers import noise_image
from r1track.backends.base import GenerationRequest
from r1track.backends.openai_api import OpenAIBackend
from r1track.errors import UserError
from r1track.models import KNOWN_CHECKPOINTS, write_settings
from r1track.prompts import LAYOUTS, THINK_INSTRUCTION, chat_messages, tracking_prompt
from r1track.tracking import TrackerConfig

TASK_100K = tracking_prompt((241, 66, 329, 154), "100k")
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
HEAD = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
TAIL = "<|im_end|>\n<|im_start|>assistant\n"
# The think instruction as the launch script's command line delivered it: backslash + n.
THINK_AS_TRAINED = THINK_INSTRUCTION.replace("\n", "\\n")
# Each layout rendered with Qwen's chat template (reference doc, section 9), character by character.
RENDERED = {
    ("r1track", False): HEAD + IMAGE + IMAGE + TASK_100K + TAIL,
    ("r1track", True): HEAD + IMAGE + IMAGE + THINK_INSTRUCTION + " " + TASK_100K + TAIL,
    ("reference-train", False): HEAD + IMAGE + " " + IMAGE + TASK_100K + TAIL,
    ("reference-train", True): HEAD
    + THINK_AS_TRAINED
    + " "
    + IMAGE
    + " "
    + IMAGE
    + TASK_100K
    + TAIL,
    ("reference-eval", False): HEAD + IMAGE + IMAGE + "<image> <image>" + TASK_100K + TAIL,
    ("reference-eval", True): HEAD
    + IMAGE
    + IMAGE
    + THINK_INSTRUCTION
    + " <image> <image>"
    + TASK_100K
    + TAIL,
}
CASES = sorted(RENDERED)


def _request(layout: str, think: bool) -> GenerationRequest:
    return GenerationRequest(
        (noise_image(0), noise_image(1)), TASK_100K, 8, think=think, layout=layout, prefix_key="t"
    )


def test_think_instruction_as_trained_has_no_newline():
    assert "\n" not in THINK_AS_TRAINED and THINK_AS_TRAINED.count("\\n") == 1
    assert THINK_AS_TRAINED.startswith("You FIRST think") and "answer. \\n The reasoning" in (
        THINK_AS_TRAINED
    )


@pytest.mark.parametrize("layout,think", CASES)
def test_each_layout_renders_the_reference_string(hf_backend, layout, think):
    assert hf_backend.render(_request(layout, think)) == RENDERED[layout, think]


def test_training_layout_content_is_easyr1s_split():
    # "<image> <image>" + task, split on the markers: image, " ", image, task (no empty parts)
    assert chat_messages("reference-train", 2, "go")[0]["content"] == [
        {"type": "image"},
        {"type": "text", "text": " "},
        {"type": "image"},
        {"type": "text", "text": "go"},
    ]
    with pytest.raises(ValueError, match="unknown layout"):
        chat_messages("qwen", 2, "go")  # type: ignore[arg-type]


def _served_input_ids(processor, messages: list[dict]) -> list[int]:
    """The prompt ids a `vllm serve` renders from an openai request: each image_url part becomes
    an image placeholder, the chat template renders the turn, and the image processor expands
    each placeholder for the image decoded from its data URL."""
    content, images = [], []
    for part in messages[0]["content"]:
        if part["type"] == "image_url":
            data = part["image_url"]["url"].split(",", 1)[1]
            images.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
            content.append({"type": "image"})
        else:
            content.append(part)
    chat = [{"role": "user", "content": content}]
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist()


@pytest.mark.parametrize("layout,think", CASES)
def test_hf_feeds_the_tokens_a_server_renders_from_the_openai_request(hf_backend, layout, think):
    request = _request(layout, think)
    served = OpenAIBackend("http://127.0.0.1:9/v1", "m", max_retries=0)
    try:
        expected = _served_input_ids(hf_backend.processor, served.messages(request))
    finally:
        served.close()
    assert hf_backend.input_ids(request) == expected  # the template-reuse path
    assert hf_backend.encode([request])["input_ids"][0].tolist() == expected  # the batched path
    assert expected.count(hf_backend.processor.image_token_id) == 2 * 16  # 112 px: 4x4 each


def test_data_build_rows_use_the_same_layout(tmp_path):
    from datasets import load_from_disk

    from helpers import write_got10k
    from r1track.training.data import BuildConfig, build_dataset
    from r1track.training.sampling import SamplingConfig

    write_got10k(tmp_path / "got", "train", num_seqs=2, length=6)
    config = BuildConfig(
        "got10k",
        str(tmp_path / "got"),
        num_samples=2,
        val_fraction=0.0,
        think=True,
        layout="reference-train",
        sampling=SamplingConfig(sizes=(112,), max_gap=3),
    )
    build_dataset(config, tmp_path / "data", workers=1, progress=False)
    for row in load_from_disk(str(tmp_path / "data"))["train"]:
        task = tracking_prompt(row["template_boxes"][0], "5k")
        expected = chat_messages("reference-train", 2, task, think=True)[0]["content"]
        content = [
            {k: v for k, v in part.items() if v is not None} for part in row["prompt"][0]["content"]
        ]
        assert content == expected
        assert content[0] == {"type": "text", "text": THINK_AS_TRAINED + " "}


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
