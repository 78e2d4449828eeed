"""Architectures: importing this package registers every built-in one in :data:`ARCHITECTURES`.

>>> from harness.models import ARCHITECTURES
>>> ARCHITECTURES.names()
['cnn1d', 'cnn2d', 'hf', 'minilm', 'mlp', 'resnet']
"""

from harness.models import cnn, hf, minilm, mlp, resnet
from harness.models.base import ARCHITECTURES, FIT_CHECKS, INJECTED
from harness.models.checkpoint import load_state_dict_file, load_weights, save_safetensors

__all__ = [
    "ARCHITECTURES",
    "FIT_CHECKS",
    "INJECTED",
    "cnn",
    "hf",
    "load_state_dict_file",
    "load_weights",
    "minilm",
    "mlp",
    "resnet",
    "save_safetensors",
]
