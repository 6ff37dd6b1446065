"""Search distributions: what `experiment { search ... { param "PATH" DIST } }` draws a value
from. Each is a registry entry named by its .dl call (`loguniform(1e-4, 0.1)`); the grammar
knows none of them. The runtime maps them onto the search library's distributions
(`runtime/experiment/search.py`); `dlc check` resolves `probes()` as `--set PATH=V`.

Example:
    >>> from dlc.compiler.distributions import Choice, LogUniform
    >>> LogUniform(low=1e-4, high=0.1).probes()
    [0.0001, 0.1]
    >>> Choice(values=[32, 64]).probes()
    [32, 64]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import model_validator

from dlc.compiler.registry import SpecModel, lazy_classes


class Distribution(SpecModel):
    """Base of the search distributions."""

    def probes(self) -> list[Any]:
        """Values that stand for the whole range when checking the path (both ends, every
        choice)."""
        raise NotImplementedError


class Range(Distribution):
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


__getattr__ = lazy_classes(__name__)

if TYPE_CHECKING:  # for type checkers: at run time each comes from `__getattr__` when asked
    from dlc.compiler.distributions.choice import Choice as Choice
    from dlc.compiler.distributions.intuniform import IntUniform as IntUniform
    from dlc.compiler.distributions.loguniform import LogUniform as LogUniform
    from dlc.compiler.distributions.uniform import Uniform as Uniform
