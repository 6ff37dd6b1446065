"""Search distributions: what `experiment { search ... { param "PATH" DIST } }` draws a value
from. Each is a registry entry named by its .dl call (`loguniform(1e-4, 0.1)`); the grammar
knows none of them. The runtime maps them onto the search library's distributions
(`runtime/experiment/search.py`); `dlc check` resolves `probes()` as `--set PATH=V`.

Example:
    >>> LogUniform(low=1e-4, high=0.1).probes()
    [0.0001, 0.1]
    >>> Choice(values=[32, 64]).probes()
    [32, 64]
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from dlc.compiler.registry import DISTRIBUTIONS, SpecModel, register


class Distribution(SpecModel):
    """Base of the search distributions."""

    def probes(self) -> list[Any]:
        """Values that stand for the whole range when checking the path (both ends, every
        choice)."""
        raise NotImplementedError


class _Range(Distribution):
    low: float
    high: float
    positional = ("low", "high")

    @model_validator(mode="after")
    def _ordered(self) -> Any:
        if not self.low < self.high:
            raise ValueError(f"`low` must be below `high` (got {self.low!r} and {self.high!r})")
        return self

    def probes(self) -> list[Any]:
        return [self.low, self.high]


@register(DISTRIBUTIONS, "uniform")
class Uniform(_Range):
    """A float drawn uniformly from [low, high]."""

    def probes(self) -> list[Any]:  # and a fraction inside: a setting that takes integers fails
        return [self.low, self.high, self.low + 0.3771 * (self.high - self.low)]


@register(DISTRIBUTIONS, "loguniform")
class LogUniform(_Range):
    """A float whose logarithm is uniform on [log low, log high] (learning rates, decays);
    both bounds above 0."""

    low: PositiveFloat
    high: PositiveFloat


@register(DISTRIBUTIONS, "intuniform")
class IntUniform(_Range):
    """An integer from low, low + step, ..., up to high (widths, batch sizes); `log=true`
    draws it log-uniformly (step 1 only)."""

    low: int
    high: int
    step: PositiveInt = 1
    log: bool = False

    @model_validator(mode="after")
    def _log_step(self) -> IntUniform:
        if self.log and (self.step != 1 or self.low < 1):
            raise ValueError("`log=true` needs `step=1` and `low` of at least 1")
        if (self.high - self.low) % self.step:
            raise ValueError(f"`high - low` must be a multiple of `step` ({self.step})")
        return self


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
