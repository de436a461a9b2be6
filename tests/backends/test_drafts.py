"""Draft-verified decoding in the hf backend: a track's previous answer is checked in the prefill;
the answers are greedy decoding's, token for token, and a draft the model agrees with saves the
forward passes it covers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from helpers import count_forwards, noise_image
from r1track.backends.base import GenerationRequest
from r1track.backends.hf import MIN_DRAFT_WINDOW, HFBackend
from r1track.models import BUNDLED
from r1track.tracking import Tracker, TrackerConfig
from r1track.tracking.loop import TrackJob, run_tracks
from r1track.video import open_frames

NANO = BUNDLED["nano"]


def _request(seed: int, key: str, tokens: int = 10) -> GenerationRequest:
    return GenerationRequest(
        (noise_image(seed), noise_image(seed + 50)),
        "Please identify [1,2,3,4]",
        tokens,
        prefix_key=key,
    )


def test_a_draft_is_kept_as_far_as_the_model_agrees(fresh_hf_backend):
    backend = fresh_hf_backend
    request = _request(0, "a")
    backend.draft = False
    greedy = backend.generate([request])[0]
    tokens = list(backend._drafts.get("a", [])) or None
    assert tokens is None  # drafts off: nothing kept
    backend.draft = True
    backend._drafts.clear()
    assert backend.generate([request])[0] == greedy  # no draft yet: plain greedy
    tokens = backend._drafts["a"]
    assert len(tokens) == request.max_new_tokens  # the random model never ends its turn
    assert backend.last_drafted == [0]
    calls = count_forwards(backend)
    # the whole answer as draft: every token comes out of the prefill, one forward in all
    assert backend.generate([request])[0] == greedy
    # (the last token's logits decide nothing: the draft is one token short of the budget)
    assert backend.last_drafted == backend.last_accepted == [len(tokens) - 1]
    assert calls[0] == 1
    # one wrong token (a digit that changed): the model's own token there, then the rest of the
    # draft is checked again in the next forward
    wrong = (tokens[3] + 1) % backend.model.config.text_config.vocab_size
    n = len(tokens)
    cases = {
        "one wrong": ([*tokens[:3], wrong, *tokens[4:]], n - 2, 2),
        "wrong from the 4th on": (tokens[:3] + [wrong] * (n - 3), 3, 1 + n - 4),
        "all wrong": ([wrong] * n, 0, n),
    }
    for name, (draft, kept, forwards) in cases.items():
        backend._drafts["a"] = draft
        calls[0] = 0
        answer = backend.generate([request])[0]
        assert answer == greedy and answer.confidence == pytest.approx(greedy.confidence), name
        assert (backend.last_accepted, calls[0]) == ([kept], forwards), name
        assert backend._drafts["a"] == tokens  # the new answer is the next draft
    # the prefix's cache is back to the bare template after every call
    prefix = backend._prefixes["a"]
    assert prefix.cache.get_seq_length() == prefix.ids.shape[1]


def test_drafts_in_a_batch_are_checked_row_by_row(fresh_hf_backend):
    backend = fresh_hf_backend
    backend.draft_budget = 3 * 16  # every row checks its whole draft in one forward
    requests = [_request(1, "a", 8), _request(2, "b", 12), _request(3, "c", 6)]
    backend.draft = False
    greedy = [backend.generate([r])[0] for r in requests]
    backend.draft = True
    backend.generate(requests[:1])
    backend.generate(requests[1:2])
    good_a, good_b = backend._drafts["a"], backend._drafts["b"]
    backend._drafts["b"] = [*good_b[:5], (good_b[5] + 1) % 100, *good_b[6:]]
    calls = count_forwards(backend)
    # rows: a full draft, a draft wrong at its 6th token, no draft (a new track)
    assert backend.generate(requests) == greedy
    assert backend.last_drafted == [7, 11, 0] and backend.last_accepted == [7, 10, 0]
    # one prefill of all three rows, then as many as the slowest row needs: b one more (its
    # tail is checked again after the wrong token), c one a token after its first
    assert calls[0] == 1 + max(0, 1, 6 - 1)
    assert backend._drafts["a"] == good_a and backend._drafts["b"] == good_b


def test_a_batch_checks_at_most_the_draft_budget_per_forward(fresh_hf_backend):
    """Guess tokens cost compute in every row of a batch: a forward feeds each row at most
    `draft_budget // rows` of them (at least MIN_DRAFT_WINDOW), so a right draft of n tokens
    takes n / (window + 1) forwards, every one of them as narrow as the window, and the answers
    stay greedy decoding's."""
    backend = fresh_hf_backend
    requests = [_request(10 + k, str(k), 12) for k in range(4)]
    backend.draft = False
    greedy = [backend.generate([r])[0] for r in requests]
    backend.draft = True
    for r in requests:
        backend.generate([r])  # each track's answer: its draft for the next call
    widths = []
    forward = backend.model.forward

    def recording(*args, **kwargs):
        widths.append(kwargs["input_ids"].shape[1])
        return forward(*args, **kwargs)

    backend.model.forward = recording
    for budget, window in ((8, 2), (12, 3), (4, MIN_DRAFT_WINDOW), (64, 16)):
        backend.draft_budget = budget
        widths.clear()
        assert backend.generate(requests) == greedy, budget
        # the 12-token budget: 11 draft tokens, window + 1 tokens out of each forward
        assert len(widths) == math.ceil(12 / (window + 1)), budget
        assert all(w == 1 + min(window, 11 - k * (window + 1)) for k, w in enumerate(widths[1:], 1))
        assert backend.last_accepted == [11 - len(widths) + 1] * 4, budget


@pytest.mark.skipif(not (NANO / "config.json").is_file(), reason="r1track-nano is not bundled")
@pytest.mark.parametrize("think", [False, True])
def test_whole_clips_decode_the_same_tokens_with_and_without_drafts(synth_video, think):
    """The bundled nano (its answers repeat from frame to frame, so drafts are mostly accepted),
    one track and two tracks batched: every answer equal, with drafts on and off."""
    video, boxes = synth_video
    backend = HFBackend("nano", device="cpu")
    config = dataclasses.replace(TrackerConfig.for_checkpoint(backend.checkpoint), think=think)
    runs = {}
    accepted = drafted = 0
    for draft in (False, True):
        backend.draft = draft
        backend._drafts.clear()
        tracker = Tracker(backend, config)
        for batch in (1, 2):
            jobs = [TrackJob(open_frames(video), bbox=boxes[0], name=str(k)) for k in range(2)]
            answers = []
            for event in run_tracks(tracker, jobs, batch=batch):
                assert event.error is None
                if event.result is not None:
                    answers.append((event.job.name, event.result.index, event.result.answer))
                    if draft:
                        accepted += sum(backend.last_accepted)
                        drafted += sum(backend.last_drafted)
            runs[draft, batch] = sorted(answers)
    assert runs[True, 1] == runs[False, 1]
    assert runs[True, 2] == runs[False, 2] == runs[False, 1]
    print("accepted", accepted, "of", drafted)
    assert drafted > 0 and accepted > drafted / 4, (accepted, drafted)
    backend.close()
