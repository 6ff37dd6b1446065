"""The `intuniform` distribution (one registry class a module: imported when a spec names it)."""

from __future__ import annotations

from pydantic import PositiveInt, model_validator

from dlc.compiler.distributions import Range
from dlc.compiler.registry import DISTRIBUTIONS, register


@register(DISTRIBUTIONS, "intuniform")
class IntUniform(Range):
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
