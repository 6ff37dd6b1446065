"""`loss focal`: cross-entropy that counts easy examples less."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.lazy import jax, jnp, optax
from dlc.compiler.losses.cross_entropy import CrossEntropy
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "focal")
class Focal(CrossEntropy):
    """Focal loss on logits, -(1 - p)^gamma · log p of the true class (p: its softmax
    probability): easy examples count less; `gamma=0` is cross-entropy. Labels as for
    `cross_entropy` (a label per position too)."""

    gamma: float = Field(2.0, ge=0.0)

    def per_example(self, out: Any, y: Any) -> Any:
        onehot = jax.nn.one_hot(y, out.shape[-1]) if y.ndim < out.ndim else y
        if self.label_smoothing:
            onehot = optax.smooth_labels(onehot, self.label_smoothing)
        logp = jax.nn.log_softmax(out, axis=-1)
        per = -jnp.sum(onehot * (1.0 - jnp.exp(logp)) ** self.gamma * logp, axis=-1)
        return per * (y >= 0) if y.ndim == 2 and y.ndim < out.ndim else per
