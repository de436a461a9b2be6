"""Key/value caches of several tracks decoded as one batch.

Each track's template prefix has its own cache (`HFBackend`'s template reuse). A batch of tracks
decodes on one cache: the prefixes, left-padded to the longest, stacked along the batch, with an
attention mask that hides the padding. The tracks' own caches are copied, never changed.
"""

from __future__ import annotations

from collections.abc import Sequence


def stack_caches(caches: Sequence, lengths: Sequence[int]):
    """One `DynamicCache` holding `caches` (each of batch 1, `lengths[i]` positions) as rows of
    a batch, each left-padded with zeros to the longest; and the `(batch, longest)` mask of the
    positions that hold a row's own keys (1) rather than padding (0)."""
    import torch
    from transformers import DynamicCache

    longest = max(lengths)
    first = caches[0].layers[0].keys
    mask = torch.zeros(len(caches), longest, dtype=torch.long, device=first.device)
    for row, length in enumerate(lengths):
        mask[row, longest - length :] = 1
    stacked = DynamicCache()
    for index in range(len(caches[0].layers)):
        keys, values = [], []
        for cache, length in zip(caches, lengths, strict=True):
            layer = cache.layers[index]
            pad = longest - length
            keys.append(torch.nn.functional.pad(layer.keys[:, :, :length], (0, 0, pad, 0)))
            values.append(torch.nn.functional.pad(layer.values[:, :, :length], (0, 0, pad, 0)))
        stacked.update(torch.cat(keys), torch.cat(values), index)
    return stacked, mask


def row_cache(cache, row: int):
    """Row `row` of a batched `DynamicCache`, as a cache of batch 1 of its own (views of the
    batched tensors; `update` and `crop` replace them rather than write into them)."""
    from transformers import DynamicCache

    single = DynamicCache()
    for index, layer in enumerate(cache.layers):
        single.update(layer.keys[row : row + 1], layer.values[row : row + 1], index)
    return single
