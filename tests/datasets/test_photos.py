"""`data synth --photos`: scenes made of photographs, deterministic for a seed and a set."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from r1track.cli import main
from r1track.datasets import load_dataset
from r1track.datasets.photos import PhotoSet
from r1track.datasets.synth import SynthConfig, synth_sequence
from r1track.errors import ConfigError, UserError

FLAT = {"red.png": (200, 30, 30), "sub/green.jpg": (30, 200, 30), "blue.png": (30, 30, 200)}


def _flat_photos(folder, colours=FLAT):
    """Photographs of one colour each, so that every pixel of a scene says where it came from."""
    for name, colour in colours.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (160, 120), colour).save(path, quality=100)
    return folder


def _textured_photos(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
    return folder


def test_photo_set_is_read_in_path_order_and_named_by_its_bytes(tmp_path):
    photos = PhotoSet(_flat_photos(tmp_path / "a"))
    assert photos.names == ["blue.png", "red.png", "sub/green.jpg"]
    assert tuple(int(v) for v in photos.images[0][5, 5].round()) == (30, 30, 200)
    assert min(photos.images[0].shape[:2]) == 480  # scaled to SHORT_SIDE on reading
    same = PhotoSet(_flat_photos(tmp_path / "b"))
    assert same.digest == photos.digest
    _flat_photos(tmp_path / "c", {**FLAT, "red.png": (201, 30, 30)})
    assert PhotoSet(tmp_path / "c").digest != photos.digest  # one file's bytes changed
    assert photos.record().splitlines() == [f"digest {photos.digest}", *photos.names]


def _bad_folder(root, kind):
    folder = root / kind
    if kind != "missing":
        folder.mkdir()
    if kind == "not-an-image":
        (folder / "x.jpg").write_text("text")
    if kind == "too-small":
        Image.new("RGB", (20, 80)).save(folder / "t.png")
    return folder


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "is not a folder"),
        ("empty", "has no .jpg/.jpeg/.png/.webp files"),
        ("not-an-image", "x.jpg is not a readable image"),
        ("too-small", "t.png is 20x80, under 64 px"),
    ],
)
def test_photo_set_refuses_bad_folders_in_one_line(tmp_path, kind, message):
    with pytest.raises(UserError) as caught:
        PhotoSet(_bad_folder(tmp_path, kind))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_photo_scenes_are_made_of_the_photographs(tmp_path):
    """No illumination, blur or look-alikes: every pixel of every frame is one photograph's
    colour, and the target's pixels are all one photograph's (a procedural scene is neither)."""
    photos = PhotoSet(_flat_photos(tmp_path))
    allowed = {tuple(int(v) for v in im[0, 0].round()) for im in photos.images}  # as decoded
    config = SynthConfig(min_length=6, max_length=6, illumination=0, distractors=0, clutter=0.5)
    for seed in range(4):
        frames, boxes, cover, *_ = synth_sequence(np.random.default_rng(seed), config, photos)
        for frame, box, c in zip(frames, boxes, cover, strict=True):
            pixels = np.asarray(frame).reshape(-1, 3)
            assert {tuple(int(v) for v in p) for p in np.unique(pixels, axis=0)} <= allowed
            if c == 8:  # fully visible: the target's centre pixel is a photograph's colour
                x, y, w, h = box
                assert tuple(np.asarray(frame)[int(y + h / 2), int(x + w / 2)]) in allowed
    procedural = synth_sequence(np.random.default_rng(0), config)[0][0]
    assert len(np.unique(np.asarray(procedural).reshape(-1, 3), axis=0)) > 100


def test_photo_synth_is_deterministic_and_records_its_set(tmp_path):
    photos = _textured_photos(tmp_path / "photos")
    args = [
        "--split",
        "val",
        "--num-seqs",
        "2",
        "--seed",
        "3",
        "--min-length",
        "8",
        "--max-length",
        "8",
        "--photos",
        str(photos),
        "--blur",
        "1.5",
        "--shake",
        "2",
    ]
    for name in ("a", "b"):
        assert main(["data", "synth", "--out", str(tmp_path / name), *args]) == 0
    a, b = (load_dataset("got10k", tmp_path / n, "val") for n in ("a", "b"))
    for sa, sb in zip(a, b, strict=True):
        assert np.array_equal(sa.boxes, sb.boxes)
        assert [f.read_bytes() for f in sa.frame_files] == [f.read_bytes() for f in sb.frame_files]
        assert sa.description.startswith("the ") and len(sa.description.split()) == 3
    record = (tmp_path / "a/val/photos.txt").read_text().splitlines()
    assert record == [f"digest {PhotoSet(photos).digest}", "p0.png", "p1.png", "p2.png"]


def test_blur_keeps_the_motion_and_softens_the_frames(tmp_path):
    photos = PhotoSet(_textured_photos(tmp_path))
    sharp = SynthConfig(min_length=5, max_length=5)
    blurred = SynthConfig(min_length=5, max_length=5, blur=3.0)
    a = synth_sequence(np.random.default_rng(1), sharp, photos)
    b = synth_sequence(np.random.default_rng(1), blurred, photos)
    assert np.array_equal(a[1], b[1])  # the same boxes: blur is drawn after everything else

    def edges(frame):
        pixels = np.asarray(frame, np.float32)
        return float(np.abs(np.diff(pixels, axis=1)).mean())

    assert all(edges(fb) < edges(fa) for fa, fb in zip(a[0], b[0], strict=True))


def test_data_synth_refuses_a_photos_path_that_is_not_a_folder(tmp_path, capsys):
    code = main(
        [
            "data",
            "synth",
            "--out",
            str(tmp_path / "o"),
            "--num-seqs",
            "1",
            "--photos",
            str(tmp_path / "nowhere"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "is not a folder" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_photo_rate_mixes_photographic_and_the_procedural_sequences_of_the_seed(tmp_path):
    photos = _flat_photos(tmp_path / "photos")
    common = [
        "--split",
        "val",
        "--num-seqs",
        "8",
        "--seed",
        "2",
        "--min-length",
        "4",
        "--max-length",
        "4",
        "--illumination",
        "0",
        "--distractors",
        "0",
    ]
    main(
        [
            "data",
            "synth",
            "--out",
            str(tmp_path / "mixed"),
            *common,
            "--photos",
            str(photos),
            "--photo-rate",
            "0.5",
        ]
    )
    main(["data", "synth", "--out", str(tmp_path / "plain"), *common])
    mixed, plain = (load_dataset("got10k", tmp_path / n, "val") for n in ("mixed", "plain"))
    allowed = {tuple(int(v) for v in im[0, 0].round()) for im in PhotoSet(photos).images}
    kinds = []
    for m, p in zip(mixed, plain, strict=True):
        pixels = np.asarray(Image.open(m.frame_files[0]).convert("RGB")).reshape(-1, 3)
        near = [np.abs(pixels - np.array(c)).max(1) <= 16 for c in allowed]
        flat = np.logical_or.reduce(near).mean() > 0.9  # made of the flat photographs (JPEG'd)
        same = m.frame_files[0].read_bytes() == p.frame_files[0].read_bytes()
        assert flat != same  # photographic, or exactly the procedural sequence of the seed
        kinds.append(flat)
    assert 0 < sum(kinds) < len(kinds)


def test_aspect_max_draws_tall_and_wide_targets():
    """Independent width and height rarely give a person's 1:3; `aspect_max` 4 does, both ways."""

    def aspects(config):
        out = []
        for seed in range(40):
            boxes = synth_sequence(np.random.default_rng(seed), config)[1]
            out.append(boxes[0, 2] / boxes[0, 3])
        return np.array(out)

    plain = aspects(
        SynthConfig(min_length=2, max_length=2, scale_change=0, occluders=0, out_of_view=0)
    )
    wide = aspects(
        SynthConfig(
            min_length=2, max_length=2, scale_change=0, occluders=0, out_of_view=0, aspect_max=4
        )
    )
    assert ((plain < 1 / 2.6) | (plain > 2.6)).sum() == 0  # independent draws stay within 2.5
    assert (wide < 1 / 2.6).sum() >= 3 and (wide > 2.6).sum() >= 3
    assert ((wide > 1 / 4.5) & (wide < 4.5)).all()


def test_aspect_max_below_one_is_refused():
    with pytest.raises(ConfigError) as caught:
        SynthConfig(aspect_max=0.5)
    assert caught.value.field == "aspect_max"
