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
