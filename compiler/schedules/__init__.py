"""Learning-rate schedules: multipliers of the optimizer's `lr`, as functions of the step.

`a then b` runs `a` for its length, then `b`; a part without a length takes the rest of training.

Example:
    >>> from dlc.compiler.schedules import Cosine, Warmup
    >>> s = Then(parts=[Warmup(steps=10), Cosine()])
    >>> f = s.build(total_steps=110)
    >>> [round(float(f(t)), 3) for t in (0, 5, 10, 60, 110)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, PositiveInt

from dlc.compiler.lazy import jnp, optax
from dlc.compiler.registry import SCHEDULES, SpecModel, lazy_classes, register


class Schedule(SpecModel):
    def length(self) -> int | None:
        """Steps this schedule lasts inside `then`; None = the rest of training."""
        return getattr(self, "steps", None)

    def build(self, total_steps: int) -> Any:
        """An optax schedule: step -> multiplier."""
        raise NotImplementedError


@register(SCHEDULES, "constant")
class Constant(Schedule):
    """A constant multiplier `value` (default 1: the optimizer's lr as written)."""

    value: float = Field(1.0, gt=0)
    steps: PositiveInt | None = None
    positional = ("value",)

    def build(self, total_steps: int) -> Any:
        return optax.constant_schedule(self.value)


def plateau_of(schedule: Schedule) -> Plateau | None:
    """The `plateau` of a schedule (alone or the last part of `then`), else None."""
    last = schedule.parts[-1] if isinstance(schedule, Then) else schedule
    return last if last.dl_name == "plateau" else None  # type: ignore[return-value]


class Then(Schedule):
    """`a then b then c`: each part for its length, counted from its own start."""

    parts: list[Schedule] = Field(min_length=2)

    def length(self) -> int | None:
        lengths = [p.length() for p in self.parts]
        return None if None in lengths else sum(lengths)  # type: ignore[arg-type]

    def build(self, total_steps: int) -> Any:
        fns, bounds, used = [], [], 0
        for p in self.parts[:-1]:
            n = p.length() or max(1, total_steps - used)
            used += n
            fns.append(p.build(n))
            bounds.append(used)
        fns.append(self.parts[-1].build(max(1, total_steps - used)))
        return optax.join_schedules(fns, bounds)


def schedule_values(schedule: Schedule, total_steps: int, lr: float) -> Any:
    """The learning rate at every step (for printing and plotting without training)."""
    import jax

    return lr * jax.vmap(schedule.build(total_steps))(jnp.arange(total_steps))


__getattr__ = lazy_classes(__name__)

if TYPE_CHECKING:  # for type checkers: at run time each comes from `__getattr__` when asked
    from dlc.compiler.schedules.constant_warmup import ConstantWarmup as ConstantWarmup
    from dlc.compiler.schedules.cosine import Cosine as Cosine
    from dlc.compiler.schedules.exponential import Exponential as Exponential
    from dlc.compiler.schedules.plateau import Plateau as Plateau
    from dlc.compiler.schedules.step import Step as Step
    from dlc.compiler.schedules.warmup import Warmup as Warmup
