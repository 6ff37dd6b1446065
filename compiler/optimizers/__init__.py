"""Optimizers: each is an Optax chain built from the spec; nothing hand-rolled.

Every optimizer is `chain(clip_by_global_norm?, inject_hyperparams(base)(lr, ...), scale by the
schedule)`, so the learning rate and weight decay live in the optimizer state as arrays: a grid
over them can be vmapped. (rmsprop with momentum scales by the learning rate before its momentum
trace, so there the schedule acts inside `base` and the last link multiplies by 1.) Weight decay
on sgd/adagrad/rmsprop/adam is L2-coupled (added to the gradient); on adamw it is decoupled.
`reference` builds the same optimizer directly with Optax, for the differential tests.

Example:
    >>> from dlc.compiler.optimizers.adam import Adam
    >>> opt = Adam(lr=1e-3)
    >>> tx = opt.transform(lambda step: 1.0)
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PositiveFloat

from dlc.compiler.lazy import optax
from dlc.compiler.registry import SpecModel, lazy_classes


class Optimizer(SpecModel):
    lr: PositiveFloat = 1e-3
    weight_decay: float = Field(0.0, ge=0.0)
    clip: PositiveFloat | None = None  # clip gradients to this global norm
    hyper: ClassVar[tuple[str, ...]] = ()  # extra float settings injected as traced state

    def base(self, *args: Any, **hyper: Any) -> Any:
        """The Optax transformation of this optimizer for `learning_rate` (first) and the
        injected settings named in `hyper`."""
        raise NotImplementedError

    def _base_with_decay(self, learning_rate: Any, weight_decay: Any, **hyper: Any) -> Any:
        return optax.chain(
            optax.add_decayed_weights(weight_decay), self.base(learning_rate, **hyper)
        )

    def schedule_inside(self) -> bool:
        """Whether the schedule must scale the learning rate inside `base` (when `base` applies
        it before a momentum trace, as optax.rmsprop does) rather than the final update."""
        return False

    def transform(self, schedule: Any, plateau: Any = None) -> Any:
        """The optax transformation for this optimizer and a step -> multiplier schedule (and a
        reduce-on-plateau transformation last, fed `value=` the loss; see `schedules.Plateau`)."""
        hyper = {
            "learning_rate": self.lr,
            "weight_decay": self.weight_decay,
            **{k: getattr(self, k) for k in self.hyper},
        }
        inside = self.schedule_inside()

        def factory(**kw: Any) -> Any:
            lr = kw.pop("learning_rate")
            if inside:
                lr = _times(lr, schedule)
            return self._base_with_decay(lr, kw.pop("weight_decay"), **kw)

        # inject_hyperparams reads the factory's signature to know what to put in its state
        factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in hyper]
        )
        core = optax.inject_hyperparams(factory)(**hyper)
        parts = [] if self.clip is None else [optax.clip_by_global_norm(self.clip)]
        # the same chain shape either way; `current_lr` finds the injected lr in the state
        outer = (lambda step: 1.0) if inside else schedule
        last = [] if plateau is None else [plateau]
        return optax.chain(*parts, core, optax.scale_by_schedule(outer), *last)

    def reference(self, schedule: Any) -> Any:
        """The same optimizer written directly with Optax (used by the differential tests)."""
        tx = self.reference_base(lambda t: self.lr * schedule(t))
        return tx if self.clip is None else optax.chain(optax.clip_by_global_norm(self.clip), tx)

    def reference_base(self, learning_rate: Any) -> Any:
        """`reference` without gradient clipping, for a step -> learning rate schedule."""
        raise NotImplementedError


def _times(lr: Any, schedule: Any) -> Any:
    return lambda step: lr * schedule(step)


def current_lr(opt_state: Any, multiplier: Any) -> Any:
    """The learning rate in use: the injected `lr` × the schedule's multiplier at this step ×
    the reduce-on-plateau scale, if the chain has one."""
    lr = next(s for s in opt_state if hasattr(s, "hyperparams")).hyperparams["learning_rate"]
    scale = next((s.scale for s in opt_state if hasattr(s, "plateau_count")), 1.0)
    return lr * multiplier * scale


__getattr__ = lazy_classes(__name__)

if TYPE_CHECKING:  # for type checkers: at run time each comes from `__getattr__` when asked
    from dlc.compiler.optimizers.adagrad import Adagrad as Adagrad
    from dlc.compiler.optimizers.adam import Adam as Adam
    from dlc.compiler.optimizers.adamw import AdamW as AdamW
    from dlc.compiler.optimizers.rmsprop import RMSProp as RMSProp
    from dlc.compiler.optimizers.sgd import SGD as SGD
