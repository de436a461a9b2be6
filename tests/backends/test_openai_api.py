"""The OpenAI-compatible backend against a real HTTP server on localhost: request format,
retries, timeouts, server profiles, stop strings, and a template encoded once per track."""

from __future__ import annotations

import json
import threading
import time

import pytest
from PIL import Image

from helpers import (
    ScriptedBackend,
    decode_request,
    moving_square_video,
    noise_image,
    oracle_server_answer,
    served_request,
    white_blob_oracle,
)
from r1track.backends import openai_api
from r1track.backends.base import Answer, GenerationRequest, answer_confidence
from r1track.backends.openai_api import OpenAIBackend, end_at_stop
from r1track.dev.fake_server import STANDARD_CHAT_FIELDS, nonstandard_fields
from r1track.errors import BackendError
from r1track.tracking import Tracker, TrackerConfig
from r1track.video import open_frames

REQUEST = GenerationRequest((Image.new("RGB", (56, 56), (1, 2, 3)),), "where?", 7)


def test_request_format(chat_server):
    server = chat_server(lambda body: "[1,2,3,4]")
    backend = OpenAIBackend(server.url, "r1track-test")
    template = Image.new("RGB", (112, 112), (200, 0, 0))
    request = GenerationRequest((template, Image.new("RGB", (112, 112), (0, 200, 0))), "find", 9)
    assert backend.generate([request]) == ["[1,2,3,4]"]
    body = server.bodies[0]
    assert body["model"] == "r1track-test"
    assert body["max_tokens"] == 9 and body["temperature"] == 0.0
    content = body["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url", "image_url", "text"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    images, text, _ = decode_request(body)
    # lossless: the server sees exactly our pixels
    assert images[0].tobytes() == template.tobytes() and text == "find"


def test_tracking_through_server_equals_in_process(chat_server, hf_backend, synth_video):
    """The same tiny model behind a server gives the same track, and each request of a track
    carries a byte-identical template image."""
    lock = threading.Lock()

    def answer(body):
        with lock:
            return hf_backend.generate([served_request(body)])[0]

    server = chat_server(answer)
    video, boxes = synth_video
    config = TrackerConfig(crop_size=112)
    remote = list(
        Tracker(OpenAIBackend(server.url, "tiny"), config).track(open_frames(video), bbox=boxes[0])
    )
    local = list(Tracker(hf_backend, config).track(open_frames(video), bbox=boxes[0]))
    assert [(r.box, r.answer, r.fallback) for r in remote] == [
        (r.box, r.answer, r.fallback) for r in local
    ]
    templates = {b["messages"][0]["content"][0]["image_url"]["url"] for b in server.bodies}
    assert len(server.bodies) == len(boxes) - 1 and len(templates) == 1


def test_retries_on_server_errors_then_succeeds(chat_server):
    server = chat_server(lambda body: "ok", fail_first=2)
    backend = OpenAIBackend(server.url, "m", max_retries=3)
    assert backend.generate([REQUEST]) == ["ok"]
    assert len(server.bodies) == 3


def test_hanging_server_times_out_and_recovers(chat_server):
    server = chat_server(lambda body: "ok", hang_first=1, hang_seconds=5.0)
    backend = OpenAIBackend(server.url, "m", timeout=0.5, max_retries=2)
    t0 = time.perf_counter()
    assert backend.generate([REQUEST]) == ["ok"]
    assert time.perf_counter() - t0 < 4.0
    assert len(server.bodies) == 2


def test_server_that_stays_down_is_a_clear_error(chat_server):
    server = chat_server(lambda body: "ok")
    url = server.url
    server.stop()  # nothing listens on that port any more
    backend = OpenAIBackend(url, "m", timeout=1.0, max_retries=1)
    t0 = time.perf_counter()
    with pytest.raises(
        BackendError, match=r"no answer from http://127\.0\.0\.1:\d+/v1 after 2 tries"
    ):
        backend.generate([REQUEST])
    assert time.perf_counter() - t0 < 10.0


def test_persistent_server_error_is_reported_with_status(chat_server):
    server = chat_server(lambda body: "ok", fail_first=100)
    backend = OpenAIBackend(server.url, "m", max_retries=1)
    with pytest.raises(BackendError, match="answered HTTP 500"):
        backend.generate([REQUEST])
    assert len(server.bodies) == 2


def test_requests_run_concurrently_and_keep_order(chat_server):
    server = chat_server(lambda body: decode_request(body)[1], delay=0.3)
    backend = OpenAIBackend(server.url, "m", concurrency=8)
    requests = [GenerationRequest(REQUEST.images, f"q{i}", 5) for i in range(8)]
    assert backend.generate(requests) == [f"q{i}" for i in range(8)]
    # concurrency is read from the server itself (a wall-clock bound failed on a loaded machine)
    assert server.max_active >= 4


BOX_REQUEST = GenerationRequest(REQUEST.images, "where?", 7, stop=("]",))


@pytest.mark.parametrize("server", ["openai", "vllm"])
def test_request_fields_of_each_server_profile(chat_server, server):
    """`openai`: standard fields only, greedy, no stop strings; `vllm`: its extras on top."""
    fake = chat_server(lambda body: "[1,2,3,4]")
    assert OpenAIBackend(fake.url, "m", server=server).generate([BOX_REQUEST]) == ["[1,2,3,4]"]
    body = fake.bodies[0]
    common = {"max_tokens": 7, "temperature": 0.0, "frequency_penalty": 0.0, "logprobs": True}
    assert {k: body[k] for k in common} == common
    if server == "openai":
        assert set(body) == {"model", "messages", *common} and nonstandard_fields(body) == []
        assert b"include_stop_str_in_output" not in fake.raw_bodies[0]
        assert b"repetition_penalty" not in fake.raw_bodies[0]
    else:
        assert body["stop"] == ["]"] and body["include_stop_str_in_output"] is True
        assert body["repetition_penalty"] == 1.0


@pytest.mark.parametrize(
    ("text", "finish", "stop_reason", "expected"),
    [
        ("[1,2,3,4]", "stop", "]", "[1,2,3,4]"),  # kept (include_stop_str_in_output): not doubled
        ("[1,2,3,4", "stop", "]", "[1,2,3,4]"),  # stripped, vLLM said which: put back
        ("[1,2,3,4] is the box.", "stop", None, "[1,2,3,4]"),  # no stop sent: cut after it
        ("[1,2,3,4]]", "stop", None, "[1,2,3,4]"),
        ("no box", "stop", None, "no box"),  # the turn ended: nothing added
        ("no box", "stop", 151645, "no box"),  # ended by a stop token id
        ("[1,2,3", "length", "]", "[1,2,3"),  # out of tokens
    ],
)
def test_answer_ends_at_its_stop_string(text, finish, stop_reason, expected):
    assert end_at_stop(text, finish, stop_reason, ("]",)) == expected


def test_track_through_a_strict_server(chat_server):
    """A server that rejects every non-standard field (HTTP 422) and strips stop strings: the
    whole track succeeds, equals the same answers in process, and no request had another field."""
    frames, _ = moving_square_video(8)
    box = (60, 70, 40, 30)

    def answer(body):
        return oracle_server_answer(body) + " Done."

    server = chat_server(answer, strict=True)
    config = TrackerConfig(crop_size=112)
    remote = list(Tracker(OpenAIBackend(server.url, "m"), config).track(frames, bbox=box))
    local = list(Tracker(ScriptedBackend(white_blob_oracle), config).track(frames, bbox=box))
    assert [(r.box, r.answer) for r in remote] == [(r.box, r.answer) for r in local]
    assert all(r.fallback is None for r in remote)
    assert len(server.raw_bodies) == len(frames) - 1
    for raw in server.raw_bodies:
        assert set(json.loads(raw)) <= STANDARD_CHAT_FIELDS
        assert nonstandard_fields(json.loads(raw)) == []
        assert b"include_stop_str_in_output" not in raw and b"repetition_penalty" not in raw


def test_strict_server_refuses_vllm_fields(chat_server):
    server = chat_server(lambda body: "[1,2,3,4]", strict=True)
    message = (
        r"answered HTTP 422: Unexpected fields in the request: include_stop_str_in_output, "
        r"repetition_penalty \(a strict server: --server openai sends only standard fields\)$"
    )
    with pytest.raises(BackendError, match=message):
        OpenAIBackend(server.url, "m", server="vllm", max_retries=0).generate([BOX_REQUEST])


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


@pytest.mark.parametrize("server", ["openai", "vllm"])
def test_confidence_comes_from_the_logprobs_the_server_returns(chat_server, capsys, server):
    """Every request asks for logprobs (a standard field: a strict server takes it), and the
    answer's confidence is `answer_confidence` of the log-probabilities returned."""
    values = [-0.05, -0.4, -1.5, 0.0]
    fake = chat_server(lambda body: "[1,2,3,4]", strict=server == "openai", logprobs=values)
    backend = OpenAIBackend(fake.url, "m", server=server)
    (answer,) = backend.generate([BOX_REQUEST])
    assert isinstance(answer, Answer) and answer == "[1,2,3,4]"
    assert answer.confidence == pytest.approx(answer_confidence(values), rel=1e-12)
    assert json.loads(fake.raw_bodies[0])["logprobs"] is True
    assert "r1track: note:" not in capsys.readouterr().err


def test_confidence_is_of_the_tokens_the_answer_keeps(chat_server):
    """Tokens past the stop string the answer is cut at (and the end-of-turn token) are not
    counted; a stop string the server stripped and the backend put back adds no token."""
    tokens = {
        "a": [("[1,2", -0.1), (",3,4", -0.2), ("]", -0.3), (" is", -2.0), (" it.", -4.0)],
        "b": [("[5,6", -0.1), (",7,8", -0.2), ("]", -0.3), ("", -0.01)],  # "" ends the turn
        "c": [("[1,2", -0.1), (",3,4", -0.2), ("]", -0.3)],  # stripped "]": still in the tokens
    }
    texts = {"a": "[1,2,3,4] is it.", "b": "[5,6,7,8]", "c": ("[1,2,3,4", "]")}
    server = chat_server(
        lambda body: texts[decode_request(body)[1]],
        logprobs=lambda body, content: tokens[decode_request(body)[1]],
    )
    backend = OpenAIBackend(server.url, "m")
    requests = [GenerationRequest((noise_image(0),), t, 8, stop=("]",)) for t in "abc"]
    answers = backend.generate(requests)
    assert answers == ["[1,2,3,4]", "[5,6,7,8]", "[1,2,3,4]"]
    for answer in answers:
        assert answer.confidence == pytest.approx(answer_confidence([-0.1, -0.2, -0.3]))


@pytest.mark.parametrize("strict", [False, True])
def test_no_logprobs_means_no_confidence_and_one_note(chat_server, capsys, strict):
    """A server that gives none (`"logprobs": null`, or no field at all as `transformers serve`
    answers): every confidence is None, and one note per backend says what that means."""
    server = chat_server(lambda body: "[1,2,3,4]", strict=strict, logprobs=None)
    backend = OpenAIBackend(server.url, "m", concurrency=4)
    requests = [GenerationRequest(REQUEST.images, f"q{i}", 5) for i in range(4)]
    answers = backend.generate(requests) + backend.generate(requests)
    assert answers == ["[1,2,3,4]"] * 8
    assert [a.confidence for a in answers] == [None] * 8
    assert all(json.loads(raw)["logprobs"] is True for raw in server.raw_bodies)
    notes = [line for line in capsys.readouterr().err.splitlines() if "r1track: note:" in line]
    assert notes == [
        f"r1track: note: the server at {server.url} gives no token log-probabilities "
        "(logprobs), so answer confidences are not available; features that use them fall "
        "back to whether each answer is usable"
    ]


def _tracks_through(backend, batch: int) -> dict[str, list]:
    from r1track.tracking import TrackJob, run_tracks

    tracker = Tracker(backend, TrackerConfig(crop_size=112))
    jobs = []
    for seed in range(4):
        frames, boxes = moving_square_video(10, seed=seed)
        first = boxes[0]
        bbox = (first[0], first[1], first[2] - first[0], first[3] - first[1])
        jobs.append(TrackJob(frames, bbox=bbox, name=f"s{seed}"))
    out: dict[str, list] = {}
    for event in run_tracks(tracker, jobs, batch=batch):
        assert event.error is None, event.error
        if event.result is not None:
            out.setdefault(event.job.name, []).append((event.result.box, event.result.answer))
    return out


def test_several_servers_share_a_run_and_one_that_dies_is_replaced(chat_server, capsys):
    """Three servers of different latencies, one of which dies after 5 answers: the run goes on
    on the other two, says so once, and gives the boxes one server gives alone."""
    fast = chat_server(oracle_server_answer, delay=0.01)
    slow = chat_server(oracle_server_answer, delay=0.15)
    dying = chat_server(oracle_server_answer, delay=0.01, die_after=5)
    alone = chat_server(oracle_server_answer)
    reference = _tracks_through(OpenAIBackend(alone.url, "m"), batch=4)
    backend = OpenAIBackend([fast.url, slow.url, dying.url], "m", max_retries=1, concurrency=4)
    assert _tracks_through(backend, batch=4) == reference
    answered = backend.answered()
    requests = 4 * 9
    assert sum(answered.values()) == requests
    assert answered[dying.url] == 5 and len(dying.bodies) > 5  # the rest of its requests moved
    assert answered[fast.url] > answered[slow.url] > 0  # spread by load: fewest in flight
    backend.close()
    err = capsys.readouterr().err
    assert err.count(f"no answer from {dying.url}") == 1, err
    assert "its requests go to the 2 other(s)" in err
    assert f"answers per server: {fast.url} {answered[fast.url]}" in err
    assert f"{dying.url} 5 (failed)" in err


def test_a_refused_request_is_not_sent_to_another_server(chat_server):
    strict = chat_server(lambda body: "[1,2,3,4]", strict=True)
    other = chat_server(lambda body: "[1,2,3,4]")
    backend = OpenAIBackend([strict.url, other.url], "m", server="vllm", max_retries=0)
    with pytest.raises(BackendError, match="answered HTTP 422"):
        backend.generate([BOX_REQUEST])
    assert other.bodies == []  # HTTP 422 says the request is wrong, not the server


def test_when_every_server_failed_each_request_tries_them_all(chat_server, capsys):
    first = chat_server(lambda body: "ok", fail_first=100)
    second = chat_server(lambda body: "ok", fail_first=2)
    backend = OpenAIBackend([first.url, second.url], "m", max_retries=0)
    with pytest.raises(BackendError, match=f"server {second.url} answered HTTP 500"):
        backend.generate([REQUEST])  # both fail: the last error is raised
    with pytest.raises(BackendError):
        backend.generate([REQUEST])
    assert backend.generate([REQUEST]) == ["ok"]  # the second one is back
    assert (len(first.bodies), len(second.bodies)) == (3, 3)
    assert "none is left" in capsys.readouterr().err
