"""`loss kl_divergence`: KL divergence to soft-label targets."""

from __future__ import annotations

from typing import Any

from dlc.compiler.lazy import jax, jnp
from dlc.compiler.losses import Loss
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "kl_divergence")
class KLDivergence(Loss):
    """KL(y ‖ softmax(out)) = Σ y·(log y - log softmax(out)), for targets that are probability
    rows (soft labels; rows of the targets' width). 0 when the softmax equals the targets.
    Reports `accuracy`: the argmax of the outputs equals the argmax of the targets."""

    def per_example(self, out: Any, y: Any) -> Any:
        logq = jax.nn.log_softmax(out, axis=-1)
        per = jax.scipy.special.xlogy(y, y) - y * logq
        return jnp.sum(per.reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        """`accuracy`: the most likely class is the target's most likely class (agreement
        with a teacher's choice, for distillation)."""
        agree = jnp.argmax(out, axis=-1) == jnp.argmax(y, axis=-1)
        return {"accuracy": jnp.mean(agree.reshape(out.shape[0], -1), axis=-1)}

    def predict(self, out: Any) -> Any:
        return jax.nn.softmax(out, axis=-1)
