"""Compression methods: one file, one decorator each."""

from harness.methods import kd, supervised  # noqa: F401  (registration)
from harness.methods.base import METHODS, BuildContext, Method, get_method, method

__all__ = ["METHODS", "BuildContext", "Method", "get_method", "method"]
