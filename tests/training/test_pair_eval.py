"""Per-pair evaluation of a model on a built dataset."""

from __future__ import annotations

import json

import pytest

from r1track.errors import UserError


def test_pair_evaluation_reports_model_trivial_and_shuffled(tiny_model, built):
    from datasets import load_from_disk

    from r1track.training.pair_eval import evaluate_pairs, template_box, trivial_box

    box = trivial_box([10, 20, 50, 40], 112)
    assert box.tolist() == [36.0, 46.0, 76.0, 66.0]  # 40 x 20, centred in 112 x 112
    row = load_from_disk(str(built))["validation"][0]
    assert template_box(row) == [float(v) for v in row["template_boxes"][0]]
    # datasets built before the template_boxes column: the box is read from the 5k prompt text
    old = {"prompt": row["prompt"]}
    assert template_box(old) == [float(v) for v in row["template_boxes"][0]]
    report = evaluate_pairs(str(tiny_model), str(built), limit=8, batch=4)
    assert report["pairs"] == 8 and report["parsed"] == 0.0 and report["miou"] == 0.0
    assert 0.0 < report["trivial_miou"] < 1.0  # the random model finds nothing; the prior does


def test_pair_evaluation_refuses_pairs_of_another_layout(tiny_model, built, tmp_path):
    import shutil

    from r1track.training.data import BUILD_INFO
    from r1track.training.pair_eval import evaluate_pairs

    other = tmp_path / "other"
    shutil.copytree(built, other)
    info = json.loads((other / BUILD_INFO).read_text())
    info["config"]["layout"] = "reference-train"
    (other / BUILD_INFO).write_text(json.dumps(info))
    with pytest.raises(UserError, match="built with --layout reference-train"):
        evaluate_pairs(str(tiny_model), str(other), limit=2)


def test_pair_evaluation_takes_absent_pairs(tiny_model, got_train, tmp_path):
    """Absent pairs (solution []) score 1 for the absent answer, 0 for any box (the trivial box
    included): the evaluation runs on a dataset that holds them."""
    from datasets import load_from_disk

    from helpers import build_absent_data
    from r1track.training.pair_eval import evaluate_pairs

    build_absent_data(got_train, tmp_path / "data", 32, val_fraction=0.25)
    assert [] in load_from_disk(str(tmp_path / "data"))["validation"]["solution"]
    report = evaluate_pairs(str(tiny_model), str(tmp_path / "data"), limit=8, batch=4)
    assert report["pairs"] == 8 and 0.0 <= report["trivial_miou"] < 1.0


def test_pair_evaluation_shuffles_search_images_then_templates(built, monkeypatch):
    """Three passes over the pairs: as built, search images of other pairs (own templates), and
    templates of other pairs (own search images); a model that answers from the template alone
    scores on the second pass and not on the third."""
    from datasets import load_from_disk

    import r1track.backends as backends
    from r1track.training.pair_eval import evaluate_pairs

    rows = load_from_disk(str(built))["validation"].select(range(8))
    templates = [r["images"][0].tobytes() for r in rows]
    searches = [r["images"][-1].tobytes() for r in rows]
    solutions = rows["solution"]
    answer_of = {
        t: "[{},{},{},{}]".format(*map(round, s)) for t, s in zip(templates, solutions, strict=True)
    }
    sent = []

    class FromTemplate:  # answers each pair's solution, recognised by its template's pixels
        def generate(self, requests):
            sent.extend(requests)
            return [answer_of[r.images[0].tobytes()] for r in requests]

    monkeypatch.setattr(backends, "load_backend", lambda *a, **k: FromTemplate())
    report = evaluate_pairs("unused", str(built), limit=8, batch=4)
    passes = [sent[k : k + 8] for k in (0, 8, 16)]
    assert [r.images[0].tobytes() for r in passes[0]] == templates
    assert [r.images[1].tobytes() for r in passes[0]] == searches
    assert [r.images[0].tobytes() for r in passes[1]] == templates
    assert [r.images[1].tobytes() for r in passes[1]] != searches
    assert [r.images[1].tobytes() for r in passes[2]] == searches
    moved = [r.images[0].tobytes() for r in passes[2]]
    assert sorted(moved) == sorted(templates) and moved != templates
    assert report["miou"] > 0.9 and report["shuffled_miou"] > 0.9
    assert report["template_shuffled_miou"] < report["miou"] - 0.2
