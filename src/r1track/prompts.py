"""Every prompt string the project sends to a model, and the parser for the model's answers.

The tracking texts are exactly those the released R1-Track checkpoints were trained on: a
different space or newline changes the tokens and degrades a fine-tuned model, so the strings
live here and nowhere else, and so does the message layout (`chat_messages`): where the images,
the task text and the think instruction go in the user turn. Image order is always template(s),
then search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

PromptVariant = Literal["5k", "5k-oneline", "100k", "nano"]

# `{box}` is the template box in template-crop pixels, rendered by `format_box`.
TRACKING_TEMPLATES: dict[str, str] = {
    # R1-Track-5k models (SFT-5k, GRPO-5k, GRPO-wo-Think-5k).
    "5k": (
        "Please identify the target specified by the bounding box {box} in the first image and "
        "locate it in the second image. \n Return the coordinates in [x_min,y_min,x_max,y_max] "
        "format."
    ),
    # The same text as the reference's first inference script had it: one space, no newline,
    # between "second image." and "Return" (the 5k dataset's own text is not public).
    "5k-oneline": (
        "Please identify the target specified by the bounding box {box} in the first image and "
        "locate it in the second image. Return the coordinates in [x_min,y_min,x_max,y_max] "
        "format."
    ),
    # R1-Track-100k models (SFT-100k, GRPO-100k, GRPO-wo-Think-100k).
    "100k": (
        "Given two images, you need to:\n"
        "1. Analyze and Identify the target object marked by bounding box {box} in <image_1>;\n"
        "2. Re-locate this target in <image_2>;\n"
        "3. Return [x_min, y_min, x_max, y_max] coordinates of the target in <image_2>."
    ),
    # r1track-nano (trained from scratch by `make nano`): no box in the text. The template crop is
    # centred on the target at a known scale, so the image alone says what to follow; a model
    # trained from scratch copies a box it is given in text and never learns to read the images
    # (docs/nano.md, "Why the nano prompt has no box").
    "nano": "track",
}
PROMPT_VARIANTS: tuple[str, ...] = tuple(TRACKING_TEMPLATES)

# Think variants join this and the task text with one space (where it goes: `chat_messages`).
THINK_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the "
    "final answer. \n The reasoning process MUST BE enclosed within <think> </think> tags. The "
    "final answer MUST BE put in <answer> </answer> tags."
)

# The think instruction as the released think checkpoint (GRPO-5k) was trained on it: the launch
# script passed it on a shell command line, so each `\n` arrived as backslash + `n`.
THINK_INSTRUCTION_AS_TRAINED = THINK_INSTRUCTION.replace("\n", "\\n")
# The image marker of the reference's datasets (EasyR1 `problem`, ShareGPT): the trainer splits the
# text on it and puts each image where its marker was.
IMAGE_MARKER = "<image>"

# Text initialisation: Qwen2.5-VL's grounding request on the whole first frame.
GROUNDING_TEMPLATE = (
    "Locate the {description} in this image and output its bbox coordinates in JSON format."
)

# Answer budgets: a no-think box is ~25 tokens; think answers were trained with 512.
MAX_NEW_TOKENS = {False: 64, True: 512}
GROUNDING_MAX_NEW_TOKENS = 128
# A tracking answer is complete at its closing bracket (no-think) or closing tag (think): decoding
# stops there instead of running to the token budget.
STOP_STRINGS = {False: ("]",), True: ("</answer>",)}


def format_box(box_xyxy) -> str:
    """Render a box as the checkpoints saw it in training: `[x1,y1,x2,y2]`, integers, no spaces.

    Numbers are truncated toward zero, as R1-Track wrote its template boxes in training data and
    at inference (`list(map(int, box))`): 241.9 -> 241, -3.7 -> -3.
    """
    return "[" + ",".join(str(int(float(v))) for v in box_xyxy) + "]"


def _check_variant(variant: str) -> None:
    if variant not in PROMPT_VARIANTS:
        raise ValueError(
            f"unknown prompt variant {variant!r}; expected one of {', '.join(PROMPT_VARIANTS)}"
        )


def tracking_prompt(template_box_xyxy, variant: PromptVariant = "5k") -> str:
    """The per-video task text: it depends only on the template box, so it is fixed per video.
    The think instruction is not part of it: the layout puts it in place (`chat_messages`)."""
    _check_variant(variant)
    return TRACKING_TEMPLATES[variant].format(box=format_box(template_box_xyxy))


# Three-image samples (two templates + search) are r1track's own extension of the 100k recipe:
# the reference gives no text for them, so these follow the 2-image texts as closely as possible.
TWO_TEMPLATE_TEMPLATES: dict[str, str] = {
    "5k": (
        "Please identify the target specified by the bounding box {box1} in the first image and "
        "the bounding box {box2} in the second image and locate it in the third image. \n Return "
        "the coordinates in [x_min,y_min,x_max,y_max] format."
    ),
    "5k-oneline": (
        "Please identify the target specified by the bounding box {box1} in the first image and "
        "the bounding box {box2} in the second image and locate it in the third image. Return "
        "the coordinates in [x_min,y_min,x_max,y_max] format."
    ),
    "100k": (
        "Given three images, you need to:\n"
        "1. Analyze and Identify the target object marked by bounding box {box1} in <image_1> and "
        "by bounding box {box2} in <image_2>;\n"
        "2. Re-locate this target in <image_3>;\n"
        "3. Return [x_min, y_min, x_max, y_max] coordinates of the target in <image_3>."
    ),
    "nano": TRACKING_TEMPLATES["nano"],  # no boxes: the same text for one template or two
}


def task_prompt(template_boxes, variant: PromptVariant = "5k") -> str:
    """Task text for one template box (2 images) or two template boxes (3 images)."""
    boxes = list(template_boxes)
    if len(boxes) == 1:
        return tracking_prompt(boxes[0], variant)
    if len(boxes) != 2:
        raise ValueError(f"one or two template boxes, got {len(boxes)}")
    _check_variant(variant)
    return TWO_TEMPLATE_TEMPLATES[variant].format(
        box1=format_box(boxes[0]), box2=format_box(boxes[1])
    )


ABSENT_ANSWER = "[]"
"""The answer for "the target is not in the search crop": the empty list, no box. Models trained
by r1track with `data build --absent-rate` learn it; the tracker reads it as not visible
(`ParsedAnswer.absent`). It ends with the no-think stop string, so decoding stops on it. The
released R1-Track checkpoints were never trained on it."""


def answer_text(box_xyxy, think: bool = False) -> str:
    """The target answer for supervised training: the box (None: `ABSENT_ANSWER`), in <answer>
    tags for think models."""
    box = ABSENT_ANSWER if box_xyxy is None else format_box(box_xyxy)
    return f"<answer>{box}</answer>" if think else box


def grounding_prompt(description: str) -> str:
    """The text-initialisation request for a free-form description of the target."""
    description = " ".join(description.split())
    if not description:
        raise ValueError("the text description of the target is empty")
    return GROUNDING_TEMPLATE.format(description=description)


# Message layouts: the content of the one user turn (no system message is sent in any of them, so
# Qwen's chat template inserts its default system prompt, "You are a helpful assistant.").
Layout = Literal["r1track", "reference-train", "reference-eval"]
LAYOUTS: tuple[str, ...] = ("r1track", "reference-train", "reference-eval")
"""`r1track`: the images, then one text part (the think instruction, a space, the task text);
r1track-nano was trained on it, and it is the layout of the reference's first inference script.
`reference-train`: what EasyR1 made of the reference's training text `"<image> <image>" + task`
(split on the markers): image, `" "`, image, task text; think: the instruction as trained
(`THINK_INSTRUCTION_AS_TRAINED`) and a space BEFORE the first image.
`reference-eval`: what the reference's later inference script sends: the images, then one text
part that still begins with the markers, `"<image> <image>" + task`; think: the instruction (real
newline) and a space before the markers, all after the images."""


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")


def _markers(num_images: int) -> str:
    """The reference's image markers for `num_images` images, joined by spaces."""
    return " ".join([IMAGE_MARKER] * num_images)


