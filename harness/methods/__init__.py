"""Compression methods: one file, one decorator each."""

from harness.methods import (  # noqa: F401  (registration)
    adversarial,
    attention,
    channel_prune,
    embed_distill,
    fitnets,
    function_matching,
    kd,
    multi_teacher,
    precision,
    prune,
    quantize,
    supervised,
)
from harness.methods.base import METHODS, BuildContext, Method, get_method, method

__all__ = ["METHODS", "BuildContext", "Method", "get_method", "method"]
