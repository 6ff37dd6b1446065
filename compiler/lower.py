"""Lowering: a resolved spec -> pure JAX functions (`init`, `apply`, `loss`) and an Optax
transformation. Nothing here holds state; the runtime jits and scans these.

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> r = load_spec('data { digits }\\nmodel { dense 10 }\\nloss cross_entropy\\n'
    ...               'optimizer adam\\n')
    >>> prog = lower(r.spec, (64,), total_steps=100)
    >>> params, state = prog.init(__import__("jax").random.PRNGKey(0))
    >>> params["00_dense"]["w"].shape
    (64, 10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlc.compiler.layers.base import Context, Shape
from dlc.compiler.layers.params import Param, ParamTree
from dlc.compiler.lazy import jax, jnp
from dlc.compiler.losses import element_weights
from dlc.compiler.passes import run_passes
from dlc.compiler.schedules import plateau_of
from dlc.compiler.shapes import LayerInfo, infer_layers
from dlc.compiler.spec import Spec


def _penalized(tree: dict[str, Any], declared: ParamTree) -> Any:
    """The arrays of a parameter tree whose declared role L1/L2 penalize (`Param.penalized`),
    those nested in blocks (`residual`) too: each group's own arrays, then its subgroups."""
    for name, v in tree.items():
        if not isinstance(v, dict):
            p = declared[name]
            assert isinstance(p, Param)
            if p.penalized:
                yield v
    for name, v in tree.items():
        if isinstance(v, dict):
            sub = declared[name]
            assert not isinstance(sub, Param)
            yield from _penalized(v, sub)


def _to_bf16(tree: Any) -> Any:
    """Every float32 array of `tree` as bfloat16 (integer token ids stay as they are)."""
    return jax.tree.map(lambda a: a.astype(jnp.bfloat16) if a.dtype == jnp.float32 else a, tree)


def _like(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`new` with each array that is also in `old` cast to that array's dtype."""
    out = dict(new)
    for key, value in old.items():
        if key in out:
            out[key] = jax.tree.map(lambda a, b: a.astype(b.dtype), out[key], value)
    return out


@dataclass(frozen=True)
class Program:
    spec: Spec
    layers: tuple[Any, ...]
    infos: list[LayerInfo]
    input_shape: Shape
    total_steps: int
    # `normalize_target`: (shift, scale) from the training targets; the last layer's output z
    # becomes z * scale + shift, so the network learns standardized values while outputs,
    # losses, metrics and predictions are in the target's own units
    target_affine: tuple[Any, Any] | None = None

    def init(self, key: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(params, state) for every layer that has any, keyed `NN_name`."""
        params, state = {}, {}
        keys = jax.random.split(key, len(self.layers))
        for k, layer, info in zip(keys, self.layers, self.infos, strict=True):
            p = layer.init_params(k, info.in_shape)
            if p:
                params[info.key] = p
            s = layer.init_state(info.in_shape)
            if s:
                state[info.key] = s
        return params, state

    def apply(
        self,
        params: dict[str, Any],
        state: dict[str, Any],
        x: Any,
        *,
        train: bool,
        rng: Any = None,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Forward pass: (outputs, new state). Pure; `rng` feeds dropout in training;
        `overrides` (layer key -> {setting: traced value}, e.g. per-lane dropout rates) replace
        settings a layer declares in `traced`. With `train { precision bf16 }` the layers
        compute in bfloat16 (`mixed`): float parameters and inputs are cast on the way in, the
        outputs and the new state back to float32 on the way out, so gradients, the optimizer
        and the loss stay float32."""
        if self.spec.train.precision == "bf16":
            params, x = _to_bf16(params), _to_bf16(x)
        new_state = dict(state)
        overrides = overrides or {}
        # token ids in: the padding mask (id 0) reaches every layer; a layer may replace it
        mask = (x != 0) if self.layers and self.layers[0].reads_tokens else None
        for layer, info in zip(self.layers, self.infos, strict=True):
            ctx = Context(train=train, state=state.get(info.key, {}), mask=mask)
            ctx.overrides = overrides.get(info.key, {})
            if layer.uses_rng and train:
                ctx.rng = jax.random.fold_in(rng, info.index)
            x = layer.apply(params.get(info.key, {}), x, ctx)
            mask = ctx.mask
            if ctx.new_state is not None:
                new_state[info.key] = ctx.new_state
        if self.spec.train.precision == "bf16":  # float32 outputs and state (batchnorm)
            x = x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x
            new_state = _like(new_state, state)
        if self.target_affine is not None:
            shift, scale = self.target_affine
            x = x * jnp.asarray(scale) + jnp.asarray(shift)
        return x, new_state

    def penalty(self, params: dict[str, Any], reg: tuple[Any, Any] | None = None) -> Any:
        """L1/L2 penalty on the parameters whose role is penalized (weights and embedding
        tables: `params.PENALIZED`); `reg` = (l1, l2) (e.g. traced per-lane values) replaces
        the spec's strengths."""
        l1, l2 = reg if reg is not None else (self.spec.regularize.l1, self.spec.regularize.l2)
        total = jnp.zeros((), jnp.float32)
        if reg is None and l1 == 0 and l2 == 0:
            return total
        declared = {info.key: layer.params(info.in_shape) for layer, info in self.pairs()}
        for w in _penalized(params, declared):
            total = total + l1 * jnp.sum(jnp.abs(w)) + l2 * jnp.sum(w * w)
        return total

    def pairs(self) -> list[tuple[Any, LayerInfo]]:
        """(layer, its shape info) in model order."""
        return list(zip(self.layers, self.infos, strict=True))

    def loss(
        self,
        params: dict[str, Any],
        state: dict[str, Any],
        x: Any,
        y: Any,
        w: Any,
        rng: Any,
        reg: tuple[Any, Any] | None = None,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[Any, tuple[dict[str, Any], Any]]:
        """Weighted mean training loss + penalties; returns (loss, (new_state, outputs)).
        `reg` = (l1, l2) replaces the spec's penalty strengths (see `penalty`); `overrides`
        replace layer settings (see `apply`)."""
        out, new_state = self.apply(params, state, x, train=True, rng=rng, overrides=overrides)
        per = self.spec.loss.per_example(out, y)
        w = element_weights(per, y, w)  # per-token losses: × the label mask
        cw = self.spec.loss.weights_of(y, per)  # `class_weights`: the training loss only
        if cw is not None:
            w = w * cw
        data_loss = jnp.sum(per * w) / jnp.maximum(jnp.sum(w), 1.0)
        return data_loss + self.penalty(params, reg), (new_state, out)

    def schedule(self) -> Callable[[Any], Any]:
        return self.spec.schedule.build(self.total_steps)

    def optimizer(self) -> Any:
        plateau = plateau_of(self.spec.schedule)
        if plateau is not None:  # counts epochs of the run's steps per epoch
            plateau = plateau.transform(max(1, self.total_steps // self.spec.train.epochs))
        return self.spec.optimizer.transform(self.schedule(), plateau)


def lower(
    spec: Spec,
    input_shape: Shape,
    total_steps: int,
    target_affine: tuple[Any, Any] | None = None,
) -> Program:
    """The spec (rewritten by the passes, `run_passes`) as a Program for inputs of
    `input_shape`; `total_steps` sizes the learning-rate schedule; `target_affine` (shift,
    scale) maps the last layer's output to the target's units (`normalize_target`)."""
    spec = run_passes(spec)
    infos = infer_layers(spec.model.layers, input_shape)
    return Program(
        spec, spec.model.layers, infos, tuple(input_shape), max(1, total_steps), target_affine
    )