def _split_on_markers(text: str) -> list[str | None]:
    """A text with image markers as content parts, the way EasyR1 splits its `problem`: None
    for each image, the text between markers where it is not empty."""
    parts: list[str | None] = []
    for i, piece in enumerate(text.split(IMAGE_MARKER)):
        if i:
            parts.append(None)
        if piece:
            parts.append(piece)
    return parts


def layout_parts(layout: Layout, num_images: int, text: str, think: bool = False):
    """The user turn's content in order: None for each image (in request order), a string for
    each text part. `text` is the task text; `think` adds the instruction where `layout` has it."""
    _check_layout(layout)
    if layout == "reference-train":
        problem = _markers(num_images) + text
        if think:
            problem = f"{THINK_INSTRUCTION_AS_TRAINED.strip()} {problem}"
        return _split_on_markers(problem)
    if layout == "reference-eval":
        text = (_markers(num_images) + text) if num_images else text
    if think:
        text = f"{THINK_INSTRUCTION} {text}"
    return [None] * num_images + [text]


def image_placeholder(index: int) -> dict:
    """The content part of image `index` for a processor's chat template."""
    return {"type": "image"}


def chat_messages(
    layout: Layout,
    num_images: int,
    text: str,
    think: bool = False,
    image_part: Callable[[int], dict] = image_placeholder,
) -> list[dict]:
    """The chat of one request: a single user turn laid out as `layout` says (`layout_parts`).
    The only place a layout is written: the `hf` backend, the `openai` backend (its `image_part`
    gives data URLs) and `data build` all call it. Image parts are made by `image_part(i)`."""
    content: list[dict] = []
    images = 0
    for part in layout_parts(layout, num_images, text, think):
        if part is None:
            content.append(image_part(images))
            images += 1
        else:
            content.append({"type": "text", "text": part})
    return [{"role": "user", "content": content}]


