"""Learning-rate schedules: multipliers of the optimizer's `lr`, as functions of the step.

`a then b` runs `a` for its length, then `b`; a part without a length takes the rest of training.

Example:
    >>> s = Then(parts=[Warmup(steps=10), Cosine()])
    >>> f = s.build(total_steps=110)
    >>> [round(float(f(t)), 3) for t in (0, 5, 10, 60, 110)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, NonNegativeInt, PositiveInt

from dlc.compiler.lazy import jnp, optax
from dlc.compiler.registry import SCHEDULES, SpecModel, register


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


@register(SCHEDULES, "warmup")
class Warmup(Schedule):
    """Linear from `start` to 1 over `steps`."""

    steps: PositiveInt
    start: float = Field(0.0, ge=0)
    positional = ("steps",)

    def build(self, total_steps: int) -> Any:
        return optax.linear_schedule(self.start, 1.0, self.steps)


@register(SCHEDULES, "constant_warmup")
class ConstantWarmup(Schedule):
    """`factor` for `steps`, then 1 (the "constant warmup" of ResNet training)."""

    steps: PositiveInt
    factor: float = Field(0.1, gt=0)
    positional = ("steps",)

    def build(self, total_steps: int) -> Any:
        return optax.piecewise_constant_schedule(self.factor, {self.steps: 1.0 / self.factor})


@register(SCHEDULES, "cosine")
class Cosine(Schedule):
    """1 -> `alpha` along half a cosine over `steps` (default: the rest of training)."""

    steps: PositiveInt | None = None
    alpha: float = Field(0.0, ge=0, le=1)
    positional = ("steps",)

    def build(self, total_steps: int) -> Any:
        return optax.cosine_decay_schedule(1.0, max(1, self.steps or total_steps), self.alpha)


@register(SCHEDULES, "exponential")
class Exponential(Schedule):
    """`rate ** (step / every)` (stepwise when `staircase`)."""

    rate: float = Field(gt=0, le=1)
    every: PositiveInt = 1000
    staircase: bool = False
    steps: PositiveInt | None = None
    positional = ("rate",)

    def build(self, total_steps: int) -> Any:
        return optax.exponential_decay(1.0, self.every, self.rate, staircase=self.staircase)


@register(SCHEDULES, "step")
class Step(Schedule):
    """Multiply by `factor` at each step in `boundaries` (piecewise constant)."""

    boundaries: list[PositiveInt] = Field(min_length=1)
    factor: float = Field(0.1, gt=0)
    steps: PositiveInt | None = None
    positional = ("boundaries",)

    def build(self, total_steps: int) -> Any:
        return optax.piecewise_constant_schedule(1.0, dict.fromkeys(self.boundaries, self.factor))


@register(SCHEDULES, "plateau")
class Plateau(Schedule):
    """Reduce on plateau (Keras' ReduceLROnPlateau, as Optax's `contrib.reduce_on_plateau`):
    multiply the lr by `factor` when the epoch's mean minibatch training loss has not improved
    by a relative `rtol` for `patience` epochs; wait `cooldown` epochs after a cut; never below
    `min_scale` × lr. Only the last part of `then`, e.g. `warmup(100) then plateau`."""

    factor: float = Field(0.5, gt=0, lt=1)
    patience: PositiveInt = 5
    cooldown: NonNegativeInt = 0
    rtol: float = Field(1e-4, gt=0, le=1)
    min_scale: float = Field(0.0, ge=0, le=1)
    positional = ("factor",)

    def build(self, total_steps: int) -> Any:
        return optax.constant_schedule(1.0)  # the cuts live in the optimizer state

    def transform(self, steps_per_epoch: Any) -> Any:
        """The Optax transformation (fed `value=` the minibatch loss at every update); counts
        epochs of `steps_per_epoch` updates (a traced number per lane in experiments)."""
        from optax.contrib import reduce_on_plateau

        return reduce_on_plateau(
            factor=self.factor,
            patience=self.patience,
            rtol=self.rtol,
            cooldown=self.cooldown,
            accumulation_size=steps_per_epoch,
            min_scale=self.min_scale,
        )


def plateau_of(schedule: Schedule) -> Plateau | None:
    """The `plateau` of a schedule (alone or the last part of `then`), else None."""
    last = schedule.parts[-1] if isinstance(schedule, Then) else schedule
    return last if isinstance(last, Plateau) else None


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
