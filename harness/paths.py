"""A parameter that names a folder beside the suite, or else an id: ``Annotated[str, FOLDER_OR_ID]``.

A Hugging Face model or tokenizer is given as a folder (``save_pretrained``)
or as a hub id. The suite loader (:mod:`harness.suite.resolve`) makes a value
that names an existing folder relative to the suite's folder absolute, as it
does for ``Path`` parameters, and leaves any other value as it is (an id).
"""

from __future__ import annotations


class FolderOrId:
    """The marker the suite loader looks for in a ``str`` parameter's metadata."""

    def __repr__(self) -> str:
        return "FOLDER_OR_ID"


FOLDER_OR_ID = FolderOrId()
