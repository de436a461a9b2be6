"""Prompt strings against the reference texts, the answer parser, message layouts and the stop
strings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import LAYOUT_CASES, RENDERED, THINK_AS_TRAINED, layout_request
from r1track.prompts import (
    STOP_STRINGS,
    THINK_INSTRUCTION,
    chat_messages,
    format_box,
    grounding_prompt,
    parse_box,
    task_prompt,
    tracking_prompt,
)

# The reference texts, spelled out character by character (\n is a newline).
REF_5K = (
    "Please identify the target specified by the bounding box [241,66,329,154] in the first "
    "image and locate it in the second image. \n Return the coordinates in "
    "[x_min,y_min,x_max,y_max] format."
)
REF_100K = (
    "Given two images, you need to:\n1. Analyze and Identify the target object marked by "
    "bounding box [241,66,329,154] in <image_1>;\n2. Re-locate this target in <image_2>;\n3. "
    "Return [x_min, y_min, x_max, y_max] coordinates of the target in <image_2>."
)
REF_THINK = (
    "You FIRST think about the reasoning process as an internal monologue and then provide "
    "the final answer. \n The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE put in <answer> </answer> tags."
)


def test_prompts_match_reference_texts():
    box = (241, 66, 329, 154)
    assert tracking_prompt(box, "5k") == REF_5K
    assert tracking_prompt(box, "100k") == REF_100K
    assert tracking_prompt(box, "5k-oneline") == REF_5K.replace(". \n Return", ". Return")
    assert THINK_INSTRUCTION == REF_THINK
    for layout in ("r1track", "reference-eval"):  # the instruction, one space, the task text
        text = chat_messages(layout, 0, REF_5K, think=True)[0]["content"][-1]["text"]
        assert text == REF_THINK + " " + REF_5K


def test_box_is_truncated_integers_without_spaces():
    # R1-Track wrote its template boxes with int(): truncation toward zero, not rounding
    assert format_box((240.6, 66.4, 329.5, 153.5)) == "[240,66,329,153]"
    assert format_box((-3.7, -0.2, 10.99, 11)) == "[-3,0,10,11]"
    assert tracking_prompt((0.2, 1.7, 10, 11)).count("[0,1,10,11]") == 1


def test_nano_prompt_holds_no_box():
    # r1track-nano reads the target from the template image; a box in the text would be copied
    for boxes in ([(241, 66, 329, 154)], [(1, 2, 3, 4), (5, 6, 7, 8)]):
        text = task_prompt(boxes, "nano")
        assert text == "track" and not parse_box(text).ok
    text = chat_messages("r1track", 2, tracking_prompt((1, 2, 3, 4), "nano"), think=True)
    assert text[0]["content"][-1]["text"] == REF_THINK + " track"


def test_unknown_variant_rejected():
    with pytest.raises(ValueError, match="unknown prompt variant"):
        tracking_prompt((1, 2, 3, 4), "50k")  # type: ignore[arg-type]


def test_message_layout_images_first_then_text():
    messages = chat_messages("r1track", 2, "hello")
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "hello"}],
        }
    ]


def test_grounding_prompt():
    assert grounding_prompt("  the red\ncar ") == (
        "Locate the the red car in this image and output its bbox coordinates in JSON format."
    )
    with pytest.raises(ValueError):
        grounding_prompt("   ")


@pytest.mark.parametrize(
    ("answer", "box"),
    [
        ("[10,20,30,40]", (10, 20, 30, 40)),
        ("[10, 20, 30, 40]", (10, 20, 30, 40)),
        (" [ 10.5 ,20,30 , 40.25 ] ", (10.5, 20, 30, 40.25)),
        (
            "<think>the box was [1,2,3,4] before</think><answer>[10,20,30,40]</answer>",
            (10, 20, 30, 40),
        ),
        ("<think>first [1,2,3,4]</think> so [10,20,30,40]", (10, 20, 30, 40)),
        ("<answer>[1,1,2,2]</answer><answer>[10,20,30,40]</answer>", (10, 20, 30, 40)),
        ("```json\n[10,20,30,40]\n```", (10, 20, 30, 40)),
        ('```json\n{"bbox_2d": [10, 20, 30, 40], "label": "car"}\n```', (10, 20, 30, 40)),
        (
            '[{"bbox_2d": [10, 20, 30, 40], "label": "a"}, {"bbox_2d": [1, 2, 3, 4]}]',
            (10, 20, 30, 40),
        ),
        ('{"id": [1, 2, 3, 4], "bbox_2d": [10, 20, 30, 40]}', (10, 20, 30, 40)),
        ("[[10,20,30,40]]", (10, 20, 30, 40)),
        ("(10,20,30,40)", (10, 20, 30, 40)),
        ("[-5,20,1e2,40]", (-5, 20, 100, 40)),
        ("<answer>[10,20,30,40]", (10, 20, 30, 40)),  # truncated before </answer>
    ],
)
def test_parser_accepts_answer_styles(answer, box):
    parsed = parse_box(answer)
    assert parsed.ok and parsed.error is None
    assert parsed.box == pytest.approx(box)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   ",
        "I cannot see it",
        "[10,20,30]",
        "[10,20,30,40,50]",
        "[a,b,c,d]",
        "<think>[1,2,3,4]</think><answer>none</answer>",
        "[1 2 3 4]",
        None,
        42,
    ],
)
def test_parser_rejects_with_reason(answer):
    parsed = parse_box(answer)
    assert not parsed.ok and parsed.box is None
    assert isinstance(parsed.error, str) and parsed.error


@settings(max_examples=3000, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
    | st.text(alphabet="[](){},.-+eE0123456789 <>/answerthinkbbox_2d:\"'`\n", max_size=300)
)
def test_parser_fuzz_never_raises_and_always_decides(text):
    parsed = parse_box(text)
    assert parsed.ok == (parsed.box is not None)
    assert parsed.ok == (parsed.error is None)
    if parsed.ok:
        assert len(parsed.box) == 4
        assert all(isinstance(v, float) for v in parsed.box)


@given(
    st.lists(st.integers(-5000, 5000), min_size=4, max_size=4),
    st.sampled_from(["", " ", "  "]),
    st.booleans(),
)
def test_parser_reads_back_any_box_it_could_be_given(values, space, think):
    body = "[" + ("," + space).join(str(v) for v in values) + "]"
    text = f"<think>reasoning</think><answer>{body}</answer>" if think else body
    assert parse_box(text).box == tuple(float(v) for v in values)


def test_think_instruction_as_trained_has_no_newline():
    assert "\n" not in THINK_AS_TRAINED and THINK_AS_TRAINED.count("\\n") == 1
    assert THINK_AS_TRAINED.startswith("You FIRST think") and "answer. \\n The reasoning" in (
        THINK_AS_TRAINED
    )


@pytest.mark.parametrize("layout,think", LAYOUT_CASES)
def test_each_layout_renders_the_reference_string(hf_backend, layout, think):
    assert hf_backend.render(layout_request(layout, think)) == RENDERED[layout, think]


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


@pytest.mark.parametrize(
    ("think", "answer"),
    [
        (False, "[10,20,30,40]"),
        (False, " [ 10.5 , 20, 30, 40 ] and more"),
        (False, "```json\n[10,20,30,40]\n```"),
        (False, '{"bbox_2d": [10, 20, 30, 40], "label": "car"}'),
        (False, "[[10,20,30,40]]"),
        (True, "<think>it was at [1,2,3,4] before</think><answer>[10,20,30,40]</answer>"),
        (True, "<think>hm</think> <answer> [10, 20, 30, 40] </answer> trailing"),
    ],
)
def test_stopping_at_the_stop_string_never_cuts_a_valid_answer(think, answer):
    stop = STOP_STRINGS[think][0]
    cut = answer[: answer.index(stop) + len(stop)]
    assert parse_box(cut).box == parse_box(answer).box == (10, 20, 30, 40) or (
        parse_box(cut).box == parse_box(answer).box == (10.5, 20, 30, 40)
    )
