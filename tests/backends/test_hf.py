"""The transformers backend on a tiny random checkpoint built at test time: inputs, template
reuse, early stop at the stop string, and the tokens a server would render."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import statistics

import pytest
import torch
from PIL import Image

from helpers import LAYOUT_CASES, count_forwards, layout_request, noise_image
from r1track.backends.base import GenerationRequest
from r1track.backends.hf import HFBackend
from r1track.backends.openai_api import OpenAIBackend
from r1track.errors import UserError
from r1track.tracking import Tracker, TrackerConfig
from r1track.video import open_frames


def test_inputs_follow_qwen_layout(hf_backend):
    text = hf_backend.render(
        GenerationRequest((noise_image(0, 336), noise_image(1, 336)), "find it")
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        "<|vision_start|><|image_pad|><|vision_end|>find it<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    batch = hf_backend.encode(
        [GenerationRequest((noise_image(0, 336), noise_image(1, 224)), "find it")]
    )
    image_token = hf_backend.processor.image_token_id
    # 336 px -> 24x24 patches -> 12x12 merged tokens; 224 px -> 8x8
    assert batch["image_grid_thw"].tolist() == [[1, 24, 24], [1, 16, 16]]
    assert int(batch["mm_token_type_ids"].sum()) == 144 + 64
    assert int((batch["input_ids"] == image_token).sum()) == 144 + 64
    assert batch["pixel_values"].shape[0] == 576 + 256


def test_generation_uses_3d_positions_and_batches_like_single(hf_backend):
    a = GenerationRequest((noise_image(0, 336), noise_image(1, 336)), "short", 12)
    b = GenerationRequest(
        (noise_image(2, 336), noise_image(3, 336)),
        "a much longer text so that this row is padded less",
        20,
    )
    single = hf_backend.generate([a]) + hf_backend.generate([b])
    # image tokens share rotary positions per row/column, so positions end before the length
    assert int(hf_backend.model.model.rope_deltas.max()) < 0
    assert hf_backend.generate([a, b]) == single
    assert all(isinstance(s, str) and s for s in single)


def test_next_token_scores_depend_on_the_images(hf_backend):
    import torch

    def last_logits(search):
        batch = hf_backend.encode(
            [GenerationRequest((noise_image(0, 336), search), "Please identify the target")]
        )
        with torch.inference_mode():
            return hf_backend.model(**batch).logits[0, -1]

    same = last_logits(noise_image(1, 336))
    assert torch.equal(same, last_logits(noise_image(1, 336)))
    assert not torch.allclose(same, last_logits(noise_image(2, 336)))


def test_track_video_end_to_end(hf_backend, synth_video):
    video, boxes = synth_video
    tracker = Tracker(hf_backend, TrackerConfig(crop_size=112))
    results = list(tracker.track(open_frames(video), bbox=boxes[0]))
    assert len(results) == len(boxes)
    assert results[0].box == boxes[0]
    for r in results[1:]:
        assert isinstance(r.answer, str)
        assert r.parsed is (r.fallback != "unparsed")
        assert r.model_seconds > 0 and r.seconds >= r.model_seconds
        if r.fallback is not None:  # a random model: fallbacks keep the previous box
            assert r.box == results[r.index - 1].box


@pytest.mark.parametrize("case", ["missing", "file", "no_config", "not_qwen", "hub_id"])
def test_model_that_is_not_a_checkpoint(tmp_path, case):
    if case == "missing":
        path, message = tmp_path / "nope", "no such directory"
    elif case == "file":
        path, message = tmp_path / "weights.bin", "is a file"
        path.write_bytes(b"x")
    elif case == "no_config":
        path, message = tmp_path, "no config.json"
    elif case == "not_qwen":
        path, message = tmp_path, "'bert' model"
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    else:
        path, message = "nobody/no-such-model-r1track", "could not load model"
    with pytest.raises(UserError, match=message):
        HFBackend(str(path))


def test_merge_size_sets_visual_tokens_per_crop(tmp_path):
    from r1track.dev.tiny_model import TinyModelConfig, build_tiny_model

    config = TinyModelConfig(text_hidden=64, text_layers=1, vision_depth=1, merge_size=4)
    backend = HFBackend(str(build_tiny_model(tmp_path / "m4", config)), device="cpu")
    request = GenerationRequest((noise_image(0, 112), noise_image(1, 224)), "find it", 4)
    batch = backend.encode([request])
    # 112 px -> 8x8 patches -> 2x2 tokens of 4x4 patches; 224 px -> 4x4 tokens
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8], [1, 16, 16]]
    assert int((batch["input_ids"] == backend.processor.image_token_id).sum()) == 4 + 16
    assert backend.model.config.vision_config.spatial_merge_size == 4
    assert isinstance(backend.generate([request])[0], str)


def test_decoding_ignores_the_checkpoints_generation_config(tiny_model, tmp_path):
    """A checkpoint whose generation_config.json carries Qwen2.5-VL-3B-Instruct's defaults
    (sampling, repetition_penalty 1.05) still decodes greedily with no penalty: on the template
    path (batched and single: each token is the argmax of a full forward pass) and on the
    one-image path (transformers' `generate`, given a clean config), as the openai backend asks
    servers to."""
    import shutil

    from r1track.backends.base import REPETITION_PENALTY

    model = shutil.copytree(tiny_model, tmp_path / "qwen-defaults")
    config = json.loads((model / "generation_config.json").read_text())
    config.update(do_sample=True, repetition_penalty=1.05, temperature=0.1, top_p=0.001, top_k=1)
    (model / "generation_config.json").write_text(json.dumps(config))
    backend = HFBackend(str(model), device="cpu")
    seen = []
    prepare = backend.model._prepare_generation_config

    def spy(*args, **kwargs):
        out = prepare(*args, **kwargs)
        seen.append(out[0])
        return out

    backend.model._prepare_generation_config = spy
    a = GenerationRequest((noise_image(0, 112), noise_image(1, 112)), "find it", 24)
    b = GenerationRequest((noise_image(2, 112), noise_image(3, 112)), "and this one", 24)
    batched = backend.generate([a, b])
    assert batched == backend.generate([a]) + backend.generate([b])
    _forced_logprobs(backend, a, _greedy_tokens(backend, a))  # asserts every token is greedy
    assert seen == []  # the template path runs its own loop
    backend.generate([GenerationRequest((noise_image(4, 112),), "where is it", 8)])
    assert REPETITION_PENALTY == 1.0
    assert [(c.repetition_penalty, c.do_sample) for c in seen] == [(1.0, False)]


def test_template_reuse_gives_the_same_scores_and_boxes(fresh_hf_backend, synth_video):
    backend = fresh_hf_backend  # its settings change below, and its prefix cache is read
    template = noise_image(0)
    backend.keep_scores = True
    scores = {}
    for reuse in (True, False):
        backend.reuse_template = reuse
        scores[reuse] = []
        for seed in (1, 2, 3):
            request = GenerationRequest(
                (template, noise_image(seed)),
                "Please identify [1,2,3,4]",
                6,
                prefix_key="track-a",
            )
            backend.generate([request])
            scores[reuse].append(torch.stack(backend.last_scores))
    backend.reuse_template = True
    for with_reuse, without in zip(scores[True], scores[False], strict=True):
        assert torch.allclose(with_reuse, without, atol=1e-5)
    # and both equal transformers' own generate (the batched path) on the full prompt
    request = GenerationRequest((template, noise_image(1)), "Please identify [1,2,3,4]", 6)
    backend.generate([request, request])
    backend.keep_scores = False
    reference = torch.stack(backend.last_scores)[:, :1]
    assert torch.allclose(scores[True][0], reference, atol=1e-4)
    # the comparison can tell search images apart (so it would see a wrong prefix or position)
    assert (scores[True][0] - scores[True][1]).abs().max() > 1e-4
    # one cached prefix (none kept while reuse is off), cropped back after every frame
    assert list(backend._prefixes) == ["track-a"]
    prefix = backend._prefixes["track-a"]
    assert prefix.cache.get_seq_length() == prefix.ids.shape[1]

    video, boxes = synth_video
    tracks = {}
    for reuse in (True, False):
        backend.reuse_template = reuse
        tracker = Tracker(backend, TrackerConfig(crop_size=112))
        tracks[reuse] = [
            (r.box, r.answer) for r in tracker.track(open_frames(video), bbox=boxes[0])
        ]
    assert tracks[True] == tracks[False]


def test_batches_reuse_each_tracks_template(fresh_hf_backend):
    """A batch of tracks decodes on copies of their own cached prefixes: both are cached after
    the first call, left as they were, and the answers are the ones each track gets alone."""
    backend = fresh_hf_backend
    requests = [
        GenerationRequest((noise_image(i), noise_image(10 + i)), "x" * i, 6, prefix_key=f"t{i}")
        for i in (1, 2)
    ]
    backend.draft = False
    calls = count_forwards(backend)
    batched = backend.generate(requests)
    # both templates prefilled in one forward, the suffixes in one, then one per token
    assert calls[0] == 1 + 1 + (6 - 1)
    assert list(backend._prefixes) == ["t1", "t2"]
    lengths = {k: p.ids.shape[1] for k, p in backend._prefixes.items()}
    assert all(p.cache.get_seq_length() == lengths[k] for k, p in backend._prefixes.items())
    cached = {k: p.cache.layers[0].keys.clone() for k, p in backend._prefixes.items()}
    assert backend.generate(requests) == batched
    for key, prefix in backend._prefixes.items():
        assert torch.equal(prefix.cache.layers[0].keys, cached[key])
    backend.reuse_template = False
    alone = [backend.generate([r])[0] for r in requests]
    assert batched == alone
    # a template prefilled in a batch holds the keys it gets prefilled alone
    backend.reuse_template = True
    backend._prefixes.clear()
    backend.generate(requests[1:])
    assert torch.allclose(backend._prefixes["t2"].cache.layers[0].keys, cached["t2"], atol=1e-5)


def test_a_tracks_suffix_tokens_are_kept_per_search_size(fresh_hf_backend):
    """The suffix's tokens and rotary positions are computed once per prefix, text and search
    size: a track whose search crop changes size and text gets the ids and answers it gets
    without any reuse, and the prefix keeps only the last MAX_SUFFIXES of them."""
    from r1track.backends.hf import MAX_SUFFIXES

    backend = fresh_hf_backend
    backend.draft = False
    template = noise_image(3)
    requests = [
        GenerationRequest((template, noise_image(20 + k, size)), text, 5, prefix_key="t")
        for k, (size, text) in enumerate(
            [(112, "a"), (168, "a"), (112, "a"), (112, "bb"), (140, "a"), (56, "a"), (168, "a")]
        )
    ]
    backend.reuse_template = False
    alone = [backend.generate([r])[0] for r in requests]
    ids = [backend.input_ids(r) for r in requests]
    backend.reuse_template = True
    for k, request in enumerate(requests):
        assert backend.generate([request])[0] == alone[k], k
        prefix = backend._prefixes["t"]
        suffix, positions = prefix.suffixes[next(reversed(prefix.suffixes))]
        assert prefix.ids[0].tolist() + suffix[0].tolist() == ids[k], k
        assert positions.shape[-1] == suffix.shape[1]
    assert len(prefix.suffixes) == MAX_SUFFIXES  # 5 sizes and texts seen, the 4 used last kept
    # two tracks batched: each row its own search image's pixels (one processor call for both)
    pair = [requests[1], dataclasses.replace(requests[5], prefix_key="u")]
    assert backend.generate(pair) == [alone[1], alone[5]]


def test_decoding_stops_at_the_stop_string_and_keeps_it(hf_backend):
    request = GenerationRequest((noise_image(0), noise_image(1)), "Please identify [1,2,3,4]", 40)
    full = hf_backend.generate([request])[0]
    stop = next(c for c in full[1:] if c.isalpha())  # a character this model emits early
    cut = hf_backend.generate([GenerationRequest(request.images, request.text, 40, stop=(stop,))])[
        0
    ]
    # decoding ends with the token that completes the stop string (kept in the answer)
    assert stop in cut and len(cut) < len(full) and full.startswith(cut)
    tokenizer = hf_backend.processor.tokenizer
    ids = tokenizer(cut, add_special_tokens=False)["input_ids"]
    assert stop not in tokenizer.decode(ids[:-1])  # the last token is the one that completed it
    # the template-reuse path (its own greedy loop) stops at the same place
    reused = GenerationRequest(request.images, request.text, 40, stop=(stop,), prefix_key="s")
    assert hf_backend.generate([reused])[0] == cut
    assert (
        hf_backend.generate([GenerationRequest(request.images, request.text, 40, prefix_key="s")])[
            0
        ]
        == full
    )


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


@pytest.mark.parametrize("layout,think", LAYOUT_CASES)
def test_hf_feeds_the_tokens_a_server_renders_from_the_openai_request(hf_backend, layout, think):
    request = layout_request(layout, think)
    served = OpenAIBackend("http://127.0.0.1:9/v1", "m", max_retries=0)
    try:
        expected = _served_input_ids(hf_backend.processor, served.messages(request))
    finally:
        served.close()
    assert hf_backend.input_ids(request) == expected  # the template-reuse path
    assert hf_backend.encode([request])["input_ids"][0].tolist() == expected  # the batched path
    assert expected.count(hf_backend.processor.image_token_id) == 2 * 16  # 112 px: 4x4 each


def _forced_logprobs(backend, request: GenerationRequest, tokens: list[int]) -> list[float]:
    """The log-probability of each of `tokens` after the prompt of `request`, recomputed from one
    forward pass of the whole prompt + tokens (no cache, no decoding loop); also checks that
    each token is the greedy choice there."""
    batch = backend.encode([request])
    n = batch["input_ids"].shape[1]
    answer = torch.tensor([tokens])
    ids = torch.cat([batch["input_ids"], answer], 1)
    inputs = dict(batch, input_ids=ids, attention_mask=torch.ones_like(ids))
    inputs["mm_token_type_ids"] = torch.cat(
        [
            batch["mm_token_type_ids"],
            torch.zeros_like(answer, dtype=batch["mm_token_type_ids"].dtype),
        ],
        1,
    )
    with torch.inference_mode():
        logits = backend.model(**inputs).logits[0, n - 1 : -1].float()
    assert logits.argmax(-1).tolist() == tokens
    return torch.log_softmax(logits, -1).gather(-1, answer.T)[:, 0].tolist()


def _greedy_tokens(backend, request: GenerationRequest) -> list[int]:
    """The tokens the single-request path chose (from the scores it keeps)."""
    backend.keep_scores = True
    backend.generate([request])
    backend.keep_scores = False
    return [int(s.argmax(-1)) for s in backend.last_scores]


def test_confidence_is_the_geometric_mean_of_the_chosen_tokens_probabilities(fresh_hf_backend):
    """exp(mean log p) of the answer's tokens, recomputed from a full forward pass of prompt +
    answer; the same on the single-request path (with and without a cached template) and the
    batched one, where a row's tokens past its own budget are not counted."""
    from r1track.backends.base import Answer, confidence_of

    backend = fresh_hf_backend
    requests = [
        GenerationRequest((noise_image(0), noise_image(1)), "Please identify [1,2,3,4]", 8),
        GenerationRequest((noise_image(2), noise_image(3)), "a longer text for this one", 14),
    ]
    singles = []
    for i, request in enumerate(requests):
        tokens = _greedy_tokens(backend, request)
        assert len(tokens) == request.max_new_tokens  # the random model never ends its turn
        expected = math.exp(statistics.fmean(_forced_logprobs(backend, request, tokens)))
        answer = backend.generate([request])[0]
        assert isinstance(answer, Answer) and confidence_of(answer) == answer.confidence
        assert answer.confidence == pytest.approx(expected, rel=1e-4)
        reused = backend.generate([dataclasses.replace(request, prefix_key=f"t{i}")])[0]
        assert reused == answer and reused.confidence == pytest.approx(expected, rel=1e-4)
        singles.append(answer)
    batched = backend.generate(requests)
    assert batched == singles  # the answers are unchanged, and so are their lengths
    assert backend.last_generated == [8, 14]  # each row decodes its own budget
    for one, row in zip(singles, batched, strict=True):
        assert isinstance(row, Answer)
        assert row.confidence == pytest.approx(one.confidence, abs=1e-4)
        assert 0.0 < row.confidence < 1.0


def test_confidence_ends_with_the_answer(fresh_hf_backend):
    """The token that completes a stop string counts; the end-of-turn token that ends an answer
    does not (it is not part of the text); nothing after either does. Single and batched."""
    backend = fresh_hf_backend
    request = GenerationRequest((noise_image(0), noise_image(1)), "Please identify [1,2,3,4]", 12)
    tokens = _greedy_tokens(backend, request)
    logprobs = _forced_logprobs(backend, request, tokens)
    decode = backend.processor.tokenizer.decode
    # a stop string completed by the k-th token (the word it adds): the first k count
    added = [decode(tokens[:k])[len(decode(tokens[: k - 1])) :] for k in range(1, 13)]
    k = next(k for k in range(3, 12) if added[k - 1].isalpha() and added[k - 1].isascii())
    stop = added[k - 1]
    assert stop not in decode(tokens[: k - 1])
    stopped = dataclasses.replace(request, stop=(stop,))
    expected = math.exp(statistics.fmean(logprobs[:k]))
    other = GenerationRequest((noise_image(2), noise_image(3)), "a longer one", 12, stop=(stop,))
    for answer in (backend.generate([stopped])[0], backend.generate([stopped, other])[0]):
        assert answer == decode(tokens[:k], skip_special_tokens=True)
        assert answer.confidence == pytest.approx(expected, rel=1e-4)
    # the 4th token made an end-of-turn token: the first 3 count (and counting it would differ)
    assert tokens[3] not in tokens[:3]
    config = backend.generation_config
    config.eos_token_id = sorted({*config.eos_token_id, tokens[3]})
    expected = math.exp(statistics.fmean(logprobs[:3]))
    assert expected != pytest.approx(math.exp(statistics.fmean(logprobs[:4])), rel=1e-3)
    single = backend.generate([request])[0]
    assert backend.last_generated == [4]
    batched = backend.generate([request, dataclasses.replace(other, stop=())])[0]
    assert backend.last_generated == [4, 12]  # the first row stopped at its end
    for answer in (single, batched):  # (a real end-of-turn token is special: not in the text)
        assert answer == decode(tokens[:4], skip_special_tokens=True)
        assert answer.confidence == pytest.approx(expected, rel=1e-4)
