"""`dlc experiment`: cross-validation folds × seeds × a hyperparameter grid, trained as lanes.

Each grid point is the spec with `--set`-style overrides (validated by `load_spec`; errors point
at the `grid` line). Settings whose specs differ only in per-lane values (see
`lanes.static_key`) share one compiled program; others (widths, depths, batch size, epochs...)
run as separate programs in the same command. Folds split the train and valid parts together
(stratified for classification, shuffled with `train.seed` otherwise); normalization statistics
come from each fold's training rows only. The test part is kept for `retrain`.

Example:
    >>> result = run_experiment("specs/cv_sigmoids.dl", runs_root="runs")   # doctest: +SKIP
    >>> result.best.label                                                  # doctest: +SKIP
    'optimizer.lr=0.01'
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.runtime.experiment.folds import Pool, lane_splits, load_pool
from dlc.runtime.experiment.programs import at_grid, grid_settings
from dlc.runtime.experiment.report import summarize, write_report
from dlc.runtime.experiment.results import ExperimentResult, LaneRecord, Setting


def _devices_error(resolved: ResolvedSpec) -> Callable[[str, str], DlcError]:
    """An error located at the spec's `train.devices` line (too many devices)."""
    return lambda message, hint: resolved.error(message, "train.devices", hint)


def _monitor(base: ResolvedSpec, pool: Pool) -> str:
    import jax
    import jax.numpy as jnp

    from dlc.runtime.train.model import CompiledModel

    spec = base.spec
    assert spec.experiment is not None
    es = spec.train.early_stop
    monitor = spec.experiment.monitor or (es.monitor if es else "valid_loss")
    p = pool.prepared
    out = CompiledModel(base, p).infos[-1].out_shape  # shape errors point at the layer
    out0, y0 = jnp.zeros((1, *out)), jnp.asarray(pool.y[:1])
    names = [
        "loss",
        *jax.eval_shape(lambda: spec.loss.metrics(out0, y0)),
        *jax.eval_shape(lambda: spec.loss.custom_metrics(out0, y0)),  # plugin metrics
        *spec.loss.exact_names(tuple(out)),  # report=[f1, roc_auc, ...]
    ]
    choices = [f"valid_{n}" for n in names]
    if monitor not in choices:
        raise base.error(
            f"the experiment cannot select by `{monitor}`",
            "monitor",
            "choose one of: " + ", ".join(f"`{c}`" for c in choices),
        )
    return monitor


def run_experiment(
    source: str | Path,
    *,
    overrides: list[str] | None = None,
    runs_root: str | Path | None = "runs",
    say: Callable[[str], None] = print,
    on_epoch: Callable[[str, int, int, int], None] | None = None,
    base_dir: str | Path | None = None,
    devices: int | str | None = None,
) -> ExperimentResult:
    """Run the spec's experiment; write the report into a run folder under `runs_root` (None:
    no folder). `on_epoch(label, epoch, epochs, active_lanes)` reports progress. `devices` (a
    number or "all"; default the spec's `train.devices`) spreads the lanes over that many
    devices, and the retrained model's batches too."""
    overrides = list(overrides or [])
    base = load_spec(source, overrides=overrides, base_dir=base_dir)
    exp = base.spec.experiment
    if exp is None:
        raise DlcError.single(
            f"{base.file} has no `experiment` section",
            where=base.file,
            hint="add e.g. `experiment { folds 5 }`, or train it once with `dlc run`",
        )
    pools: dict[str, Pool] = {}
    if exp.search is not None:
        from dlc.runtime.experiment.search import run_search

        result = run_search(source, overrides, base, pools, say, on_epoch, devices)
    else:
        settings = grid_settings(source, overrides, base)
        result = ExperimentResult(settings, [], "")
        train_settings(result, base, overrides, settings, pools, say, on_epoch, devices=devices)
    return _finish(result, base, pools, runs_root, devices)


# (lane index in the chunk -> setting index, epoch, monitored values, active lanes) -> lanes to stop
OnEval = Callable[[list[int], int, np.ndarray, np.ndarray], "np.ndarray | None"]


def _watch(on_eval: OnEval, owners: list[int], monitor: str) -> Callable[[int, Any, Any], Any]:
    """`train_lanes`' evaluation hook for lanes of the settings `owners` (one per lane)."""

    def watch(epoch: int, metrics: dict[str, np.ndarray], active: np.ndarray) -> Any:
        return on_eval(owners, epoch, metrics[monitor], active)

    return watch


