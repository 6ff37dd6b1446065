"""`dlc run`: train a spec into a run folder with checkpoints, logs, a NaN guard and resume.

Resuming restores parameters, optimizer state, model state, step, PRNG key, early-stopping
state and the best parameters so far; data order and dropout keys are functions of (seed,
epoch, step), so a resumed run ends bit-for-bit where an uninterrupted one does (on CPU).

Example:
    >>> outcome = run_spec("specs/linear.dl", runs_root="runs")   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dlc.compiler.errors import DlcError
from dlc.runtime.runs.folder import RunDir, flatten_params
from dlc.runtime.runs.records import changed_data, write_data_facts, write_env, write_results
from dlc.runtime.runs.resume import restored_loop
from dlc.runtime.train.loop import LoopState
from dlc.runtime.train.model import CompiledModel
from dlc.runtime.train.step import Diverged


@dataclass
class RunOutcome:
    run: RunDir
    model: CompiledModel
    final: dict[str, float] = field(default_factory=dict)
    resumed_from: int = 0
    stopped_early: bool = False
    best_epoch: int = -1


def _checkpoint_tree(state: Any, best: Any) -> dict[str, Any]:
    return {"train": state, "best": best}


def run_spec(
    source: str | Path,
    *,
    overrides: list[str] | None = None,
    runs_root: str | Path = "runs",
    resume: str | Path | bool | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[RunDir, CompiledModel, int], None] | None = None,
    warn: Callable[[str], None] = print,
    on_trained: Callable[[RunDir], None] | None = None,
    devices: int | str | None = None,
) -> RunOutcome:
    """Train `source` into a new run folder (or resume one). `devices` (a number or "all";
    default the spec's `train { devices N }`) trains data-parallel over that many devices
    (`dlc.runtime.train.sharding`); it is not part of the spec's hash, so a run may resume
    on another count (results then agree to float rounding, not bit for bit)."""
    started = time.time()
    model = CompiledModel.from_source(source, overrides=overrides)
    resolved, spec = model.resolved, model.spec
    spec_hash = resolved.hash()
    mesh = model.mesh(devices)  # too many devices: an error before any run folder is touched
    if resume:
        run = (
            RunDir.open(resume)
            if not isinstance(resume, bool)
            else RunDir.latest(runs_root, resolved.name, spec_hash)
        )
        if run is None:
            raise DlcError.single(
                f"no earlier run of `{resolved.name}` with this spec under {runs_root}/ "
                "(the same text, --set values and options)",
                hint="start one with `dlc run` first, or name the folder",
            )
        run.lock()
        run.require_spec(resolved, resuming=True)
        for message in changed_data(run.path, resolved):
            warn(message)
    else:
        run = RunDir.create(runs_root, resolved.name)
        run.lock()
        run.write_spec(resolved)
        write_env(run.path, resolved)
    run.save_arrays("stats.safetensors", model.data.stats or {"none": np.zeros(0, np.float32)})
    if model.data.vocab is not None:  # token data: `dlc predict` encodes its inputs with it
        model.data.vocab.save(run.path / "vocab.json")
    write_data_facts(run.path, resolved, model.data)  # `dlc.load` without the training files

    fns = model.functions(len(model.data.parts["train"][0]), mesh)
    state = fns.init(spec.train.seed)
    # the checkpoint's `best` before any improvement (a copy: the jitted epoch donates `state`)
    initial = jax.tree.map(jnp.copy, (state.params, state.model_state))
    loop, start_epoch, history = LoopState(), 0, []
    if resume:
        loaded = run.restore(_checkpoint_tree(state, initial), spec_hash, warn)
        if loaded is not None:
            state = loaded.state["train"]
            loop = restored_loop(loaded, spec.train.epochs)
            start_epoch = loaded.epoch
            history = run.truncate_metrics(start_epoch)
        else:
            run.truncate_metrics(0)
    if on_start is not None:
        on_start(run, model, start_epoch)

    def after_epoch(record: dict[str, Any], st: Any, lp: LoopState) -> None:
        run.append_metrics(record)
        ep = record["epoch"]
        if ep % spec.train.checkpoint_every == 0 or ep == spec.train.epochs or lp.stopped:
            run.checkpoint(
                _checkpoint_tree(st, lp.best_weights or initial),
                epoch=ep,
                step=record["step"],
                spec_hash=spec_hash,
                extra={"loop": lp.to_dict()},
            )
        if on_epoch is not None:
            on_epoch(record)

    try:
        result = model.fit(
            state=state,
            start_epoch=start_epoch,
            loop=loop,
            on_epoch=after_epoch,
            history=history,
            mesh=mesh,
            devices=devices,
        )
    except Diverged as err:
        kept = run.path / "checkpoints"
        raise DlcError.single(
            str(err),
            where=str(run.path),
            hint=f"lower the learning rate (optimizer lr={spec.optimizer.lr:g}), normalize the "
            f"features (`normalize standard`) or clip gradients (`clip=1.0`); the last good "
            f"checkpoint is kept in {kept}",
        ) from None
    # with `restore_best` the loop left the best parameters (this run's or the checkpoint's)
    run.save_arrays("params.safetensors", flatten_params(model.params))
    if model.state.model_state:  # batchnorm running statistics: `dlc predict` needs them
        run.save_arrays("model_state.safetensors", flatten_params(model.state.model_state))
    if on_trained is not None:  # metrics.jsonl is complete: e.g. start drawing the plots
        on_trained(run)
    final = model.evaluate()
    write_results(
        run.path,
        final,
        best_epoch=loop.best_epoch,
        stopped_early=result.stopped_early,
        history=result.history,
        started=started,
    )
    run.unlock()
    return RunOutcome(run, model, final, start_epoch, result.stopped_early, loop.best_epoch)
