"""The base of the losses on one output per example with 0/1 labels (not a loss of its own)."""

from __future__ import annotations

from typing import Any

from dlc.compiler.layers.base import Shape, ShapeError
from dlc.compiler.lazy import jnp
from dlc.compiler.losses.classification import Classification


class Binary(Classification):
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
