"""What `dlc analyze` looks at: a spec compiled against its data, its initial parameters and,
with a run folder, the trained ones (checked against the spec) and their model state.

Example:
    >>> s = setup("specs/saddle.dl", None)        # doctest: +SKIP
    >>> s.point("origin")                          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec
from dlc.compiler.lower import Program
from dlc.runtime.data.prepare import require_in_memory
from dlc.runtime.runs.folder import RunDir
from dlc.runtime.runs.pytree import unflatten_params
from dlc.runtime.train.model import CompiledModel
from dlc.runtime.train.step import TrainState, init_state


@dataclass
class Setup:
    """A spec compiled against its data, its initial parameters and (with a run) trained ones."""

    model: CompiledModel
    program: Program
    start: TrainState  # from `init_state`: what `dlc run` starts from
    trained: Any  # params or None
    model_state: Any
    note: str

    def point(self, at: str) -> Any:
        """The parameters at `at`, one of `options.POINTS`."""
        if at == "origin":
            return jax.tree.map(lambda p: np.zeros(np.shape(p), np.float32), self.start.params)
        return self.trained if at == "trained" else self.start.params


def setup(spec: str, run_dir: str | None, overrides: list[str] | None = None) -> Setup:
    """Compile ``spec``, draw its initial parameters, load (and check) the run's ones."""
    model = CompiledModel.from_source(spec, overrides=overrides)
    require_in_memory(model.data, model.resolved, "dlc analyze")
    program = model.program(len(model.data.parts["train"][0]))
    start = init_state(program, model.spec.train.seed)
    if not run_dir:
        return Setup(model, program, start, None, start.model_state, "")
    trained, state, note = load_run(run_dir, model.resolved, start, program)
    return Setup(model, program, start, trained, state, note)


def _same(a: Any, b: Any) -> bool:
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def load_run(
    run_dir: str, resolved: ResolvedSpec, like: TrainState, program: Program
) -> tuple[Any, Any, str]:
    """The run's parameters, its model state and a note on where that state came from."""
    run = RunDir.open(run_dir)
    run.require_spec(resolved)
    params = jax.tree.map(jnp.asarray, unflatten_params(run.load_arrays("params.safetensors")))
    same = jax.tree.structure(params) == jax.tree.structure(like.params)  # type: ignore[operator]
    same = same and all(
        a.shape == b.shape
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(like.params), strict=True)
    )
    if not same:
        raise DlcError.single(
            f"the parameters in {run.path} do not fit this spec's model", where=str(run.path)
        )
    if not like.model_state:
        return params, like.model_state, ""
    st = init_state(program, resolved.spec.train.seed)  # checkpoints hold batch-norm statistics
    loaded = run.restore(
        {"train": st, "best": (st.params, st.model_state)}, resolved.hash(), lambda _: None
    )
    if loaded is not None:
        last = loaded.state["train"]
        for p, s in ((last.params, last.model_state), loaded.state["best"]):
            if _same(p, params):
                return params, s, "model state from the run's last checkpoint"
    return params, like.model_state, "no checkpoint matches: initial model state (batch norm)"
