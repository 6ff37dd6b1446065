"""`loss hinge`: on one score per example, labels 0/1."""

from __future__ import annotations

from typing import Any

from dlc.compiler.lazy import jnp
from dlc.compiler.losses.binary import Binary
from dlc.compiler.registry import LOSSES, register


@register(LOSSES, "hinge")
class Hinge(Binary):
    """Hinge loss on one score per example, labels 0/1 (as -1/+1): max(0, 1 - t·out); the
    class is the score's sign."""

    def per_example(self, out: Any, y: Any) -> Any:
        t = 2.0 * (y > 0.5).astype(out.dtype) - 1.0
        return jnp.maximum(0.0, 1.0 - t * out[..., 0])
