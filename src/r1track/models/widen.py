"""Widen a Qwen2.5-VL vision tower without changing what it computes (Net2Net-style).

Every unit of the tower is copied ``factor`` times: the residual stream ``x`` becomes ``[x, x]``,
attention gets ``factor`` times the heads (each head keeps its width, so rotary positions and the
attention scale are unchanged), the MLPs ``factor`` times the hidden units, and the merger reads the
copies. Weights that read a copied stream are divided by ``factor``, so every sum is the same;
RMS norms over ``[x, x]`` equal those over ``x``. The widened model answers exactly as the original
(up to float rounding) until ``noise`` perturbs the copies, which it must for training to make the
copies differ (identical copies get identical gradients for ever).

Used by issue 21's capacity experiment (benchmarks/nano.md): nano's tower is 32 wide.
"""

from __future__ import annotations

import torch

__all__ = ["widen_vision"]

# Weights whose outputs are copied (norm scales, biases), and matrices that read and write copies.
_COPIED_OUTPUTS = (
    "norm1.weight",
    "norm2.weight",
    "attn.proj.bias",
    "mlp.down_proj.bias",
    "mlp.gate_proj.bias",
    "mlp.up_proj.bias",
)
_COPIED_BOTH = (
    "attn.proj.weight",
    "mlp.down_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
)


def _rows(weight: torch.Tensor, groups: int, factor: int) -> torch.Tensor:
    """Copy output units: the rows in ``groups`` blocks, each block repeated ``factor`` times."""
    blocks = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
    return torch.cat([blocks] * factor, dim=1).reshape(-1, *weight.shape[1:])


def _cols(weight: torch.Tensor, groups: int, factor: int) -> torch.Tensor:
    """Read copied inputs: columns in ``groups`` blocks, each repeated and divided by ``factor``."""
    blocks = weight.reshape(weight.shape[0], groups, weight.shape[1] // groups)
    return (torch.cat([blocks] * factor, dim=2) / factor).reshape(weight.shape[0], -1)


def _perturb(tensor: torch.Tensor, noise: float, generator: torch.Generator) -> torch.Tensor:
    if noise <= 0 or tensor.numel() < 2:
        return tensor
    scale = noise * float(tensor.std())
    return tensor + scale * torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)


def widen_vision(
    model: torch.nn.Module, factor: int = 2, noise: float = 0.0, seed: int = 0
) -> None:
    """Widen ``model.visual`` (a Qwen2.5-VL tower) ``factor`` times in place; see the module doc.

    ``noise`` is the spread of the Gaussian added to every widened matrix (not to norm scales or
    biases), as a share of that matrix's own standard deviation (0: exactly the original function).
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    owner = model.model if hasattr(model, "model") else model  # the tower's parent module
    visual = owner.visual
    vcfg = model.config.vision_config
    dim, heads, inner = vcfg.hidden_size, vcfg.num_heads, vcfg.intermediate_size
    merge2 = vcfg.spatial_merge_size**2
    generator = torch.Generator().manual_seed(seed)
    new: dict[str, torch.Tensor] = {}
    for name, tensor in visual.state_dict().items():
        t = tensor.detach().clone()
        if name in ("patch_embed.proj.weight", "merger.ln_q.weight", "merger.mlp.0.bias") or (
            name.endswith(_COPIED_OUTPUTS)
        ):
            t = _rows(t, 1, factor)
        elif name.endswith("attn.qkv.weight"):
            t = _cols(_rows(t, 3, factor), 1, factor)
        elif name.endswith("attn.qkv.bias"):
            t = _rows(t, 3, factor)
        elif name.endswith(_COPIED_BOTH):
            t = _cols(_rows(t, 1, factor), 1, factor)
        elif name == "merger.mlp.0.weight":
            # inputs: merge2 patches of `dim` features each -> merge2 patches of factor*dim;
            # outputs: the hidden units, copied as one block
            t = _cols(_rows(t, 1, factor), merge2, factor)
        elif name == "merger.mlp.2.weight":
            t = _cols(t, 1, factor)
        elif name != "merger.mlp.2.bias" and t.is_floating_point() and "rotary" not in name:
            raise ValueError(f"widen_vision: no rule for vision weight {name}")
        new[name] = _perturb(t, noise, generator) if t.dim() > 1 else t  # every matrix is widened
    vcfg.hidden_size, vcfg.num_heads = dim * factor, heads * factor
    vcfg.intermediate_size = inner * factor
    fresh = type(visual)._from_config(vcfg)
    fresh.load_state_dict(new)
    fresh.to(dtype=next(visual.parameters()).dtype)
    owner.visual = fresh
