"""The base of the classification losses: labels, class weights, accuracy and the output checks
(not a loss of its own)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import PositiveFloat, field_validator

from dlc.compiler.layers.base import Shape, ShapeError
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.losses import Loss


class Classification(Loss):
    top_k: ClassVar[int] = 5
    # imbalanced labels: each training example's loss × its class's weight; `balanced` is
    # n / (K · n_k) from the training part's label counts (filled in by `bind_class_weights`)
    class_weights: Literal["balanced"] | list[PositiveFloat] | None = None
    hash_omit: ClassVar[frozenset[str]] = frozenset({"class_weights"})

    def weights_of(self, y: Any, per: Any) -> Any:
        """Each value of `per` ([B] or [B, T]) × the weight of its label's class (1 without
        `class_weights`); padding labels (< 0) get class 0's weight, masked elsewhere."""
        if self.class_weights is None:
            return None
        if self.class_weights == "balanced":
            raise ValueError("class_weights=balanced needs the data's label counts (bind_data)")
        cw = jnp.asarray(self.class_weights, jnp.float32)
        if self.task == "binary":
            labels = (y > 0.5).astype(jnp.int32)
        elif y.ndim == per.ndim + 1 and y.shape[-1] == cw.shape[0] and y.dtype.kind == "f":
            return jnp.dot(y, cw)  # one-hot (or soft) label rows
        else:
            labels = jnp.maximum(y, 0).astype(jnp.int32)
        return cw[labels].reshape(per.shape)

    @field_validator("class_weights", mode="before")
    @classmethod
    def _none(cls, v: object) -> object:
        return None if v == "none" else v  # `--set loss.class_weights=none`

    def check_weights(self, out_shape: Shape) -> None:
        """One class weight per class (a ShapeError, reported at the loss, otherwise)."""
        k = self.classes(out_shape)
        if isinstance(self.class_weights, list) and len(self.class_weights) != k:
            raise ShapeError(
                f"class_weights has {len(self.class_weights)} weights for {k} classes",
                "give one weight per class, in class order, or `class_weights=balanced`",
            )

    def _labels(self, y: Any, out: Any) -> Any:
        return y if y.ndim < out.ndim else jnp.argmax(y, axis=-1)  # indices or one-hot rows

    def classes(self, out_shape: Shape) -> int:
        return out_shape[-1]

    def exact_inputs(self, out: Any, y: Any) -> dict[str, Any]:
        score = out[..., -1] - out[..., 0]  # two classes: monotone in the probability of class 1
        return {
            "labels": self._labels(y, out),
            "pred": jnp.argmax(out, axis=-1),
            "score": score,
            "binary": jnp.zeros((), bool),
        }

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        labels = self._labels(y, out)
        m = {"accuracy": (jnp.argmax(out, axis=-1) == labels).astype(jnp.float32)}
        if out.shape[-1] > self.top_k:
            top = jax.lax.top_k(out, self.top_k)[1]
            m[f"top{self.top_k}_accuracy"] = jnp.any(top == labels[..., None], axis=-1).astype(
                jnp.float32
            )
        if out.ndim == 3:  # per-token outputs: also whole sequences right (padding ignored)
            m["sequence_accuracy"] = jnp.all((m["accuracy"] > 0) | (labels < 0), axis=-1).astype(
                jnp.float32
            )
        return m

    def check_output(self, out_shape: Shape, target_shape: Shape, num_classes: int | None) -> None:
        per_token = len(target_shape) == 1 and out_shape[:-1] == target_shape
        if len(out_shape) != 1 and not per_token:
            raise ShapeError(
                f"classification needs outputs of shape (classes,), or "
                f"{(*target_shape, 'classes')} for a label per position, got "
                f"{out_shape}",
                "add `flatten` (or `seqpool`) and a final `dense` with one unit per class",
            )
        if num_classes is not None and out_shape[-1] != num_classes:
            raise ShapeError(
                f"the model outputs {out_shape[-1]} logits but the labels have "
                f"{num_classes} classes",
                f"end the model with `dense {num_classes}`",
            )
        if "roc_auc" in self.report and out_shape[-1] != 2:
            raise ShapeError(
                f"roc_auc needs two classes, the model outputs {out_shape[-1]}",
                "report `f1` or `recall_per_class` instead",
            )
