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
from dlc.runtime.train.ahead import compile_ahead
from dlc.runtime.train.early_stop import copy_tree
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
    lead: bool = True  # False: a process other than 0 of several, which wrote no files
    # several processes: {part: confusion matrix} of the parts sharded over them, counted
    # before each process kept only its own copy of the model
    confusion: dict[str, np.ndarray] | None = None


def _checkpoint_tree(state: Any, best: Any) -> dict[str, Any]:
    return {"train": state, "best": best}


def _open_run(
    resolved: Any, runs_root: str | Path, resume: str | Path | bool | None, warn: Any
) -> RunDir:
    """The run folder: a new one, or the one to resume (locked, its spec checked)."""
    spec_hash = resolved.hash()
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
    return run


def _write_inputs(run: RunDir, model: CompiledModel) -> None:
    """What `dlc predict` and `dlc.load` need besides the parameters."""
    run.save_arrays("stats.safetensors", model.data.stats or {"none": np.zeros(0, np.float32)})
    if model.data.vocab is not None:  # token data: `dlc predict` encodes its inputs with it
        model.data.vocab.save(run.path / "vocab.json")
    write_data_facts(run.path, model.resolved, model.data)  # `dlc.load` without training files


def _restore(
    run: RunDir | None, state: Any, initial: Any, spec_hash: str, epochs: int, warn: Any
) -> tuple[Any, LoopState, int, list[dict[str, Any]]]:
    """(state, loop, start epoch, history) from the run's newest checkpoint, read by process
    0 and broadcast to the others (`run` None there); the initial ones if it has none."""
    from dlc.runtime.train import distributed

    def read() -> tuple[Any, LoopState, int, list[dict[str, Any]]] | None:
        assert run is not None
        loaded = run.restore(_checkpoint_tree(state, initial), spec_hash, warn)
        if loaded is None:
            run.truncate_metrics(0)
            return None
        loop = restored_loop(loaded, epochs)
        return loaded.state["train"], loop, loaded.epoch, run.truncate_metrics(loaded.epoch)

    got = distributed.on_lead(read)
    if distributed.process_count() > 1:  # the others receive process 0's checkpoint
        loop = got[1] if got else LoopState()
        numbers = np.array(
            [got is not None, got[2] if got else 0, loop.best_epoch, loop.bad_epochs, loop.stopped],
            np.int64,
        )
        best = np.float64(np.nan if loop.best is None else loop.best)
        tree = (got[0], loop.best_weights) if got else (state, initial)
        tree = jax.device_get(tree)
        numbers, best, tree = distributed.broadcast((numbers, best, tree))
        numbers = np.asarray(numbers)
        if not numbers[0]:
            return state, LoopState(), 0, []
        best_f = float(np.asarray(best))
        loop = LoopState(
            best=None if np.isnan(best_f) else best_f,
            best_epoch=int(numbers[2]),
            bad_epochs=int(numbers[3]),
            best_weights=tree[1],
            stopped=bool(numbers[4]),
        )
        return tree[0], loop, int(numbers[1]), got[3] if got else []
    if got is None:
        return state, LoopState(), 0, []
    return got


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
    on_weights: Callable[[dict[str, Any], int], None] | None = None,
) -> RunOutcome:
    """Train `source` into a new run folder (or resume one). `devices` (a number or "all";
    default the spec's `train { devices N }`) trains data-parallel over that many devices
    (`dlc.runtime.train.sharding`); it is not part of the spec's hash, so a run may resume
    on another count (results then agree to float rounding, not bit for bit).

    Started in several processes (`dlc.runtime.train.distributed.start`), every process
    trains on its share of the rows, and process 0 alone writes the run folder, its
    checkpoints and metrics and calls `on_start`, `on_epoch` and `on_trained`; the others
    return an outcome with `lead` False.

    `on_weights(params, epoch)` gets the parameters (host arrays) at the epochs that record
    `grad_norm/...` (`train { grad_norms true }`), e.g. for TensorBoard's histograms."""
    from dlc.runtime.train import distributed

    started = time.time()
    lead = distributed.is_lead()
    from dlc.runtime.train.shares import process_share, sharded_confusions

    # several processes: each reads only the rows it holds, where the source allows it
    model = CompiledModel.from_source(source, overrides=overrides, share=process_share())
    resolved, spec = model.resolved, model.spec
    spec_hash = resolved.hash()
    mesh = model.mesh(devices)  # too many devices: an error before any run folder is touched
    run = distributed.on_lead(lambda: _open_run(resolved, runs_root, resume, warn))
    if run is not None:
        _write_inputs(run, model)
    path = Path(distributed.broadcast_text(str(run.path) if run else ""))

    fns = model.functions(len(model.data.parts["train"][0]), mesh)
    # cold start: the epoch program compiles in a thread while the initializer compiles
    compiled = compile_ahead(model, fns, spec.train.seed, mesh)
    state = fns.init(spec.train.seed)
    # the checkpoint's `best` before any improvement (a copy: the jitted epoch donates `state`)
    initial = copy_tree((state.params, state.model_state))  # one program for every leaf
    loop, start_epoch, history = LoopState(), 0, list[dict[str, Any]]()
    if resume:
        state, loop, start_epoch, history = _restore(
            run, state, initial, spec_hash, spec.train.epochs, warn
        )
    if on_start is not None and run is not None:
        on_start(run, model, start_epoch)

    def after_epoch(record: dict[str, Any], st: Any, lp: LoopState) -> None:
        ep = record["epoch"]
        due = ep % spec.train.checkpoint_every == 0 or ep == spec.train.epochs or lp.stopped
        if run is not None:
            run.append_metrics(record)
            if due:  # written once, atomically, by process 0
                run.checkpoint(
                    _checkpoint_tree(st, lp.best_weights or initial),
                    epoch=ep,
                    step=record["step"],
                    spec_hash=spec_hash,
                    extra={"loop": lp.to_dict()},
                )
            if on_epoch is not None:
                on_epoch(record)
            if on_weights is not None and any(k.startswith("grad_norm/") for k in record):
                if distributed.process_count() == 1:  # several: not all rows on this host
                    on_weights(jax.device_get(st.params), ep)
        if due:
            distributed.barrier(f"dlc-checkpoint-{ep}")

    try:
        compiled()  # the epoch program is ready (from the persistent cache)
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
        raise DlcError.single(
            str(err),
            where=str(path),
            hint=f"lower the learning rate (optimizer lr={spec.optimizer.lr:g}), normalize the "
            f"features (`normalize standard`) or clip gradients (`clip=1.0`); the last good "
            f"checkpoint is kept in {path / 'checkpoints'}",
        ) from None
    final = model.evaluate()  # every process takes part (the parts are split over them)
    confusion = None
    if distributed.process_count() > 1:  # the rest (reports, plots) needs no other process
        confusion = sharded_confusions(model)
        model.localize()
    if run is None:
        distributed.barrier("dlc-run-end")
        return RunOutcome(
            RunDir(path), model, final, start_epoch, result.stopped_early, loop.best_epoch, False
        )
    # with `restore_best` the loop left the best parameters (this run's or the checkpoint's)
    run.save_arrays("params.safetensors", flatten_params(model.params))
    if model.state.model_state:  # batchnorm running statistics: `dlc predict` needs them
        run.save_arrays("model_state.safetensors", flatten_params(model.state.model_state))
    if on_trained is not None:  # metrics.jsonl is complete: e.g. start drawing the plots
        on_trained(run)
    write_results(
        run.path,
        final,
        best_epoch=loop.best_epoch,
        stopped_early=result.stopped_early,
        history=result.history,
        started=started,
    )
    run.unlock()
    distributed.barrier("dlc-run-end")
    return RunOutcome(
        run, model, final, start_epoch, result.stopped_early, loop.best_epoch, confusion=confusion
    )
