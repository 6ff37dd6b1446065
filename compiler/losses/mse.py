"""`loss mse`: mean squared error."""

from __future__ import annotations

from typing import Any

from dlc.compiler.lazy import jnp
from dlc.compiler.losses import Loss, regression_metrics
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "mse")
class MSE(Loss):
    """Mean squared error: mean((out - y)^2)."""

    def per_example(self, out: Any, y: Any) -> Any:
        return jnp.mean(((out - y) ** 2).reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return regression_metrics(out, y, "mse")
