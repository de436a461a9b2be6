"""Template reuse, early stop, and server-cache-friendly requests: same answers, less work."""

from __future__ import annotations

import pytest
import torch

from helpers import decode_request, noise_image
from r1track.backends import openai_api
from r1track.backends.base import GenerationRequest
from r1track.backends.openai_api import OpenAIBackend
from r1track.prompts import STOP_STRINGS, parse_box
from r1track.tracking import Tracker, TrackerConfig
from r1track.video import open_frames


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


def test_batches_of_several_requests_take_the_batched_path(fresh_hf_backend):
    requests = [
        GenerationRequest((noise_image(0), noise_image(i)), "x", 4, prefix_key=f"t{i}")
        for i in (1, 2)
    ]
    fresh_hf_backend.generate(requests)
    assert not fresh_hf_backend._prefixes  # documented: reuse applies to one request at a time


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


def test_openai_template_is_encoded_once_and_identical_in_every_request(
    chat_server, synth_video, monkeypatch
):
    encoded = []
    original = openai_api.image_data_url
    monkeypatch.setattr(openai_api, "image_data_url", lambda im: encoded.append(im) or original(im))
    server = chat_server(lambda body: "[10,10,40,40]")
    video, boxes = synth_video
    backend = OpenAIBackend(server.url, "m", server="vllm")
    list(Tracker(backend, TrackerConfig(crop_size=112)).track(open_frames(video), bbox=boxes[0]))
    frames = len(boxes) - 1
    assert len(encoded) == frames + 1  # every search crop, and the template once
    first_images = {b["messages"][0]["content"][0]["image_url"]["url"] for b in server.bodies}
    assert len(first_images) == 1
    for body in server.bodies:  # images first, then all the text; vLLM gets the stop string
        assert [p["type"] for p in body["messages"][0]["content"]] == [
            "image_url",
            "image_url",
            "text",
        ]
        assert body["stop"] == ["]"] and body["include_stop_str_in_output"] is True


def test_openai_puts_back_a_stop_string_the_server_dropped(chat_server):
    server = chat_server(
        lambda body: ("[1,2,3,4", "]") if decode_request(body)[1] == "a" else "[5,6,7,8]"
    )
    backend = OpenAIBackend(server.url, "m")
    requests = [GenerationRequest((noise_image(0),), t, 8, stop=("]",)) for t in ("a", "b")]
    assert backend.generate(requests) == ["[1,2,3,4]", "[5,6,7,8]"]
