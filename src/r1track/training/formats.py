"""The released R1-Track training sets' formats <-> r1track's (`r1track data import|export`).

Two formats were released (section 9 of our notes on the reference):
- EasyR1 (GRPO; `WangBiao/R1-Track-5k`, `-100k`): parquet with `images` (a list of `{"bytes",
  "path"}`), `problem` (the user text, one `<image>` marker per image) and `answer` (the box text).
  EasyR1 splits `problem` on `<image>` and puts an image between the pieces, dropping empty ones:
  `"<image> <image>Given two images, ..."` is image, text `" "`, image, text `"Given ..."`.
- ShareGPT (LLaMA-Factory SFT): JSON or JSON lines rows with `messages` (`role` / `content`) or
  `conversations` (`from` / `value`), the user turn holding `<image>` markers, and `images`, a
  list of image paths (relative to the file's folder or `--images-root`).

Import is lossless: the user turn becomes exactly the content list EasyR1 or LLaMA-Factory builds
from the marked text, the image bytes are kept as they are (not decoded and encoded again), and the
answer text is the completion as written (an absent answer, `prompts.ABSENT_ANSWER`, gives the
solution `[]`, as `data build --absent-rate` writes it). Export writes a `data build` dataset as
EasyR1 parquet by the inverse rule (each image part becomes `<image>`, text parts are joined as
they are), so importing the export gives back the same rows."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

from r1track.errors import UserError

IMAGE_MARKER = "<image>"
FORMATS = ("easyr1", "sharegpt")
_BOX = re.compile(r"\[\s*-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?){3}\s*\]")


def marked_content(text: str, num_images: int) -> list[dict]:
    """The content list EasyR1 builds from a text with `<image>` markers: the pieces between
    markers as text parts (empty ones dropped), an image part at each marker.

    >>> [p.get("text", "IMAGE") for p in marked_content("<image> <image>Find it", 2)]
    ['IMAGE', ' ', 'IMAGE', 'Find it']
    """
    pieces = text.split(IMAGE_MARKER)
    if len(pieces) - 1 != num_images:
        raise ValueError(f"{len(pieces) - 1} {IMAGE_MARKER} markers for {num_images} images")
    content: list[dict] = []
    for i, piece in enumerate(pieces):
        if piece:
            content.append({"type": "text", "text": piece})
        if i < len(pieces) - 1:
            content.append({"type": "image"})
    return content


def marked_text(content: list[dict]) -> str:
    """The inverse of `marked_content`: `<image>` for each image part, text parts as they are.

    >>> marked_text(marked_content("<image> <image>Find it", 2))
    '<image> <image>Find it'
    """
    return "".join(IMAGE_MARKER if p["type"] == "image" else p["text"] for p in content)


def _boxes(text: str) -> list[list[int]]:
    return [[round(float(v)) for v in m.group(0)[1:-1].split(",")] for m in _BOX.finditer(text)]


def _row(text: str, answer: str, images: list[dict], source: str) -> dict:
    """One r1track training row from a marked user text, the answer text and image bytes."""
    from PIL import Image

    from r1track.prompts import parse_box

    content = marked_content(text, len(images))
    boxes = [[]] if parse_box(answer).absent else _boxes(answer)  # absent: solution []
    if len(boxes) != 1:
        raise ValueError(f"the answer {answer[:60]!r} holds {len(boxes)} boxes, not one")
    with Image.open(io.BytesIO(images[-1]["bytes"])) as search:
        size = search.width
    return {
        "prompt": [{"role": "user", "content": content}],
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
        "images": images,
        "solution": boxes[0],
        # the template boxes as the task text states them (none for a box-free prompt)
        "template_boxes": _boxes(marked_text([p for p in content if p["type"] == "text"])),
        "sequence": source,
        "frames": [],
        "size": size,
    }


def _image_bytes(item, base: Path | None) -> dict:
    """An image entry as `{"bytes", "path"}`, its bytes as stored (read from disk for a path)."""
    if isinstance(item, dict) and item.get("bytes"):
        return {"bytes": bytes(item["bytes"]), "path": item.get("path")}
    path = item.get("path") if isinstance(item, dict) else item
    if not path:
        raise ValueError("an image entry with neither bytes nor a path")
    file = Path(path) if base is None or Path(path).is_absolute() else base / path
    if not file.is_file():
        raise ValueError(f"image {file}: no such file")
    return {"bytes": file.read_bytes(), "path": None}


def easyr1_rows(src: Path):
    """Yield (row or None, why dropped) for each row of EasyR1 parquet file(s) at `src`."""
    import pyarrow.parquet as pq

    files = sorted(src.glob("*.parquet")) if src.is_dir() else [src]
    if not files:
        raise UserError(f"--src {src}: no .parquet files")
    for file in files:
        try:
            table = pq.read_table(file)
        except Exception as exc:  # pyarrow's errors share no base class
            raise UserError(f"--src {file}: not a parquet file ({exc})") from None
        missing = {"images", "problem", "answer"} - set(table.column_names)
        if missing:
            raise UserError(
                f"--src {file}: not EasyR1 data (no column {', '.join(sorted(missing))})"
            )
        for i, record in enumerate(table.to_pylist()):
            try:
                images = [_image_bytes(item, file.parent) for item in record["images"]]
                yield _row(record["problem"], record["answer"], images, f"{file.name}:{i}"), None
            except ValueError as exc:
                yield None, str(exc)


def _turns(record: dict) -> list[tuple[str, str]]:
    """(role, text) of a ShareGPT row, with LLaMA-Factory's two spellings folded together."""
    if "messages" in record:
        return [(m["role"], m["content"]) for m in record["messages"]]
    roles = {"human": "user", "gpt": "assistant"}
    return [(roles.get(m["from"], m["from"]), m["value"]) for m in record["conversations"]]


