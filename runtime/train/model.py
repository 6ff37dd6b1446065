"""The Python API: compile a spec, fit, evaluate, predict, read parameters.

Example:
    >>> import dlc
    >>> m = dlc.compile("specs/linear.dl", overrides=["train.epochs=2"])   # doctest: +SKIP
    >>> result = m.fit()                                                  # doctest: +SKIP
    >>> m.evaluate("test")["test_loss"]                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.compiler.lower import Program, lower
from dlc.compiler.passes import bind_data
from dlc.compiler.shapes import LayerInfo, infer
from dlc.runtime.data.features import apply_features
from dlc.runtime.data.held import Share
from dlc.runtime.data.prepare import Prepared, prepare


class CompiledModel:
    """A spec compiled against its data: `fit`, `evaluate`, `predict`, `params`."""

    def __init__(self, resolved: ResolvedSpec, data: Prepared) -> None:
        self.resolved = resolved
        bound = bind_data(resolved, data.facts())  # e.g. `embedding` vocab sizes, named inputs
        self.spec = bound.spec
        self.data = data
        self.infos: list[LayerInfo] = infer(
            bound, data.input_shape, data.target_shape, data.num_classes
        )
        self.state: Any = None
        self.result: Any = None
        self._fns: Any = None
        self._n_train: tuple[int, bool] = (-1, False)  # (rows, streamed) `_fns` was built for
        self._mesh: Any = None  # the mesh `functions` was built for (None: one device)
        self._device: dict[str, Any] | None = None  # the spec's parts on the device, from `fit`

    @classmethod
    def from_source(
        cls,
        source: str | Path,
        *,
        overrides: list[str] | None = None,
        base_dir: str | Path | None = None,
        share: Share | None = None,
    ) -> CompiledModel:
        """`share` (`shares.process_share`, one of several processes): read only the rows
        this process holds, where the source allows it (`data/held.py`)."""
        resolved = load_spec(source, overrides=overrides, base_dir=base_dir)
        return cls(resolved, prepare(resolved, share))

    # -- compilation ------------------------------------------------------------------------------
    def program(self, n_train: int) -> Program:
        from dlc.runtime.train.batches import steps_per_epoch

        t = self.spec.train
        stats = self.data.stats  # `normalize_target`: the training targets' statistics
        affine = (stats["target_shift"], stats["target_scale"]) if "target_shift" in stats else None
        steps = t.epochs * steps_per_epoch(n_train, t.batch)
        return lower(self.spec, self.data.input_shape, steps, affine)

    def mesh(self, devices: int | str | None = None) -> Any:
        """The device mesh for `devices` (default the spec's `train.devices`); None: one
        device. More devices than JAX sees is an error located at `train.devices`."""
        from dlc.runtime.train.sharding import mesh_for

        if devices is not None:  # e.g. `dlc run --devices N`: not the spec's line
            return mesh_for(devices, name="--devices")
        return mesh_for(
            self.spec.train.devices,
            lambda msg, hint: self.resolved.error(msg, "train.devices", hint),
        )

    def functions(self, n_train: int, mesh: Any = "same", streamed: bool | None = None) -> Any:
        """The jitted functions for `n_train` rows on `mesh` (None: one device; default the
        mesh they were last built for); `streamed` (default: whether the spec's data is
        streamed from disk) builds `feed.make_stream_functions` instead."""
        if isinstance(mesh, str):
            mesh = self._mesh
        if streamed is None:
            streamed = self.data.streamed
        key = (n_train, streamed)
        if self._fns is None or self._n_train != key or self._mesh != mesh:
            t = self.spec.train
            if streamed:
                from dlc.runtime.data.budget import memory_budget
                from dlc.runtime.train.feed import make_stream_functions

                self._fns = make_stream_functions(
                    self.program(n_train),
                    n_train,
                    t.batch,
                    t.shuffle,
                    t.steps_per_call,
                    mesh,
                    memory_budget(t.memory_mb),
                )
            else:
                from dlc.runtime.train.step import make_functions

                self._fns = make_functions(
                    self.program(n_train),
                    n_train,
                    t.batch,
                    t.shuffle,
                    t.steps_per_call,
                    t.epochs,
                    mesh,
                )
            if t.grad_norms:
                from dataclasses import replace

                from dlc.runtime.train.grad_norms import GRAD_ROWS, make_grad_norms

                norms = make_grad_norms(self.program(n_train), n_train)
                if streamed:  # the first rows, read from disk
                    inner = norms

                    def norms(params: Any, ms: Any, x: Any, y: Any) -> Any:
                        return inner(params, ms, x[:GRAD_ROWS], y[:GRAD_ROWS])

                self._fns = replace(self._fns, grad_norms=norms)
            self._n_train, self._mesh = key, mesh
        return self._fns

    # -- training ---------------------------------------------------------------------------------
    def _parts(self, x: Any, y: Any, valid: tuple[Any, Any] | None) -> dict[str, Any]:
        if x is None:
            return dict(self.data.parts)
        self._check_targets("train", x, y)
        if valid is not None:
            self._check_targets("valid", *valid)
        parts = {"train": (np.asarray(x, np.float32), np.asarray(y))}
        if valid is not None:
            parts["valid"] = (np.asarray(valid[0], np.float32), np.asarray(valid[1]))
        for name, (px, _) in parts.items():
            if tuple(px.shape[1:]) != self.data.input_shape:
                raise DlcError.single(
                    f"{name} inputs have shape {tuple(px.shape[1:])} per row, "
                    f"the model expects {self.data.input_shape}"
                )
        return parts

    def _check_targets(self, name: str, x: Any, y: Any) -> None:
        """`y` against the spec's targets: rows, shape per row (a (N,) array against outputs
        (N, 1) would broadcast and train to the mean) and dtype (strings are no labels)."""
        x, y = np.asarray(x), np.asarray(y)
        if y.dtype.kind in "USO":
            kind = "strings" if y.dtype.kind in "US" else "Python objects"
            raise DlcError.single(
                f"{name} targets are {kind}, not numbers",
                hint="map labels to class indices first, e.g. "
                "`classes, y = np.unique(y, return_inverse=True)`; or train on the spec's "
                "data source (`csv ... classes=true` reads names)",
            )
        if len(y) != len(x):
            raise DlcError.single(f"{name} has {len(x)} input rows but {len(y)} target rows")
        want, got = self.data.target_shape, tuple(y.shape[1:])
        one_hot = self.data.num_classes is not None and got == (*want, self.data.num_classes)
        if got != want and not one_hot:
            fix = (
                f"reshape them: `y.reshape({', '.join(map(str, (-1, *want)))})`"
                if int(np.prod(got, dtype=int)) == int(np.prod(want, dtype=int))
                else "the targets must match the spec's data (`dlc check` shows its shapes)"
            )
            raise DlcError.single(
                f"{name} targets have shape {got} per row, the model's outputs {want}",
                hint=fix,
            )

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        *,
        valid: tuple[Any, Any] | None = None,
        on_epoch: Callable[..., None] | None = None,
        state: Any = None,
        start_epoch: int = 0,
        loop: Any = None,
        history: Any = None,
        mesh: Any = None,
        devices: int | str | None = None,
    ) -> Any:
        """Train on the spec's data (or on arrays `x`, `y` already preprocessed). With a
        `mesh` (see `dlc.runtime.train.sharding.data_mesh`; default `self.mesh(devices)`, from
        the spec's `train { devices N }`) the training rows and each batch are sharded over its
        devices and the state replicated: data-parallel SPMD, the same results to float
        rounding."""
        from dlc.runtime.train.loop import train_loop
        from dlc.runtime.train.step import to_device

        if mesh is None:
            mesh = self.mesh(devices)
        streamed = x is None and self.data.streamed  # read from disk chunk by chunk (`feed`)
        host = dict(self.data.parts) if streamed else self._parts(x, y, valid)
        n_train = len(host["train"][0])
        parts: dict[str, tuple[Any, ...]]
        if streamed:  # host rows; `feed` places each chunk (split over a mesh's devices)
            parts = host
        elif mesh is None:
            parts = {k: to_device(*v) for k, v in host.items()}
        else:  # every part's rows split over the devices (each process places its own)
            from dlc.runtime.train.sharding import shard_part

            parts = {k: shard_part(v[0], v[1], mesh) for k, v in host.items()}
        self._device = dict(parts) if x is None else None  # kept for `evaluate`
        # training takes (x, y): no batch indexes the padding rows; evaluation counts only
        # the first n rows (`shard_part`'s third element)
        parts["train"] = parts["train"][:2]
        fns = self.functions(n_train, mesh, streamed)
        self.state = state if state is not None else fns.init(self.spec.train.seed)
        if mesh is not None:
            from dlc.runtime.train.sharding import replicate

            self.state = replicate(self.state, mesh)
            if loop is not None and loop.best_weights is not None:  # restored from a checkpoint
                loop.best_weights = replicate(loop.best_weights, mesh)
        self.result = train_loop(
            fns,
            self.state,
            parts,
            self.spec.train,
            start_epoch=start_epoch,
            loop=loop,
            on_epoch=on_epoch,
            history=history,
        )
        self.state = self.result.state
        return self.result

    def localize(self) -> None:
        """After a run over several processes: the trained state as this process's own copy on
        its first device, and the functions for one device, so that evaluating, predicting
        and reporting need no other process."""
        import jax

        if self.state is None or self._mesh is None:
            return
        self.state = jax.device_put(jax.device_get(self.state), jax.local_devices()[0])
        self._device = None
        self.functions(self._n_train[0], None)

    def evaluate(self, part: str | None = None, x: Any = None, y: Any = None) -> dict[str, float]:
        """Loss and metrics on a part of the spec's data ("train"/"valid"/"test"; default all),
        or on arrays `x`, `y` (preprocessed)."""
        import jax

        from dlc.runtime.train.step import to_device

        self._require_trained()
        names: tuple[str, ...]
        if x is not None:
            self._check_targets("eval", x, y)
            parts, names = {"eval": to_device(np.asarray(x, np.float32), np.asarray(y))}, ("eval",)
        else:
            names = (part,) if part else ("train", "valid", "test")
            parts = self._device or {
                k: v if self.data.streamed else to_device(*v)
                for k, v in self.data.parts.items()
                if k in names
            }
        wanted = {k: parts[k] for k in names if k in parts}
        # every part in one compiled program, its numbers back in one transfer
        st = self.state
        vals = jax.device_get(self._fns.evaluate_many(st.params, st.model_state, wanted))
        return {f"{k}_{m}": float(v) for k in names if k in vals for m, v in vals[k].items()}

    def predict(self, x: Any, *, preprocess: bool = False) -> np.ndarray:
        """Outputs for inputs `x` (probabilities for classification). With `preprocess=True`
        raw features first get the spec's scaling and the saved normalization statistics."""
        import jax

        self._require_trained()
        x = np.asarray(x, np.float32)
        if preprocess:
            x = apply_features(x, self.spec.data, self.data.stats)
        xd = jax.device_put(x, may_alias=False)  # not `jnp.asarray`: a program per shape
        return np.asarray(self._fns.predict(self.state.params, self.state.model_state, xd))

    @property
    def params(self) -> dict[str, dict[str, np.ndarray]]:
        """The trained parameters as numpy arrays, keyed `NN_layer` then `w`/`b`/..."""
        import jax

        self._require_trained()
        return jax.tree.map(np.asarray, self.state.params)

    def _require_trained(self) -> None:
        if self.state is None:
            raise DlcError.single("the model has not been trained yet", hint="call .fit() first")
