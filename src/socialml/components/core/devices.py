"""Where torch models run: the GPU when one is present, unless an option names a device."""

from __future__ import annotations


def torch_device(option: str = "auto") -> str:
    """``"cuda"`` for ``"auto"`` on a machine with a GPU, ``"cpu"`` without one; any other option as given."""
    if option != "auto":
        return option
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
