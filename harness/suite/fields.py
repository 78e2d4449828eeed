"""The building blocks every part of a suite's structure shares: strict frozen models, and a seed."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class Strict(BaseModel):
    """Unknown keys are refused, values are not coerced (``"8"`` is not 8), and a loaded suite is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