def pool_for(pools: dict[str, Pool], resolved: ResolvedSpec) -> Pool:
    """The data of `resolved` (loaded once per distinct data section)."""
    key = repr(resolved.spec.data)
    if key not in pools:
        pools[key] = load_pool(resolved)
    return pools[key]


def train_settings(
    result: ExperimentResult,
    base: ResolvedSpec,
    overrides: list[str],
    settings: list[Setting],
    pools: dict[str, Pool],
    say: Callable[[str], None],
    on_epoch: Callable[[str, int, int, int], None] | None,
    on_eval: OnEval | None = None,
    title: str = "",
    axis: str = "grid",
    devices: int | str | None = None,
) -> None:
    """Train every (setting, seed, fold) of `settings` as lanes, one program per `static_key`
    group (in memory chunks); append the lane records and program timings to `result`.
    `on_eval` sees each evaluation and may stop lanes (search pruning); `axis` names the spec
    lines a setting's override errors point at (`grid.I`, `param.I`); `devices` as in
    `run_experiment`."""
    from dlc.runtime.experiment.lane_setup import LaneSpec, chunk_sizes, estimate_bytes, static_key
    from dlc.runtime.experiment.lanes import train_lanes
    from dlc.runtime.train.model import CompiledModel
    from dlc.runtime.train.sharding import mesh_for

    exp = base.spec.experiment
    assert exp is not None
    seeds = exp.seeds or [base.spec.train.seed]
    groups: dict[str, list[Setting]] = {}
    for s in settings:
        groups.setdefault(static_key(s.resolved.spec), []).append(s)
    before = max((p["program"] for p in result.programs), default=0)
    say(
        f"{title}{len(settings)} setting{'s' if len(settings) != 1 else ''} in {len(groups)} "
        f"program{'s' if len(groups) != 1 else ''} (settings that change shapes or the "
        "program's structure compile separately; each program trains its lanes vmapped)"
    )
    for g, members in enumerate(groups.values()):
        first = members[0].resolved
        pool = pool_for(pools, first)
        result.monitor = result.monitor or _monitor(base, pool)
        p = pool.prepared
        splits = lane_splits(
            pool, exp.folds, base.spec.train.seed, first.spec.loss.task != "regression"
        )
        norm = first.spec.data.normalize
        stats = [pool.stats(tr, norm) for tr, _ in splits]
        plan = [(s, seed, f) for s in members for seed in seeds for f in range(len(splits))]
        lanes = [
            LaneSpec(s.resolved.spec, seed, splits[f][0], splits[f][1], stats[f])
            for s, seed, f in plan
        ]
        t = first.spec.train
        n_max = max(len(tr) for tr, _ in splits)
        batch = min(t.batch, min(len(tr) for tr, _ in splits))
        try:  # as a single run lowers it; a shape error points at the grid line
            program = CompiledModel(first, p).program(n_max)
        except DlcError as err:
            raise at_grid(err, base, len(overrides), members[0].overrides, axis) from None
        per_lane = estimate_bytes(program, batch, n_max, max(len(v) for _, v in splits))
        shared = pool.x.nbytes + pool.y.nbytes
        sizes = chunk_sizes(len(lanes), per_lane, shared, int(exp.memory_mb * 2**20))
        label = f"{title}program {g + 1}/{len(groups)}"
        say(
            f"{label}: {len(lanes)} lanes ({len(members)} settings × {len(seeds)} seeds × "
            f"{len(splits)} {'folds' if exp.folds else 'split'}), about "
            f"{(shared + per_lane * len(lanes)) / 2**20:.1f} MB"
        )
        if len(sizes) > 1:
            say(
                f"{label}: {len(lanes)} lanes need about "
                f"{(shared + per_lane * len(lanes)) / 2**20:.1f} MB, more than memory_mb="
                f"{exp.memory_mb}: running {len(sizes)} chunks of at most {max(sizes)} lanes"
            )
        start = 0
        cache = result.caches.setdefault(static_key(first.spec), {})  # kept over search rounds
        # `train { devices N }`: the lanes spread over N devices
        mesh = (
            mesh_for(t.devices, _devices_error(first))
            if devices is None
            else mesh_for(devices, name="--devices")
        )
        for c, size in enumerate(sizes):
            chunk = list(range(start, start + size))
            start += size
            name = label + (f", chunk {c + 1}/{len(sizes)}" if len(sizes) > 1 else "")
            t0 = time.perf_counter()
            report = (
                None
                if on_epoch is None
                else (lambda e, a, n=name, total=t.epochs: on_epoch(n, e, total, a))
            )
            members_lanes = [lanes[i] for i in chunk]
            owners = [plan[i][0].index for i in chunk]
            watch = None if on_eval is None else _watch(on_eval, owners, result.monitor)
            run = train_lanes(program, members_lanes, pool.x, pool.y, report, cache, mesh, watch)
            values = {**run.metrics, **_train_and_test(program, members_lanes, run, pool)}
            result.programs.append(
                {
                    "program": before + g + 1,
                    "chunk": c + 1,
                    "lanes": size,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "mb_estimate": round(per_lane * size / 2**20, 2),
                }
            )
            first_record = len(result.records)
            for j, i in enumerate(chunk):
                s, seed, f = plan[i]
                last = [h["train_loss"][j] for h in run.history if h["active"][j]]
                result.records.append(
                    LaneRecord(
                        s.index,
                        seed,
                        f if exp.folds else None,
                        before + g + 1,
                        {k: float(v[j]) for k, v in values.items()},
                        float(last[-1]) if last else float("nan"),
                        int(run.epochs[j]),
                        int(run.best_epoch[j]),
                        bool(run.stopped[j]),
                        bool(run.diverged[j]),
                    )
                )
            result.runs.append((list(range(first_record, len(result.records))), run))


