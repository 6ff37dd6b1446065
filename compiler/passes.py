"""Spec rewrites: the named passes that change a resolved spec before shapes and lowering, in
the order `run_passes` applies them. Each pass maps (spec, facts) to a spec and returns the same
object when it has nothing to do, so running the passes twice changes nothing.

- `bind_vocab`: `vocab=` from the data's vocabulary into every layer that left it unset.
- `selu_init`: a `dense` followed by `selu` gets `init=lecun_normal` unless `init=` was given.
- `bind_class_weights`: `class_weights=balanced` becomes one weight per class, n / (K · n_k)
  from the training part's label counts.
- `bind_inputs`: each `input NAME` layer gets the positions of its named input in the model's
  input (`index`) and that input's size (`width`).

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> r = load_spec('data { seq2seq }\\nmodel { embedding 8; dense 4; selu; dense 15 }\\n'
    ...               'loss cross_entropy\\noptimizer adam\\n')
    >>> layers = run_passes(r.spec, DataFacts(vocab_size=15)).model.layers
    >>> layers[0].vocab, layers[1].init, layers[3].init
    (15, 'lecun_normal', 'glorot_uniform')
    >>> [p.__name__ for p in PASSES]
    ['bind_vocab', 'selu_init', 'bind_inputs', 'bind_class_weights']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlc.compiler.layers.base import Layer, walk_layers
from dlc.compiler.layers.core import Dense
from dlc.compiler.spec import Spec

if TYPE_CHECKING:
    from dlc.compiler.frontend import ResolvedSpec


@dataclass(frozen=True)
class DataFacts:
    """What the prepared data tells the compiler (None: not known, e.g. before loading)."""

    vocab_size: int | None = None
    # named inputs: name -> positions in the model's flat input (`data { input ... }`)
    inputs: dict[str, tuple[int, ...]] | None = None
    width: int | None = None  # the size of the model's flat input
    class_counts: tuple[int, ...] | None = None  # training labels per class (classification)


def map_layers(spec: Spec, fn: Callable[[Layer], Layer]) -> Spec:
    """The spec with `fn` applied to every layer, those inside blocks first (bottom up)."""

    def visit(layer: Layer) -> Layer:
        children = layer.children()
        if children:
            new = tuple(visit(c) for c in children)
            if new != children:
                layer = layer.with_children(new)
        return fn(layer)

    layers = tuple(visit(layer) for layer in spec.model.layers)
    if layers == spec.model.layers:
        return spec
    return spec.model_copy(update={"model": spec.model.model_copy(update={"layers": layers})})


def bind_vocab(spec: Spec, facts: DataFacts) -> Spec:
    """Fill `vocab=facts.vocab_size` into every layer with a `vocab` setting left unset, in
    blocks too; an explicit `vocab=N` wins.

    Example:
        >>> from dlc.compiler.layers.embedding import Embedding
        >>> Embedding(dim=4).model_copy(update={"vocab": 9}).vocab
        9
    """
    size = facts.vocab_size
    if size is None:
        return spec

    def fill(layer: Layer) -> Layer:
        if "vocab" in type(layer).model_fields and getattr(layer, "vocab", None) is None:
            return layer.model_copy(update={"vocab": size})
        return layer

    return map_layers(spec, fill)


def selu_init(spec: Spec, facts: DataFacts) -> Spec:
    """A top-level `dense` followed by `selu` gets lecun_normal init (self-normalizing nets)
    unless its `init=` was written: `dense 64; selu` is `dense 64 init=lecun_normal; selu`."""
    layers = spec.model.layers
    out = list(layers)
    for i, layer in enumerate(layers[:-1]):
        if (
            isinstance(layer, Dense)
            and "init" not in layer.model_fields_set
            and layers[i + 1].dl_name == "selu"
        ):
            out[i] = layer.model_copy(update={"init": "lecun_normal"})
    if tuple(out) == layers:
        return spec
    return spec.model_copy(update={"model": spec.model.model_copy(update={"layers": tuple(out)})})


def bind_inputs(spec: Spec, facts: DataFacts) -> Spec:
    """Fill each `input NAME` layer's `index` (the positions of the named input in the model's
    flat input) and `width` (that input's size) from the data; unknown names stay unbound (an
    error of `compiler/checks.py` at the layer's line)."""
    inputs, width = facts.inputs, facts.width
    if not inputs or width is None:
        return spec
    from dlc.compiler.layers.inputs import Input  # only for a spec with named inputs

    def fill(layer: Layer) -> Layer:
        if isinstance(layer, Input) and layer.name in inputs:
            index = list(inputs[layer.name])
            if layer.index != index or layer.width != width:
                return layer.model_copy(update={"index": index, "width": width})
        return layer

    return map_layers(spec, fill)


def balanced_weights(counts: tuple[int, ...]) -> list[float]:
    """scikit-learn's `class_weight="balanced"`: n / (K · n_k), K the number of classes that
    occur; a class without training examples gets 1 (it never weighs a training loss).

    Example:
        >>> [round(w, 4) for w in balanced_weights((6, 2, 0))]
        [0.6667, 2.0, 1.0]
    """
    n, k = sum(counts), sum(1 for c in counts if c)
    return [n / (k * c) if c else 1.0 for c in counts]


def bind_class_weights(spec: Spec, facts: DataFacts) -> Spec:
    """`class_weights=balanced` on the loss -> the weights of `balanced_weights` for the
    training part's label counts (`facts.class_counts`)."""
    loss = spec.loss
    if getattr(loss, "class_weights", None) != "balanced" or not facts.class_counts:
        return spec
    weights = balanced_weights(facts.class_counts)
    return spec.model_copy(update={"loss": loss.model_copy(update={"class_weights": weights})})


Pass = Callable[[Spec, DataFacts], Spec]
PASSES: tuple[Pass, ...] = (bind_vocab, selu_init, bind_inputs, bind_class_weights)


def run_passes(spec: Spec, facts: DataFacts | None = None) -> Spec:
    """Every pass of `PASSES`, in order."""
    facts = facts or DataFacts()
    for rewrite in PASSES:
        spec = rewrite(spec, facts)
    return spec


def bind_data(resolved: ResolvedSpec, facts: DataFacts) -> ResolvedSpec:
    """The resolved spec rewritten by the passes given the data's facts (a new ResolvedSpec;
    runs hash the spec as written: keep `resolved` for `hash()`)."""
    _check_vocab(resolved, facts)
    spec = run_passes(resolved.spec, facts)
    return resolved if spec is resolved.spec else dataclasses.replace(resolved, spec=spec)


def _check_vocab(resolved: ResolvedSpec, facts: DataFacts) -> None:
    """A DlcError at the layer when an explicit `vocab=N` is smaller than the data's
    vocabulary: token ids N and above would be clamped silently."""
    size = facts.vocab_size
    if size is None:
        return
    for i, top in enumerate(resolved.spec.model.layers):
        for layer in walk_layers((top,)):
            vocab = getattr(layer, "vocab", None) if "vocab" in type(layer).model_fields else None
            if isinstance(vocab, int) and vocab < size:
                raise resolved.error(
                    f"`{layer.dl_name}` has vocab={vocab} but the data's token ids go up to "
                    f"{size - 1} (a vocabulary of {size})",
                    f"model.layers.{i}",
                    "leave out `vocab=` to use the data's vocabulary, or cap the vocabulary "
                    "with `max_vocab=` on the data source",
                )
