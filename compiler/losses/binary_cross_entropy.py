"""`loss binary_cross_entropy`: on one logit (or probability) per example."""

from __future__ import annotations

from typing import Any

from dlc.compiler.lazy import jax, jnp, optax
from dlc.compiler.losses.binary import Binary
from dlc.compiler.registry import LOSSES, register

EPS = 1e-7  # probabilities are clipped into [EPS, 1 - EPS] before the log


@register(LOSSES, "binary_cross_entropy")
class BinaryCrossEntropy(Binary):
    """Binary cross-entropy, labels 0/1: on one logit per example (the sigmoid is in the loss),
    or with `from_logits=false` on a probability (a model ending in `sigmoid`; clipped into
    [1e-7, 1 - 1e-7])."""

    from_logits: bool = True

    def positive(self, out: Any) -> Any:
        return out[..., 0] > (0.0 if self.from_logits else 0.5)

    def per_example(self, out: Any, y: Any) -> Any:
        y = y.astype(out.dtype)
        if self.from_logits:
            return optax.sigmoid_binary_cross_entropy(out[..., 0], y)
        p = jnp.clip(out[..., 0], EPS, 1.0 - EPS)
        return -(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p))

    def predict(self, out: Any) -> Any:
        return jax.nn.sigmoid(out) if self.from_logits else out
