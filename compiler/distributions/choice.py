"""The `choice` distribution (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from dlc.compiler.distributions import Distribution
from dlc.compiler.registry import DISTRIBUTIONS, register


@register(DISTRIBUTIONS, "choice")
class Choice(Distribution):
    """One of the listed values, each as likely (`choice([32, 64])`)."""

    values: list[float | int | bool | str] = Field(min_length=1)
    positional = ("values",)

    @model_validator(mode="after")
    def _distinct(self) -> Choice:
        seen = [repr(v) for v in self.values]
        if len(set(seen)) != len(seen):
            raise ValueError("the values of `choice` must differ")
        return self

    def probes(self) -> list[Any]:
        return list(self.values)
