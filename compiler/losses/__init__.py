"""Losses on the model's raw outputs (logits for classification), with per-example metrics.

Each loss gives `per_example(out, y) -> [B]` values; the runtime takes weighted means, so
padding and fold masks are weights of 0. With a label per position (sequence tagging, seq2seq)
the values are [B, T] and labels < 0 mark padding positions (see `element_weights`).

Each registered loss is one class in one module of this package, imported when a spec names it
(`LOSSES.get`); `from dlc.compiler.losses import MSE` works too (`lazy_classes`).

Example:
    >>> import jax.numpy as jnp
    >>> from dlc.compiler.losses.mse import MSE
    >>> float(MSE().per_example(jnp.array([[1.0], [3.0]]), jnp.array([[0.0], [1.0]])).mean())
    2.5
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from dlc.compiler.layers.base import Shape, ShapeError
from dlc.compiler.lazy import jnp
from dlc.compiler.metrics import METRICS, REPORTABLE, expand, is_exact
from dlc.compiler.registry import SpecModel, lazy_classes


class Loss(SpecModel):
    task: ClassVar[str] = "regression"  # or "classification" / "binary"
    # metrics exact over the evaluation set (`compiler/metrics.py`): `report=[f1, roc_auc]`
    report: tuple[str, ...] = ()

    @field_validator("report")
    @classmethod
    def _known_metrics(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        known = REPORTABLE[cls.task]
        for name in names:
            if name not in known and name not in METRICS:
                raise ValueError(
                    f"`{name}` is not a metric of this loss; known: {', '.join(known)}"
                )
        return names

    def per_example(self, out: Any, y: Any) -> Any:
        raise NotImplementedError

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        """Per-example metric values reported besides the loss."""
        return {}

    def weights_of(self, y: Any, per: Any) -> Any:
        """Per-value weights of the training loss by the labels' classes; None: all 1."""
        return None

    def classes(self, out_shape: Shape) -> int:
        """Number of classes the confusion-matrix metrics count (1 for regression)."""
        return 1

    def exact_names(self, out_shape: Shape) -> list[str]:
        """The names of the `report` metrics, per-class ones expanded (`f1_0`, `f1_1`, ...)."""
        return [n for n in expand(self.report, self.classes(out_shape)) if is_exact(n)]

    def custom_metrics(self, out: Any, y: Any) -> dict[str, Any]:
        """Per-example values of the plugin metrics (`dlc.metric`) in `report`."""
        return {
            n: jnp.asarray(METRICS[n](out, y), jnp.float32) for n in self.report if n in METRICS
        }

    def exact_inputs(self, out: Any, y: Any) -> dict[str, Any]:
        """What the exact metrics read from one chunk: `labels`, `pred`, `score`, `binary`
        (classification) or `y`, `out` (regression)."""
        return {"y": y, "out": out}

    def predict(self, out: Any) -> Any:
        """Model outputs -> what `predict` returns (e.g. probabilities)."""
        return out

    def check_output(self, out_shape: Shape, target_shape: Shape, num_classes: int | None) -> None:
        if out_shape != target_shape:
            raise ShapeError(
                f"the model outputs shape {out_shape} but the targets have shape {target_shape}",
                f"end the model with `dense {target_shape[-1]}`" if target_shape else None,
            )


def element_weights(values: Any, y: Any, w: Any) -> Any:
    """Weights of per-example values [B] (the example weights `w`) or per-token values [B, T]
    (`w` × the label mask: a label < 0 marks a padding position).

    Example:
        >>> import jax.numpy as jnp
        >>> element_weights(jnp.ones((1, 3)), jnp.array([[4, 2, -1]]), jnp.ones(1)).tolist()
        [[1.0, 1.0, 0.0]]
    """
    if values.ndim == 1:
        return w
    return w[:, None] * (y >= 0).astype(jnp.float32)


def regression_metrics(out: Any, y: Any, skip: str) -> dict[str, Any]:
    err = (out - y).reshape(out.shape[0], -1)
    m = {"mae": jnp.mean(jnp.abs(err), axis=-1), "mse": jnp.mean(err**2, axis=-1)}
    return {k: v for k, v in m.items() if k != skip}


__getattr__ = lazy_classes(__name__)
