"""Model files that carry their own program: TorchScript and ``torch.export`` (``.pt2``).

:func:`checkpoint_format` reads a file's content (zip entries, the
safetensors header), not its suffix, and says what it holds:

- ``safetensors``: tensors (a state dict) in the safetensors format;
- ``state_dict``: ``torch.save`` output, read with ``weights_only=True``;
- ``torchscript``: ``torch.jit.save`` output (``code/`` and ``constants.pkl`` in the zip);
- ``export``: a ``torch.export.save`` program (``archive_format`` in the zip).

A state dict needs an architecture (``arch``) to load into; a program is the
model itself (:func:`load_program`).

>>> import tempfile, torch
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "linear.pt"          # any suffix: the content decides
>>> import warnings; warnings.simplefilter("ignore", DeprecationWarning)
>>> torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), path)
>>> checkpoint_format(path), load_program(path)(torch.zeros(1, 3)).shape
('torchscript', torch.Size([1, 2]))
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from harness.errors import HarnessError, one_line

Format = Literal["safetensors", "state_dict", "torchscript", "export"]
PROGRAMS = ("torchscript", "export")


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return False
        (length,) = struct.unpack("<Q", head)
        if length > path.stat().st_size - 8:
            return False
        try:
            return isinstance(json.loads(handle.read(min(length, 1 << 26))), dict)
        except ValueError:
            return False


def checkpoint_format(path: Path) -> Format:
    """What ``path`` holds, from its content; raises :class:`HarnessError` if it is no model file."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: checkpoint file not found")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            entries = [name.split("/", 1)[-1] for name in archive.namelist()]
        if any(name == "archive_format" or name.endswith("/archive_format") for name in entries):
            return "export"
        if any(name.startswith("code/") for name in entries) and "constants.pkl" in entries:
            return "torchscript"
        if "data.pkl" in entries:
            return "state_dict"
        raise HarnessError(f"{path}: a zip file that is neither torch.save, TorchScript nor a torch.export program")
    if _is_safetensors(path):
        return "safetensors"
    return "state_dict"  # torch's legacy (non-zip) format, or not a checkpoint: torch.load says which


class ExportedModule(nn.Module):
    """A ``torch.export`` program's module, as a model the harness can put in eval mode and pickle.

    The program was captured in one mode (inference, usually); its module refuses ``eval()``/``train()``,
    so this wrapper records the flag without passing it down. It pickles as the saved program
    (``torch.export.save`` bytes), which is how it reaches the measuring process.
    """

    def __init__(self, exported: torch.export.ExportedProgram):
        super().__init__()
        self.exported = exported
        self.program = exported.module()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        buffer = io.BytesIO()
        torch.export.save(self.exported, buffer)
        return _exported_from_bytes, (buffer.getvalue(),)

    def train(self, mode: bool = True) -> ExportedModule:
        self.training = mode
        return self

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.program(*args)


def _exported_from_bytes(data: bytes) -> ExportedModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ExportedModule(torch.export.load(io.BytesIO(data)))


def load_program(path: Path) -> nn.Module:
    """The model in a TorchScript or ``torch.export`` file (eval mode), or one error line naming the file."""
    path = Path(path)
    kind = checkpoint_format(path)
    try:
        with warnings.catch_warnings():  # TorchScript's deprecation; export's notes on unlifted modules
            warnings.simplefilter("ignore")
            if kind == "torchscript":
                return torch.jit.load(str(path), map_location="cpu").eval()
            if kind == "export":
                return ExportedModule(torch.export.load(str(path)))
    except Exception as exc:  # a damaged or incompatible file
        raise HarnessError(f"{path}: cannot load the {kind} program ({one_line(exc)})") from None
    raise HarnessError(f"{path}: holds weights ({kind}), not a program: name the architecture ('arch') they fit")