# ---------------------------------------------------------------------------------------------
# Answer parsing


@dataclass(frozen=True)
class ParsedAnswer:
    """The outcome of parsing one model answer: a box, or the reason there is none."""

    box: tuple[float, float, float, float] | None
    """`(x1, y1, x2, y2)` as the model wrote it (not validated geometrically)."""
    error: str | None = None
    """Why no box was found; None when `box` is set."""
    absent: bool = False
    """The answer is `ABSENT_ANSWER`: the model says the target is not there."""

    @property
    def ok(self) -> bool:
        return self.box is not None


_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# Exactly four numbers in brackets or parentheses, separated by commas (spaces allowed).
_BOX_RE = re.compile(
    r"[\[(]\s*("
    + _NUM
    + r")\s*,\s*("
    + _NUM
    + r")\s*,\s*("
    + _NUM
    + r")\s*,\s*("
    + _NUM
    + r")\s*[\])]"
)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_BBOX_KEY_RE = re.compile(r"""["']?bbox(?:_2d)?["']?\s*:""")


def _answer_region(text: str) -> str:
    """The part of an answer that holds the final box: inside the last <answer> tag if any,
    otherwise after the reasoning, otherwise the whole text."""
    answers = _ANSWER_RE.findall(text)
    if answers:
        return answers[-1]
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if "<answer>" in text:  # an answer tag that was never closed (truncated output)
        return text.rsplit("<answer>", 1)[1]
    return text


def parse_box(text: object) -> ParsedAnswer:
    """Find the box in a model answer. Never raises: a failure is a value with its reason.

    Accepts a bare list `[x1,y1,x2,y2]`, the same inside `<answer>` tags or a code fence, JSON
    such as `{"bbox_2d": [...]}` or a list of such objects (the first wins), spaces, floats and
    parentheses. A box mentioned only inside `<think>` is not taken as the answer.

    >>> parse_box("<think>...</think><answer>[10, 20.5, 30,40]</answer>").box
    (10.0, 20.5, 30.0, 40.0)
    >>> parse_box("no idea").error
    'no box of four numbers in the answer'
    >>> parse_box("<answer>[]</answer>").absent
    True
    """
    if not isinstance(text, str):
        return ParsedAnswer(None, f"answer is {type(text).__name__}, not text")
    if not text.strip():
        return ParsedAnswer(None, "empty answer")
    region = _answer_region(text)
    if region.strip().strip("`").removeprefix("json").strip() == ABSENT_ANSWER:
        return ParsedAnswer(None, "the answer says the target is absent", absent=True)
    # Prefer an explicit bbox key: JSON answers may carry other numeric lists first.
    key = _BBOX_KEY_RE.search(region)
    match = _BOX_RE.search(region, key.end()) if key else None
    if match is None:
        match = _BOX_RE.search(region)
    if match is None:
        return ParsedAnswer(None, "no box of four numbers in the answer")
    try:
        values = tuple(float(v) for v in match.groups())
    except ValueError:  # pragma: no cover - the regex only admits float syntax
        return ParsedAnswer(None, "box numbers are not valid numbers")
    if not all(math.isfinite(v) for v in values):
        return ParsedAnswer(None, "box has a non-finite number")
    return ParsedAnswer(values)  # type: ignore[arg-type]
