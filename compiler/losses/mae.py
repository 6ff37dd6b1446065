"""`loss mae`: mean absolute error."""

from __future__ import annotations

from typing import Any

from dlc.compiler.lazy import jnp
from dlc.compiler.losses import Loss, regression_metrics
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "mae")
class MAE(Loss):
    """Mean absolute error: mean(|out - y|)."""

    def per_example(self, out: Any, y: Any) -> Any:
        return jnp.mean(jnp.abs(out - y).reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return regression_metrics(out, y, "mae")