def sharegpt_rows(src: Path, images_root: Path | None):
    """Yield (row or None, why dropped) for each row of a ShareGPT JSON / JSON lines file."""
    text = src.read_text()
    try:
        records = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise UserError(f"--src {src}: not JSON or JSON lines ({exc})") from None
    base = images_root or src.parent
    for i, record in enumerate(records):
        try:
            turns = _turns(record)
            user = [t for role, t in turns if role == "user"]
            answer = [t for role, t in turns if role == "assistant"]
            if len(user) != 1 or len(answer) != 1:
                raise ValueError("expected one user and one assistant turn")
            images = [_image_bytes(item, base) for item in record.get("images", [])]
            yield _row(user[0], answer[0], images, f"{src.name}:{i}"), None
        except (KeyError, TypeError) as exc:
            yield None, f"not a ShareGPT row ({exc})"
        except ValueError as exc:
            yield None, str(exc)


def import_dataset(
    fmt: str,
    src: str | Path,
    out: str | Path,
    val_fraction: float = 0.0,
    images_root: str | Path | None = None,
    seed: int = 0,
) -> dict:
    """Convert released data at `src` into a `data build`-style dataset at `out`; returns the
    build info (counts of rows made and dropped, with reasons)."""
    import numpy as np
    from datasets import Dataset, DatasetDict

    from r1track.training.data import BUILD_INFO, _features

    src = Path(src)
    if not src.exists():
        raise UserError(f"--src {src}: no such file or folder")
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if fmt == "easyr1":
        produced = easyr1_rows(src)
    elif fmt == "sharegpt":
        if src.is_dir():
            raise UserError(f"--src {src}: give the ShareGPT JSON file, not a folder")
        produced = sharegpt_rows(src, Path(images_root) if images_root else None)
    else:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    rows, drops = [], Counter()
    for row, why in produced:
        if row is None:
            drops[why] += 1
        else:
            rows.append(row)
    if not rows:
        detail = "; ".join(f"{k} ({v})" for k, v in drops.most_common(3))
        raise UserError(f"--src {src}: no usable row ({detail or 'empty'})")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_val = round(len(rows) * val_fraction)
    splits = {"train": [rows[i] for i in sorted(order[n_val:])]}
    if n_val:
        splits["validation"] = [rows[i] for i in sorted(order[:n_val])]
    features = _features()
    DatasetDict(
        {k: Dataset.from_list(v, features=features) for k, v in splits.items()}
    ).save_to_disk(str(out))
    info = {
        "imported": {"format": fmt, "src": str(src.resolve()), "seed": seed},
        "layout": "as marked in the source (image parts at its <image> markers)",
        "stats": {k: {"made": len(v)} for k, v in splits.items()},
        "dropped": dict(drops),
    }
    (Path(out) / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info


def export_easyr1(dataset: str | Path, out: str | Path) -> dict[str, int]:
    """Write a `data build` dataset as EasyR1 parquet: OUT/<split>.parquet with `images`,
    `problem` (the user turn as marked text) and `answer` (the completion's text). Returns the
    rows written per split."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(dataset))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"{dataset}: not a saved dataset ({exc})") from None
    if not isinstance(data, DatasetDict):
        raise UserError(f"{dataset}: expected a dataset with splits (r1track data build)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, rows in data.items():
        table = {"images": [], "problem": [], "answer": []}
        # straight from the stored arrow table: the images' stored bytes, and no cache files
        # written into the dataset's folder (a cast or map there would write some)
        stored = rows.data.table.select(["images", "prompt", "completion"])
        for row in (r for batch in stored.to_batches(512) for r in batch.to_pylist()):
            (turn,) = [m for m in row["prompt"] if m["role"] == "user"]
            table["images"].append(
                [{"bytes": im["bytes"], "path": im["path"]} for im in row["images"]]
            )
            table["problem"].append(marked_text(turn["content"]))
            table["answer"].append(
                "".join(p["text"] or "" for p in row["completion"][-1]["content"])
            )
        pq.write_table(pa.table(table), out / f"{split}.parquet")
        written[split] = len(table["problem"])
    return written
