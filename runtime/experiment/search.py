"""`experiment { search random|bayes trials=N batch=B { param "PATH" DIST ... } }`: random or
Bayesian search through Optuna's ask-and-tell interface (the `dlc[search]` extra).

Each round asks `batch` trials of the study (TPE with a constant liar for `bayes`, so that the
trials of one round differ; `RandomSampler` for `random`; both seeded), turns each into `--set`
overrides (validated like the grid's, errors at the `param` line) and trains them as lanes
with the grid's machinery (`runner.train_settings`: one program per shape group, seeds × folds
per trial). At every evaluation epoch each trial reports its monitored value (the mean over its
running lanes) as an intermediate value; with `prune true` Optuna's median pruner may stop it,
which freezes its lanes like early stopping. Then every trial is told its value: the mean of the
monitored metric over its lanes (restored best parameters), as the grid's settings are scored.

Example:
    >>> result = run_experiment("specs/search_digits.dl", runs_root="runs")  # doctest: +SKIP
    >>> result.trials[0]["state"], result.best.label                          # doctest: +SKIP
    ('complete', 'optimizer.lr=0.0071, train.batch=32')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.checks import literal
from dlc.compiler.distributions import Choice, Distribution, IntUniform, LogUniform, Uniform
from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.runtime.experiment.folds import Pool
from dlc.runtime.experiment.programs import at_grid
from dlc.runtime.experiment.results import ExperimentResult, Setting
from dlc.runtime.train.early_stop import monitor_mode


def optuna_module(base: ResolvedSpec) -> Any:
    """`import optuna`, or a dlc error at the `search` line naming the extra."""
    try:
        import optuna
    except ImportError:
        raise base.error(
            "`search` needs Optuna, which is not installed",
            "search",
            "pip install 'dlc[search]'",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distribution(optuna: Any, dist: Distribution) -> Any:
    """A dlc search distribution as Optuna's."""
    d = optuna.distributions
    if isinstance(dist, LogUniform):
        return d.FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return d.FloatDistribution(dist.low, dist.high)
    if isinstance(dist, IntUniform):
        return d.IntDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, Choice):
        return d.CategoricalDistribution(dist.values)
    raise TypeError(type(dist).__name__)  # a new distribution needs its Optuna form here


def _study(optuna: Any, base: ResolvedSpec, monitor: str) -> Any:
    exp = base.spec.experiment
    assert exp is not None and exp.search is not None
    search = exp.search
    seed = base.spec.train.seed if search.seed is None else search.seed
    with warnings.catch_warnings():  # constant_liar is marked experimental
        warnings.simplefilter("ignore")
        sampler = (
            optuna.samplers.TPESampler(  # the first round is random
                seed=seed, constant_liar=True, n_startup_trials=min(search.batch, 10)
            )
            if search.method == "bayes"
            else optuna.samplers.RandomSampler(seed=seed)
        )
    pruner = (
        optuna.pruners.MedianPruner(  # not before a quarter of the epochs
            n_startup_trials=min(search.batch, search.trials),
            n_warmup_steps=base.spec.train.epochs // 4 + 1,
        )
        if search.prune
        else optuna.pruners.NopPruner()
    )
    direction = "minimize" if monitor_mode(monitor) == "min" else "maximize"
    return optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)


def _settings(
    source: str | Path, overrides: list[str], base: ResolvedSpec, asked: list[Any]
) -> list[Setting]:
    """Each asked trial's values as a validated spec (errors at the `param` lines)."""
    exp = base.spec.experiment
    assert exp is not None and exp.search is not None
    out = []
    for trial in asked:
        values = {p.key: trial.params[p.key] for p in exp.search.param}
        extra = [f"{k}={literal(v)}" for k, v in values.items()]
        try:
            resolved = load_spec(source, overrides=[*overrides, *extra], base_dir=base.base_dir)
        except DlcError as err:
            raise at_grid(err, base, len(overrides), extra, "param") from None
        out.append(Setting(trial.number, values, extra, resolved))
    return out


