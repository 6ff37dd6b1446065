"""`loss huber`: squared error near the target, linear beyond `delta`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.lazy import jnp, optax
from dlc.compiler.losses import Loss, regression_metrics
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "huber")
class Huber(Loss):
    """Huber loss, mean over outputs: (out - y)²/2 within `delta` of the target, linear
    (delta·(|out - y| - delta/2)) beyond: squared error near the target, robust to outliers."""

    delta: float = Field(1.0, gt=0.0)

    def per_example(self, out: Any, y: Any) -> Any:
        per = optax.huber_loss(out, y, delta=self.delta)
        return jnp.mean(per.reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return regression_metrics(out, y, "")
