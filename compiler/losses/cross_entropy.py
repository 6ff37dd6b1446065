"""`loss cross_entropy`: softmax cross-entropy on logits."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dlc.compiler.lazy import jax, optax
from dlc.compiler.losses.classification import Classification
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "cross_entropy")
class CrossEntropy(Classification):
    """Softmax cross-entropy on logits; labels are class indices or one-hot rows, or one label
    per position (logits (T, classes), labels (T,), -1 at padding: masked per-token loss, and
    `accuracy` over the real tokens only, plus `sequence_accuracy`)."""

    task = "classification"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)

    def per_example(self, out: Any, y: Any) -> Any:
        onehot = jax.nn.one_hot(y, out.shape[-1]) if y.ndim < out.ndim else y
        if self.label_smoothing:
            onehot = optax.smooth_labels(onehot, self.label_smoothing)
        per = optax.softmax_cross_entropy(out, onehot)
        return per * (y >= 0) if y.ndim == 2 and y.ndim < out.ndim else per  # 0 at padding

    def predict(self, out: Any) -> Any:
        return jax.nn.softmax(out, axis=-1)
