"""The harness's own exception types: every user error is one of these.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
anything else reaching the top level is a bug in the harness.
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """An exception as one line for a results row or a log: ``Type: first line`` (at most 500 characters)."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


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
