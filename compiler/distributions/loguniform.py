"""The `loguniform` distribution (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from pydantic import PositiveFloat

from dlc.compiler.distributions import Range
from dlc.compiler.registry import DISTRIBUTIONS, register


@register(DISTRIBUTIONS, "loguniform")
class LogUniform(Range):
    """A float whose logarithm is uniform on [log low, log high] (learning rates, decays);
    both bounds above 0."""

    low: PositiveFloat
    high: PositiveFloat
