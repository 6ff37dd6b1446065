"""The Layer protocol: a frozen spec model that knows its output shape, its parameter shapes,
how to initialize them and how to apply itself (a pure JAX function).

Shapes exclude the batch axis: a batch of 32 vectors of 7 features has shape (7,).

Example:
    >>> from dlc.compiler.layers.core import Dense
    >>> Dense(units=4).output_shape((7,)), Dense(units=4).param_count((7,))
    ((4,), 32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dlc.compiler.lazy import jax, jnp
from dlc.compiler.registry import SpecModel

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """Raised by `output_shape` when a layer cannot take its input; reported at the layer's line.
    `inner` names the layer at fault inside a layer with a body (`layers.2`), if any."""

    def __init__(self, message: str, hint: str | None = None, inner: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.inner = inner


@dataclass
class Context:
    """What a layer sees besides params and input: mode, its RNG key and its state."""

    train: bool = False
    rng: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    new_state: dict[str, Any] | None = None
    mask: Any = None  # per-position mask for sequence layers, when a data source provides one
    memory: Any = None  # (vectors, mask) of an encoder, for cross-attention (`decoder { }`)
    # settings of this layer given as traced values (named in the layer's `traced`), e.g. a
    # per-lane dropout rate in an experiment: {"rate": Array}; they replace the layer's own
    overrides: dict[str, Any] = field(default_factory=dict)


INITIALIZERS = {
    "glorot_uniform": lambda: jax.nn.initializers.glorot_uniform(),
    "glorot_normal": lambda: jax.nn.initializers.glorot_normal(),
    "he_uniform": lambda: jax.nn.initializers.he_uniform(),
    "he_normal": lambda: jax.nn.initializers.he_normal(),
    "lecun_uniform": lambda: jax.nn.initializers.lecun_uniform(),
    "lecun_normal": lambda: jax.nn.initializers.lecun_normal(),
    "normal": lambda: jax.nn.initializers.normal(1.0),
    "zeros": lambda: jax.nn.initializers.zeros,
    "ones": lambda: jax.nn.initializers.ones,
}


class Layer(SpecModel):
    """Base class of every layer. Subclasses override what they need."""

    has_state: ClassVar[bool] = False
    uses_rng: ClassVar[bool] = False
    reads_tokens: ClassVar[bool] = False  # input = token ids: Program.apply masks ids == 0
    # the layer cross-attends to an encoder's output (`decoder_block cross=true`): only valid
    # where a container hands one down (see `memory_parts`)
    needs_memory: ClassVar[bool] = False
    # per part of a container's body, whether that part gets the encoder's output
    memory_parts: ClassVar[tuple[bool, ...] | None] = None
    # settings that may arrive as traced values (`Context.overrides`): experiment lanes that
    # differ only in them share one compiled program (e.g. dropout's ("rate",))
    traced: ClassVar[tuple[str, ...]] = ()
    # settings and an input shape for the registry conformance test (tests/test_conformance.py)
    example: ClassVar[tuple[dict[str, Any], Shape]] = ({}, (5,))

    def output_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        return {}

    def param_count(self, in_shape: Shape) -> int:
        return sum(math.prod(s) for s in self.param_shapes(in_shape).values())

    def initializer(self, name: str) -> Any:
        """The initializer of parameter `name` (default: zeros for biases, glorot for weights)."""
        return INITIALIZERS["zeros" if name in ("b", "bias", "beta") else "glorot_uniform"]()

    def init_params(self, key: Any, in_shape: Shape) -> dict[str, Any]:
        shapes = self.param_shapes(in_shape)
        keys = jax.random.split(key, max(1, len(shapes)))
        return {
            name: self.initializer(name)(k, shape, jnp.float32)
            for k, (name, shape) in zip(keys, sorted(shapes.items()), strict=False)
        }

    def init_state(self, in_shape: Shape) -> dict[str, Any]:
        return {}

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"layer `{self.dl_name}` has no apply")


class Activation(Layer):
    """A parameter-free elementwise function; subclasses define `fn`."""

    def fn(self, x: Any) -> Any:
        raise NotImplementedError

    def apply(self, params: dict[str, Any], x: Any, ctx: Context) -> Any:
        return self.fn(x)
