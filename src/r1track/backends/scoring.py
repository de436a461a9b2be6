"""Recording what a model chose while transformers' `generate` decodes, for answer confidences
(`backends.base.answer_confidence`)."""

from __future__ import annotations


class ChosenLogprobs:
    """A logits processor for `generate` that changes nothing: it records, each step, every row's
    greedy pick (the argmax of the scores, as `generate` takes it when no processor follows this
    one) and that token's log-probability. Two numbers per row and step: no logits are kept."""

    def __init__(self):
        self.steps: list = []

    def __call__(self, input_ids, scores):
        import torch

        picks = scores.argmax(-1, keepdim=True)
        logprobs = torch.log_softmax(scores.float(), -1).gather(-1, picks)
        self.steps.append((logprobs[:, 0], picks[:, 0]))
        return scores

    def per_row(self) -> tuple[list[list[float]], list[list[int]]]:
        """The log-probabilities and the tokens picked, per row: `(logprobs, tokens)`."""
        import torch

        logprobs = torch.stack([lp for lp, _ in self.steps], 1).tolist()
        return logprobs, torch.stack([t for _, t in self.steps], 1).tolist()


class NoAbsent:
    """A logits processor for `generate` that keeps chosen rows from answering the absent answer
    (`GenerationRequest.box_only`): while a row's answer so far is the start of `absent_ids`,
    it multiplies up the probability of the absent answer's next token (of the raw scores) and,
    where that token would complete it, rules the token out, so the row decodes its likeliest
    box instead. `absent[i]` is then the probability of the absent answer along the decoded path:
    exact when the path leaves it at its last token (the usual case: the answer's opening
    bracket is shared), an upper bound when earlier. None for rows not chosen."""

    def __init__(self, absent_ids: list[int], rows: list[bool]):
        self.ids = absent_ids
        self.rows = rows
        self.absent: list[float | None] = [1.0 if on else None for on in rows]
        self.start: int | None = None

    def __call__(self, input_ids, scores):
        import torch

        if self.start is None:
            self.start = input_ids.shape[1]
        step = input_ids.shape[1] - self.start
        if step >= len(self.ids):
            return scores
        probs = None
        for i, on in enumerate(self.rows):
            if not on or input_ids[i, self.start :].tolist() != self.ids[:step]:
                continue  # not asked, or the answer has already left the absent one
            if probs is None:
                probs = torch.softmax(scores.float(), -1)
            self.absent[i] *= float(probs[i, self.ids[step]])
            if step == len(self.ids) - 1:
                scores[i, self.ids[step]] = -float("inf")
        return scores