def _pruning(
    asked: dict[int, Any], lanes_of: dict[int, int], pruned: set[int]
) -> Callable[[list[int], int, np.ndarray, np.ndarray], np.ndarray | None]:
    """The evaluation hook: each trial whose lanes are all in the chunk reports the mean of its
    running lanes' values; a trial the pruner stops has all its lanes stopped."""

    def on_eval(
        owners: list[int], epoch: int, values: np.ndarray, active: np.ndarray
    ) -> np.ndarray | None:
        stop = np.zeros(len(owners), bool)
        for number in dict.fromkeys(owners):
            mine = np.asarray([o == number for o in owners])
            if mine.sum() != lanes_of[number] or number in pruned:
                continue  # its lanes are split over memory chunks: no report
            live = values[mine & active]
            live = live[np.isfinite(live)]
            if not len(live):
                continue
            trial = asked[number]
            trial.report(float(live.mean()), epoch)
            if trial.should_prune():
                pruned.add(number)
                stop |= mine
        return stop

    return on_eval


def run_search(
    source: str | Path,
    overrides: list[str],
    base: ResolvedSpec,
    pools: dict[str, Pool],
    say: Callable[[str], None],
    on_epoch: Callable[[str, int, int, int], None] | None,
    devices: int | str | None = None,
) -> ExperimentResult:
    """Ask, train and tell `trials` trials, `batch` at a time (lanes over `devices`); returns
    the result with one setting per trial and `result.trials` (state, value, intermediate
    values)."""
    from dlc.runtime.experiment.runner import _monitor, pool_for, train_settings

    optuna = optuna_module(base)
    exp = base.spec.experiment
    assert exp is not None and exp.search is not None
    search = exp.search
    result = ExperimentResult([], [], "")
    result.monitor = _monitor(base, pool_for(pools, base))
    study = _study(optuna, base, result.monitor)
    dists = {p.key: distribution(optuna, p.dist) for p in search.param}
    n_lanes = len(exp.seeds or [0]) * (exp.folds or 1)
    rounds = math.ceil(search.trials / search.batch)
    pruned: set[int] = set()
    for r in range(rounds):
        k = min(search.batch, search.trials - r * search.batch)
        asked = [study.ask(dists) for _ in range(k)]
        settings = _settings(source, overrides, base, asked)
        result.settings += settings
        say(
            f"{search.method} search, round {r + 1}/{rounds}: trials {settings[0].index}"
            f"-{settings[-1].index}"
        )
        numbers = [t.number for t in asked]
        hook = _pruning(
            dict(zip(numbers, asked, strict=True)), dict.fromkeys(numbers, n_lanes), pruned
        )
        first = len(result.records)
        train_settings(
            result,
            base,
            overrides,
            settings,
            pools,
            say,
            on_epoch,
            hook,
            title=f"round {r + 1}/{rounds}, ",
            axis="param",
            devices=devices,
        )
        for trial in asked:
            ok = [
                rec.metrics[result.monitor]
                for rec in result.records[first:]
                if rec.setting == trial.number and not rec.diverged
            ]
            value = float(np.mean(ok)) if ok else math.nan
            states = optuna.trial.TrialState
            if trial.number in pruned:  # Optuna scores it by its last intermediate value
                study.tell(trial, state=states.PRUNED)
            elif math.isfinite(value):
                study.tell(trial, value)
            else:  # every lane diverged
                study.tell(trial, state=states.FAIL)
            told = study.trials[trial.number]
            result.trials.append(
                {
                    "trial": trial.number,
                    "round": r + 1,
                    "state": told.state.name.lower(),
                    "value": value,
                    "params": dict(trial.params),
                    "intermediate": dict(sorted(told.intermediate_values.items())),
                }
            )
    return result
