"""The released training sets' formats: `data import` and `data export`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from helpers import run_train
from r1track.cli import main


def _jpeg_bytes(seed: int, size: int = 112) -> bytes:
    import io

    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _stored_images(dataset_dir: Path, split: str = "train") -> list[list[bytes]]:
    from datasets import Image, List, load_from_disk

    rows = load_from_disk(str(dataset_dir))[split]
    rows = rows.cast_column("images", List(Image(decode=False)))
    return [[im["bytes"] for im in row["images"]] for row in rows]


RELEASED_TEXT = (
    "Given two images, you need to:\n1. Analyze and Identify the target object marked by bounding"
    " box [241,66,329,154] in <image_1>;\n2. Re-locate this target in <image_2>;\n3. Return"
    " [x_min, y_min, x_max, y_max] coordinates of the target in <image_2>."
)


def test_data_import_easyr1_is_lossless_and_trains(tiny_model, tmp_path, capsys):
    """Released EasyR1 parquet: the user turn is EasyR1's split of the marked text, the image
    bytes are kept as stored, the box is the solution; a bad row is dropped and counted."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    from r1track.backends.processor import load_processor

    images = [
        [
            {"bytes": _jpeg_bytes(2 * i), "path": f"t{i}.jpg"},
            {"bytes": _jpeg_bytes(2 * i + 1), "path": f"s{i}.jpg"},
        ]
        for i in range(4)
    ]
    problems = ["<image> <image>" + RELEASED_TEXT] * 3 + ["<image>" + RELEASED_TEXT]
    answers = ["[10,12,60,70]", "[0,0,5,5]", "[1,2,3,4]", "[1,2,3,4]"]
    src = tmp_path / "train-00000.parquet"
    pq.write_table(pa.table({"images": images, "problem": problems, "answer": answers}), src)
    out = tmp_path / "imported"
    assert main(["data", "import", "--format", "easyr1", "--src", str(src), "--out", str(out)]) == 0
    assert (
        "imported train 3 rows; dropped: 1 <image> markers for 2 images (1)"
        in capsys.readouterr().err
    )
    rows = load_from_disk(str(out))["train"]
    content = rows[0]["prompt"][0]["content"]
    assert [p["type"] for p in content] == ["image", "text", "image", "text"]
    assert content[1]["text"] == " " and content[3]["text"] == RELEASED_TEXT
    assert _stored_images(out) == [[im["bytes"] for im in row] for row in images[:3]]
    assert rows["solution"] == [[10, 12, 60, 70], [0, 0, 5, 5], [1, 2, 3, 4]]
    assert rows[0]["template_boxes"] == [[241, 66, 329, 154]]
    assert rows[0]["completion"][0]["content"][0]["text"] == "[10,12,60,70]"
    # rendered by Qwen's chat template exactly as EasyR1 trained: one space between the images
    chat = load_processor(tiny_model).apply_chat_template(rows[0]["prompt"], tokenize=False)
    assert "<|vision_end|> <|vision_start|>" in chat and "<|vision_end|>Given two images" in chat
    trained = tmp_path / "sft"
    assert run_train("sft", tiny_model, out, trained, "optim.max_steps=1") == 0


def test_data_import_sharegpt_reads_image_files_as_stored(tmp_path, capsys):
    from datasets import load_from_disk

    (tmp_path / "img").mkdir()
    for i in range(4):
        (tmp_path / "img" / f"{i}.jpg").write_bytes(_jpeg_bytes(10 + i))
    rows = [
        {
            "messages": [
                {"role": "user", "content": "<image><image>" + RELEASED_TEXT},
                {"role": "assistant", "content": "[3,4,50,60]"},
            ],
            "images": ["img/0.jpg", "img/1.jpg"],
        },
        {
            "conversations": [
                {"from": "human", "value": "<image><image>" + RELEASED_TEXT},
                {"from": "gpt", "value": "[5,6,70,80]"},
            ],
            "images": ["img/2.jpg", "img/3.jpg"],
        },
        {"messages": [{"role": "user", "content": "<image><image>x"}], "images": ["img/0.jpg"]},
    ]
    src = tmp_path / "r1track_sft.json"
    src.write_text(json.dumps(rows))
    out = tmp_path / "imported"
    assert (
        main(["data", "import", "--format", "sharegpt", "--src", str(src), "--out", str(out)]) == 0
    )
    assert "dropped: expected one user and one assistant turn (1)" in capsys.readouterr().err
    data = load_from_disk(str(out))["train"]
    assert data["solution"] == [[3, 4, 50, 60], [5, 6, 70, 80]]
    assert [p["type"] for p in data[1]["prompt"][0]["content"]] == ["image", "image", "text"]
    files = [
        [(tmp_path / "img" / f"{i}.jpg").read_bytes() for i in pair] for pair in ((0, 1), (2, 3))
    ]
    assert _stored_images(out) == files
    bad = ["data", "import", "--format", "sharegpt", "--src", str(tmp_path / "none.json")]
    assert main([*bad, "--out", str(tmp_path / "o2")]) == 2


def test_data_export_easyr1_round_trips(built, got_train, tmp_path, capsys):
    """`data export` (and `data build --format easyr1`) write EasyR1 parquet that `data import`
    reads back into the same rows: same user turn, images byte for byte, answer and box."""
    import shutil

    from datasets import load_from_disk

    # a copy: reading a saved dataset through a column cast leaves datasets' cache-*.arrow files
    # in its folder (_stored_images does; the export must not), and `built` is shared
    built = shutil.copytree(built, tmp_path / "data")
    exported = tmp_path / "easyr1"
    before = sorted(p.relative_to(built) for p in built.rglob("*"))
    assert main(["data", "export", str(built), "--out", str(exported)]) == 0
    assert sorted(p.relative_to(built) for p in built.rglob("*")) == before  # nothing written
    back = tmp_path / "back"
    src = exported / "train.parquet"
    assert (
        main(["data", "import", "--format", "easyr1", "--src", str(src), "--out", str(back)]) == 0
    )
    a, b = load_from_disk(str(built))["train"], load_from_disk(str(back))["train"]
    for key in ("prompt", "completion", "solution", "template_boxes", "size"):
        assert a[key] == b[key], key
    assert _stored_images(built) == _stored_images(back)
    build = ["data", "build", "--dataset", "got10k", "--root", str(got_train), "--num-samples", "3"]
    out = tmp_path / "built"
    assert main([*build, "--sizes", "112", "--out", str(out), "--format", "easyr1"]) == 0
    assert "EasyR1's format (train 3 rows)" in capsys.readouterr().err
    assert (out / "easyr1" / "train.parquet").is_file() and load_from_disk(str(out))["train"]


def test_absent_rows_round_trip_through_easyr1(got_train, tmp_path, capsys):
    """An absent row (answer `[]`, solution []) exports as the answer `[]` and imports back as
    solution []."""
    from datasets import load_from_disk

    from helpers import build_absent_data

    build_absent_data(got_train, tmp_path / "data", 12)
    assert main(["data", "export", str(tmp_path / "data"), "--out", str(tmp_path / "ex")]) == 0
    src = str(tmp_path / "ex" / "train.parquet")
    back = tmp_path / "back"
    assert main(["data", "import", "--format", "easyr1", "--src", src, "--out", str(back)]) == 0
    before = load_from_disk(str(tmp_path / "data"))["train"]
    after = load_from_disk(str(back))["train"]
    assert [] in before["solution"]
    assert after["solution"] == before["solution"]
    assert after["completion"] == before["completion"]
