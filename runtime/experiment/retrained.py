"""The model `dlc experiment` retrains on all training data, saved as a normal run folder
(`<name>-retrained-<stamp>/`: spec.dl, spec.json, params, statistics, results.json, env.json)
that `dlc predict`, `dlc evaluate`, `dlc.load` and `dlc export` accept. `retrained.json` names
the experiment's spec, so `dlc predict SPEC --run RETRAINED` takes the experiment's own file.

Example:
    >>> save_retrained(model, base, "runs", started=time.time())   # doctest: +SKIP
    PosixPath('runs/cv_sigmoids-retrained-20261127-160000')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.files import atomic_write_bytes
from dlc.compiler.frontend import ResolvedSpec
from dlc.runtime.runs.folder import RunDir, flatten_params
from dlc.runtime.runs.records import write_data_facts, write_env, write_results


def save_retrained(
    model: Any, base: ResolvedSpec, runs_root: str | Path, *, started: float, setting: Any = None
) -> Path:
    """Write the retrained `CompiledModel` as a run folder under `runs_root`; returns its path."""
    run = RunDir.create(runs_root, f"{base.name}-retrained")
    run.write_spec(model.resolved)
    write_env(run.path, model.resolved)
    run.save_arrays("params.safetensors", flatten_params(model.params))
    if model.state.model_state:
        run.save_arrays("model_state.safetensors", flatten_params(model.state.model_state))
    run.save_arrays("stats.safetensors", model.data.stats or {"none": np.zeros(0, np.float32)})
    if model.data.vocab is not None:
        model.data.vocab.save(run.path / "vocab.json")
    write_data_facts(run.path, model.resolved, model.data)
    final = model.evaluate()
    history = model.result.history if model.result is not None else []
    write_results(
        run.path, final, best_epoch=-1, stopped_early=False, history=history, started=started
    )
    meta = {
        "experiment_hash": base.hash(),
        "file": base.file,
        "overrides": list(getattr(setting, "overrides", []) or []),
    }
    atomic_write_bytes(run.path / "retrained.json", json.dumps(meta, indent=1).encode())
    return run.path
