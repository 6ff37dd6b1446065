"""The `uniform` distribution (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.distributions import Range
from dlc.compiler.registry import DISTRIBUTIONS, register


@register(DISTRIBUTIONS, "uniform")
class Uniform(Range):
    """A float drawn uniformly from [low, high]."""

    def probes(self) -> list[Any]:  # and a fraction inside: a setting that takes integers fails
        return [self.low, self.high, self.low + 0.3771 * (self.high - self.low)]
