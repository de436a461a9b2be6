"""Which torch device to run on, checked in the user's terms (the `hf` backend, the CLI)."""

from __future__ import annotations

from r1track.errors import UserError, shorten


def check_device(device: str) -> str:
    """The torch device to run on: `auto` (CUDA when there is a GPU, else the CPU) or a device
    this machine has (`cpu`, `cuda`, `cuda:N`, `mps`); refuses anything else in one line."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda", "mps"):
        raise UserError(
            f"--device {shorten(device)}: not a valid device; use auto, cpu, cuda, cuda:N or mps"
        )
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"--device {device}: CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= count:
            raise UserError(f"--device {device}: this machine has {count} CUDA device(s)")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS (Apple GPU) is not available on this machine")
    return device
