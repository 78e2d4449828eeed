"""Docstrings as the listings and generated docs show them: ``harness list``'s one sentence per component, and
reStructuredText's markup as Markdown in docs/suite-reference.md."""

from __future__ import annotations

import re

#: reStructuredText's ``:role:`target``` (``~`` shortens a dotted target); its target is group 1
_ROLE = re.compile(r":\w+:`~?([^`]+)`")
#: a full stop that ends a sentence: not after an abbreviation (et al., e.g., i.e., vs.) nor inside a number
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bcf)\.(?=\s|$)")


def first_sentence(doc: str | None) -> str:
    r"""A docstring's first sentence, whole and plain: its first paragraph joined into one line, cut after the
    first full stop that ends a sentence, reStructuredText's ````code```` and ``:role:`target``` as plain text.

    >>> first_sentence("Matches the teacher (Beyer et\n    al. 2022); ``transfer`` too.\n\nMore.")
    'Matches the teacher (Beyer et al. 2022); transfer too.'
    >>> first_sentence("Cast with :func:`torch.Tensor.to`, e.g. to float16. Then checked.")
    'Cast with torch.Tensor.to, e.g. to float16.'
    """
    paragraph = " ".join((doc or "").strip().split("\n\n", 1)[0].split())
    plain = _ROLE.sub(r"\1", paragraph).replace("``", "")
    end = _SENTENCE_END.search(plain)
    return plain[:end.end()] if end else plain


def markdown_code(text: str) -> str:
    """reStructuredText's ````code```` and ``:role:`target``` as Markdown code.

    >>> markdown_code("see :func:`harness.plan.dtype_plan` and ``threads``")
    'see `harness.plan.dtype_plan` and `threads`'
    """
    return _ROLE.sub(r"`\1`", text.replace("``", "`"))
