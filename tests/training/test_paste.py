"""Pasted-target samples (`data build --paste-rate`): only the template says which to answer."""

from __future__ import annotations

import numpy as np
from PIL import Image

from r1track.training.paste import MAX_COVER, paste_sample
from r1track.training.sampling import Sample


def _sample(name: str, colour, box: list[int], size: int = 112) -> Sample:
    """A sample whose search crop is grey with a `colour` target at `box` and whose template
    is a crop of that colour."""
    search = Image.new("RGB", (size, size), (128, 128, 128))
    search.paste(colour, tuple(box))
    template = Image.new("RGB", (size, size), colour)
    return Sample(name, [0, 3], size, [template, search], [[37, 37, 75, 75]], box)


def _where(image: Image.Image, colour) -> np.ndarray:
    return np.all(np.asarray(image) == np.array(colour, np.uint8), axis=-1)


def test_the_pasted_target_lies_beside_the_target_and_answers_under_its_own_template():
    red, green = (200, 30, 30), (30, 200, 30)
    base = _sample("a", red, [40, 40, 70, 80])
    other = _sample("b", green, [50, 45, 66, 71])  # 16 x 26
    kinds = set()
    for seed in range(40):
        out = paste_sample(base, other, np.random.default_rng(seed))
        assert out is not None and out.sequence == "a+b" and out.size == 112
        search = out.images[-1]
        ys, xs = np.nonzero(_where(search, green))  # the pasted patch, and nothing else green
        placed = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        assert len(xs) == (placed[2] - placed[0]) * (placed[3] - placed[1])
        assert 0.8 * 16 - 1 <= placed[2] - placed[0] <= 1.25 * 16 + 1
        assert 0.8 * 26 - 1 <= placed[3] - placed[1] <= 1.25 * 26 + 1
        # the target keeps at least 1 - MAX_COVER of its pixels; grey elsewhere is untouched
        assert _where(search, red).sum() >= (1 - MAX_COVER) * 30 * 40
        rest = ~_where(search, red) & ~_where(search, green)
        assert np.all(np.asarray(search)[rest] == 128)
        assert base.images[-1].getpixel((0, 0)) == (128, 128, 128)  # the base is not changed
        if out.solution == placed:  # answered with the pasted one: under the other's template
            assert out.images[0] is other.images[0] and out.template_boxes == other.template_boxes
            kinds.add("pasted")
        else:
            assert out.solution == base.solution and out.images[0] is base.images[0]
            kinds.add("target")
    assert kinds == {"pasted", "target"}


def test_no_room_beside_the_target_gives_no_sample():
    base = _sample("a", (200, 30, 30), [0, 0, 112, 112])
    other = _sample("b", (30, 200, 30), [50, 45, 66, 71])
    assert paste_sample(base, other, np.random.default_rng(0)) is None


def test_data_build_pastes_at_its_rate_and_records_what_it_gave_up(got_train, tmp_path):
    from datasets import load_from_disk

    from r1track.training.data import BuildConfig, build_dataset
    from r1track.training.sampling import SamplingConfig

    def build(out, rate):
        sampling = SamplingConfig(sizes=(112,), max_gap=5, paste_rate=rate)
        config = BuildConfig("got10k", str(got_train), num_samples=24, sampling=sampling)
        return build_dataset(config, tmp_path / out, workers=1, progress=False)

    info = build("pasted", 1.0)
    rows = load_from_disk(str(tmp_path / "pasted"))["train"]
    pasted = [name for name in rows["sequence"] if "+" in name]
    gave_up = info["stats"]["train"]["drops"].get("paste_gave_up", 0)
    assert len(pasted) + gave_up == len(rows) and len(pasted) >= len(rows) // 2
    build("plain", 0.0)
    plain = load_from_disk(str(tmp_path / "plain"))["train"]
    assert not any("+" in name for name in plain["sequence"])
