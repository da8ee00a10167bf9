"""Reading a PyTorch state dict into numpy arrays without unpickling untrusted code.

``.safetensors``: ``safetensors.numpy.load_file`` (no PyTorch needed). ``.pth``/``.pt``/``.bin``:
``torch.load(weights_only=True)`` (PyTorch's restricted unpickler: tensors and plain
containers only, plus ``argparse.Namespace``, which timm's training checkpoints store), imported
lazily. A checkpoint that wraps the weights in ``state_dict`` or ``model`` (timm's training
checkpoints, e.g. ml-dr's released ResNet50-D ``best.pt``) is unwrapped; a DataParallel
``module.`` prefix is removed.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pth", ".pt", ".bin")


class ConversionError(ValueError):
    """The source cannot be converted; the message names the file or the tensor."""


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """{tensor name: float32/int numpy array} of the state dict at ``path``."""
    if not os.path.isfile(path):
        raise ConversionError(f"--source: {path} is not a file")
    lower = path.lower()
    if lower.endswith(SAFETENSORS_SUFFIXES):
        tensors = _read_safetensors(path)
    elif lower.endswith(TORCH_SUFFIXES):
        tensors = _read_torch(path)
    else:
        raise ConversionError(f"--source: {path}: unknown format (expected "
                              f"{', '.join(SAFETENSORS_SUFFIXES + TORCH_SUFFIXES)})")
    return _unwrap(tensors, path)


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        # core.extras.missing's wording, spelled out: nets/ imports nothing of ours
        raise ConversionError("--source: reading .safetensors needs safetensors, which is not "
                              "installed: pip install safetensors (the package's [interop] "
                              "extra)") from None
    try:
        return load_file(path)
    except Exception as e:  # the package raises its own SafetensorError and OSError
        raise ConversionError(f"--source: {path} cannot be read as safetensors "
                              f"({' '.join(str(e).split())[:160]})") from None


def _read_torch(path: str) -> dict:
    try:
        import torch
    except ImportError:
        # Not in an extra: PyPI's default torch wheel brings ~2 GB of CUDA libraries.
        raise ConversionError("--source: reading .pth needs PyTorch, which is not installed: "
                              "pip install torch (the CPU wheel: --index-url "
                              "https://download.pytorch.org/whl/cpu), or convert the file to "
                              ".safetensors (the [interop] extra reads those)") from None
    try:
        # timm's training checkpoints (ml-dr's released R50-D "best.pt" among them) keep the
        # run's argparse.Namespace under "args": a plain attribute bag, allowed; nothing else.
        with torch.serialization.safe_globals([argparse.Namespace]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for anything but tensors, RuntimeError, OSError
        raise ConversionError(f"--source: {path} cannot be read as a weights-only PyTorch "
                              f"state dict ({' '.join(str(e).split())[:160]})") from None
    if not isinstance(loaded, dict):
        raise ConversionError(f"--source: {path} holds a {type(loaded).__name__}, not a "
                              "state dict")
    return loaded


def _unwrap(tensors: dict, path: str) -> dict[str, np.ndarray]:
    for key in ("state_dict", "model"):
        if isinstance(tensors.get(key), dict):
            tensors = tensors[key]
            break
    out = {}
    for name, value in tensors.items():
        if not hasattr(value, "shape"):
            raise ConversionError(f"--source: {path}: entry '{name}' is not a tensor")
        if hasattr(value, "detach"):  # a torch.Tensor
            value = value.detach().cpu().float().numpy() if value.is_floating_point() \
                else value.detach().cpu().numpy()
        key = name[len("module."):] if name.startswith("module.") else name
        out[key] = np.asarray(value)
    return out
