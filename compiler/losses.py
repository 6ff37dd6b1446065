"""Losses on the model's raw outputs (logits for classification), with per-example metrics.

Each loss gives `per_example(out, y) -> [B]` values; the runtime takes weighted means, so
padding and fold masks are weights of 0. With a label per position (sequence tagging, seq2seq)
the values are [B, T] and labels < 0 mark padding positions (see `element_weights`).

Example:
    >>> import jax.numpy as jnp
    >>> float(MSE().per_example(jnp.array([[1.0], [3.0]]), jnp.array([[0.0], [1.0]])).mean())
    2.5
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveFloat, field_validator

from dlc.compiler.layers.base import Shape, ShapeError
from dlc.compiler.lazy import jax, jnp, optax
from dlc.compiler.metrics import METRICS, REPORTABLE, expand, is_exact
from dlc.compiler.registry import LOSSES, SpecModel, register


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


def _regression_metrics(out: Any, y: Any, skip: str) -> dict[str, Any]:
    err = (out - y).reshape(out.shape[0], -1)
    m = {"mae": jnp.mean(jnp.abs(err), axis=-1), "mse": jnp.mean(err**2, axis=-1)}
    return {k: v for k, v in m.items() if k != skip}


@register(LOSSES, "mse")
class MSE(Loss):
    """Mean squared error: mean((out - y)^2)."""

    def per_example(self, out: Any, y: Any) -> Any:
        return jnp.mean(((out - y) ** 2).reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return _regression_metrics(out, y, "mse")


@register(LOSSES, "mae")
class MAE(Loss):
    """Mean absolute error: mean(|out - y|)."""

    def per_example(self, out: Any, y: Any) -> Any:
        return jnp.mean(jnp.abs(out - y).reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return _regression_metrics(out, y, "mae")


class _Classification(Loss):
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


@register(LOSSES, "cross_entropy")
class CrossEntropy(_Classification):
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


class _Binary(_Classification):
    """One output per example, labels 0/1; `threshold` on the output decides the class."""

    task = "binary"

    def positive(self, out: Any) -> Any:
        return out[..., 0] > 0.0

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return {"accuracy": (self.positive(out) == (y > 0.5)).astype(jnp.float32)}

    def classes(self, out_shape: Shape) -> int:
        return 2

    def exact_inputs(self, out: Any, y: Any) -> dict[str, Any]:
        return {
            "labels": (y > 0.5).astype(jnp.int32),
            "pred": self.positive(out).astype(jnp.int32),
            "score": out[..., 0],
            "binary": jnp.ones((), bool),
        }

    def check_output(self, out_shape: Shape, target_shape: Shape, num_classes: int | None) -> None:
        if out_shape != (1,):
            raise ShapeError(
                f"{self.dl_name} needs one output per example, got {out_shape}",
                "end the model with `dense 1`",
            )
        if num_classes is not None and num_classes > 2:
            raise ShapeError(
                f"{self.dl_name} needs 0/1 labels, found {num_classes} classes",
                "use `loss cross_entropy` with `dense N` for N classes",
            )


EPS = 1e-7  # probabilities are clipped into [EPS, 1 - EPS] before the log


@register(LOSSES, "binary_cross_entropy")
class BinaryCrossEntropy(_Binary):
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


@register(LOSSES, "hinge")
class Hinge(_Binary):
    """Hinge loss on one score per example, labels 0/1 (as -1/+1): max(0, 1 - t·out); the
    class is the score's sign."""

    def per_example(self, out: Any, y: Any) -> Any:
        t = 2.0 * (y > 0.5).astype(out.dtype) - 1.0
        return jnp.maximum(0.0, 1.0 - t * out[..., 0])


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


@register(LOSSES, "huber")
class Huber(Loss):
    """Huber loss, mean over outputs: (out - y)²/2 within `delta` of the target, linear
    (delta·(|out - y| - delta/2)) beyond: squared error near the target, robust to outliers."""

    delta: float = Field(1.0, gt=0.0)

    def per_example(self, out: Any, y: Any) -> Any:
        per = optax.huber_loss(out, y, delta=self.delta)
        return jnp.mean(per.reshape(out.shape[0], -1), axis=-1)

    def metrics(self, out: Any, y: Any) -> dict[str, Any]:
        return _regression_metrics(out, y, "")


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
