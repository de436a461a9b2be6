"""Pair sampling: crop geometry of the sampled pairs, and the sampling config's checks."""

from __future__ import annotations

import pytest

from r1track.cli import main
from r1track.training.sampling import SamplingConfig


def _offset(box) -> float:
    """How far a box's centre lies from the centre of a 112 px crop (the larger of x and y)."""
    x1, y1, x2, y2 = box
    return max(abs((x1 + x2) / 2 - 56), abs((y1 + y2) / 2 - 56))


def _side(box) -> float:
    x1, y1, x2, y2 = box
    return ((x2 - x1) * (y2 - y1)) ** 0.5


def _template_and_search(out, measure) -> dict[str, list[float]]:
    """`measure(box)` of every template box and every search box of a built dataset."""
    from datasets import load_from_disk

    rows = load_from_disk(str(out))["train"]
    values = {"template": [], "search": []}
    for (template,), search in zip(rows["template_boxes"], rows["solution"], strict=True):
        values["template"].append(measure(template))
        values["search"].append(measure(search))
    return values


def test_data_build_crop_geometry_flags(got_train, tmp_path):
    """--context-range 3,3 --jitter 0: the search box is centred with side crop / 3."""
    out = tmp_path / "fixed"
    args = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--sizes", "112"]
    extra = ["--num-samples", "8", "--context-range", "3,3", "--jitter", "0", "--out", str(out)]
    assert main([*args, *extra]) == 0
    for offset, side in _template_and_search(out, lambda b: (_offset(b), _side(b)))["search"]:
        assert offset <= 1 and abs(side - 112 / 3) <= 2
    # --template-jitter 0: templates centred (a box-free prompt's contract), search crops not
    out = tmp_path / "centred-templates"
    extra = ["--num-samples", "16", "--context-range", "3,3", "--jitter", "0.3", "--out", str(out)]
    assert main([*args, *extra, "--template-jitter", "0"]) == 0
    offsets = _template_and_search(out, _offset)
    assert max(offsets["template"]) <= 1
    assert max(offsets["search"]) > 5
    # --template-context 3 with a wide --context-range: templates at the tracker's scale, the
    # target's size in the search crops varies (it must be read from the image)
    out = tmp_path / "search-scales"
    extra = ["--num-samples", "24", "--context-range", "2,5", "--jitter", "0", "--out", str(out)]
    assert main([*args, *extra, "--template-context", "3"]) == 0
    sides = _template_and_search(out, _side)
    assert all(abs(side - 112 / 3) <= 2 for side in sides["template"])
    assert max(sides["search"]) - min(sides["search"]) > 15


# -- config checks: the configs refuse bad values themselves, for library callers too ------------


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"sizes": ()}, "sizes", "must name at least one crop size"),
        (
            {"sizes": (112, 100)},
            "sizes",
            "must be multiples of 28 (Qwen keeps them unresized), got [100]",
        ),
        ({"images": 4}, "images", "must be 2 or 3, got 4"),
        (
            {"context_range": (4.0, 2.0)},
            "context_range",
            "must be LOW,HIGH with 1 <= LOW <= HIGH, got (4.0, 2.0)",
        ),
        (
            {"context_range": (0.5, 2.0)},
            "context_range",
            "must be LOW,HIGH with 1 <= LOW <= HIGH, got (0.5, 2.0)",
        ),
        (
            {"context_range": (3.0,)},
            "context_range",
            "must be LOW,HIGH with 1 <= LOW <= HIGH, got (3.0,)",
        ),
        ({"jitter": 0.7}, "jitter", "must be in [0, 0.5), got 0.7"),
        ({"jitter": -0.1}, "jitter", "must be in [0, 0.5), got -0.1"),
        ({"template_jitter": 0.5}, "template_jitter", "must be in [0, 0.5), got 0.5"),
        ({"template_jitter": -0.1}, "template_jitter", "must be in [0, 0.5), got -0.1"),
        ({"template_context": 0.5}, "template_context", "must be at least 1, got 0.5"),
        ({"template_context": float("nan")}, "template_context", "must be at least 1, got nan"),
        ({"template_context": float("inf")}, "template_context", "must be at least 1, got inf"),
        ({"max_gap": 0}, "max_gap", "must be at least 1, got 0"),
        ({"coord_tint": 1.0}, "coord_tint", "must be in [0, 1), got 1.0"),
        ({"coord_tint": -0.5}, "coord_tint", "must be in [0, 1), got -0.5"),
        ({"resize": "bicubic"}, "resize", "'bicubic' is unknown; expected one of cv2, pil"),
        ({"absent_rate": 1.0}, "absent_rate", "must be in [0, 1), got 1.0"),
        ({"absent_rate": -0.1}, "absent_rate", "must be in [0, 1), got -0.1"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else None,
)
def test_sampling_config_refuses_bad_values(values, field, rule):
    from r1track.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        SamplingConfig(**values)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert str(caught.value) == f"{field.replace('_', ' ')} {rule}"


def test_sampling_config_takes_the_edge_values():
    """Each range's closed ends are allowed (the checks are not stricter than their rule)."""
    SamplingConfig(sizes=(28,), images=3, context_range=(1, 1), jitter=0, max_gap=1)
    SamplingConfig(template_jitter=0, template_context=1, coord_tint=0, resize="pil")
    SamplingConfig(jitter=0.499, template_jitter=None, template_context=None, coord_tint=0.999)


def test_missing_window_never_overlaps_the_target_and_keeps_its_centre_in_the_frame():
    """The miss kind of absent sample: a window of the usual side, IoU 0 with the box (touching
    allowed), its centre inside the frame; None when the frame has no room for one."""
    import numpy as np

    from r1track.training.sampling import missing_window

    rng = np.random.default_rng(0)
    config = SamplingConfig(context_range=(2.0, 4.0))
    box = (100.0, 60.0, 30.0, 20.0)  # x, y, w, h in a 320 x 200 frame
    sides = set()
    for _ in range(300):
        window = missing_window(box, (320, 200), 112, rng, config)
        assert window is not None and window.size == 112
        x0, y0, side = window.x0, window.y0, window.side
        sides.add(side)
        assert 2 * 24.5 <= side <= 4 * 24.5 + 1  # sqrt(30 * 20) x U(2, 4)
        apart_x = x0 + side <= box[0] or x0 >= box[0] + box[2]
        apart_y = y0 + side <= box[1] or y0 >= box[1] + box[3]
        assert apart_x or apart_y
        assert 0 <= x0 + side / 2 <= 320 and 0 <= y0 + side / 2 <= 200
    assert len(sides) > 10
    # a box that fills the frame leaves no room
    assert missing_window((0, 0, 320, 200), (320, 200), 112, rng, config) is None


def test_data_build_absent_rate_flag_is_recorded(got_train, tmp_path, capsys):
    import json

    out = tmp_path / "absent"
    args = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--sizes", "112"]
    extra = ["--num-samples", "8", "--absent-rate", "0.25", "--out", str(out)]
    assert main([*args, *extra]) == 0
    info = json.loads((out / "r1track_build.json").read_text())
    assert info["config"]["sampling"]["absent_rate"] == 0.25
    bad = ["--num-samples", "8", "--absent-rate", "1", "--out", str(tmp_path / "bad")]
    assert main([*args, *bad]) != 0
    assert "--absent-rate" in capsys.readouterr().err