def _train_and_test(program: Any, lanes: list[Any], run: Any, pool: Pool) -> dict[str, Any]:
    """`train_*` (each lane's final parameters on its own training rows) and `test_*` (on the
    spec's test part, when it has one), evaluated as `valid_*` is; never used to select."""
    from dlc.runtime.experiment.lanes import evaluate_lanes

    rows = [ln.train_rows for ln in lanes]
    got = evaluate_lanes(program, lanes, run, pool.x, pool.y, rows)
    out = {f"train_{k}": v for k, v in got.items()}
    if pool.test is not None and len(pool.test[0]):
        x = np.concatenate([pool.x, pool.test[0]])
        y = np.concatenate([pool.y, pool.test[1]])
        test = np.arange(len(pool.x), len(x))
        got = evaluate_lanes(program, lanes, run, x, y, [test] * len(lanes))
        out.update({f"test_{k}": v for k, v in got.items()})
    return out


def _finish(
    result: ExperimentResult,
    base: ResolvedSpec,
    pools: dict[str, Pool],
    runs_root: str | Path | None,
    devices: int | str | None = None,
) -> ExperimentResult:
    """Summary, best setting, optional retraining (on `devices`) and the report files."""
    exp = base.spec.experiment
    assert exp is not None
    result.summary, best = summarize(result)
    if best is not None:
        result.best = result.settings[best]
    if exp.retrain and result.best is not None:
        spec = result.best.resolved.spec
        epochs = spec.train.epochs
        found = [
            r.best_epoch
            for r in result.records
            if r.setting == best and not r.diverged and r.best_epoch > 0
        ]
        if spec.train.early_stop is not None and found:
            epochs = max(1, round(float(np.median(found))))
        seed = (exp.seeds or [spec.train.seed])[0]
        pool = pools[repr(spec.data)]
        started = time.time()
        result.retrain, result.retrained = retrain(result.best, pool, epochs, seed, devices)
        if runs_root is not None:  # a normal run folder: predict, evaluate, load, export
            from dlc.runtime.experiment.retrained import save_retrained

            path = save_retrained(
                result.retrained, base, runs_root, started=started, setting=result.best
            )
            result.retrain["run"] = str(path)
    if runs_root is not None:
        from dlc.runtime.experiment.curves import write_lane_tensorboard

        result.path = write_report(result, base, runs_root)
        write_lane_tensorboard(result, result.path / "tensorboard")  # per-lane curves, hparams
    return result


def retrain(
    setting: Setting, pool: Pool, epochs: int, seed: int, devices: int | str | None = None
) -> tuple[dict[str, Any], Any]:
    """Train `setting` on the train + valid rows through the normal path (`CompiledModel.fit`,
    on `devices`; default the spec's) for `epochs`; returns ({epochs, seed, test metrics},
    the model)."""
    from dlc.runtime.train.model import CompiledModel

    resolved = setting.resolved
    spec = resolved.spec.model_copy(
        update={"train": resolved.spec.train.model_copy(update={"epochs": epochs, "seed": seed})}
    )
    parts, stats = pool.arrays(np.arange(len(pool.x)), None, spec.data.normalize)
    p = pool.prepared
    model = CompiledModel(
        dataclasses.replace(resolved, spec=spec), dataclasses.replace(p, parts=parts, stats=stats)
    )
    model.fit(devices=devices)
    test = model.evaluate("test") if "test" in parts else {}
    return {"epochs": epochs, "seed": seed, **test}, model
