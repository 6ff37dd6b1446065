"""`dlc.load(run_dir)`: a trained run folder as a model with `predict` and `evaluate`.

The run folder is untrusted input: every parameter's name, shape and dtype is checked against the
compiled model, and the normalization statistics against the data, before anything runs; a
mismatch is one `DlcError` naming the file and the entries, never a KeyError or TypeError.

Example:
    >>> model = dlc.load("runs/sigmoids-20261122-183429")          # doctest: +SKIP
    >>> model.predict("specs/data/seattle-weather.csv")[:2]        # doctest: +SKIP
    >>> model.evaluate("specs/data/seattle-weather.csv")["loss"]   # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.errors import DlcError, suggest
from dlc.compiler.frontend import ResolvedSpec, load_spec
from dlc.compiler.text_sources import Seq2Seq, TokenSource
from dlc.runtime.runs.folder import RunDir
from dlc.runtime.runs.pytree import flatten_params, unflatten_params
from dlc.runtime.train.model import CompiledModel

RawInput = str | Path | Mapping[str, Any] | Sequence[Any] | np.ndarray


def _check_arrays(
    got: Mapping[str, np.ndarray], want: Mapping[str, Any], where: str, what: str
) -> None:
    """Names, shapes and dtypes of `got` against `want`; one DlcError listing every problem."""
    problems = [f"missing `{k}`" for k in want if k not in got]
    problems += [f"unexpected `{k}`" for k in sorted(set(got) - set(want))]
    for k, w in want.items():
        if k in got:
            g, w = np.asarray(got[k]), np.asarray(w)
            if g.shape != w.shape or g.dtype != w.dtype:
                problems.append(
                    f"`{k}`: {g.dtype}{list(g.shape)} in file, {w.dtype}{list(w.shape)} expected"
                )
    if problems:
        shown = "; ".join(problems[:8]) + (
            f"; ... {len(problems) - 8} more" if problems[8:] else ""
        )
        raise DlcError.single(
            f"{what} do not match the compiled model: {shown}",
            where=where,
            hint="the run folder was written for another spec or was changed; "
            "load it with the spec it was trained with, or train it again",
        )


def spec_of_run(run: RunDir) -> ResolvedSpec:
    """The resolved spec a run was trained with, from its `spec.dl` (data paths relative to the
    folder of the spec file it came from)."""
    where = str(run.path / "spec.json")
    try:
        meta = json.loads((run.path / "spec.json").read_text(encoding="utf-8"))
        file, stored_hash = str(meta["file"]), str(meta["hash"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DlcError.single(
            f"{where} is not a readable run description: {exc}", where=where
        ) from None
    base = Path(file).parent if file.endswith(".dl") else Path.cwd()
    spec_dl = run.path / "spec.dl"
    # expanded: its grid paths (`model.repeat`) name the structure of the file it came from
    resolved = load_spec(spec_dl.read_text(encoding="utf-8"), base_dir=base, check_grid_paths=False)
    if resolved.hash() != stored_hash:
        raise DlcError.single(
            f"{spec_dl} does not match the hash in spec.json",
            where=str(spec_dl),
            hint="pass the spec file the run was trained with (`dlc.load(run, spec=...)`)",
        )
    return resolved


class TrainedModel:
    """A trained run: `predict` and `evaluate` on raw inputs (a file, a table of raw columns,
    sentences, image arrays) or, with `prepared=True`, on arrays already preprocessed."""

    def __init__(self, run: RunDir, resolved: ResolvedSpec) -> None:
        import jax

        self.run, self.resolved = run, resolved
        facts = read_facts(run, resolved)
        if facts is not None:  # no need for the training data
            data, self.n_train, names = facts
        else:  # a run folder from before data.json: prepare the training data again
            data = _prepare(resolved)
            self.n_train, names = len(data.parts["train"][0]), None
        self.model = CompiledModel(resolved, data)
        self.spec = self.model.spec
        self.data = self.model.data
        self.source = self.spec.data.source
        self.vocab = self.data.vocab
        if isinstance(self.source, TokenSource | Seq2Seq):
            from dlc.runtime.data.text import Vocab

            self.vocab = self.data.vocab if facts else Vocab.load(run.path / "vocab.json")
            if len(self.vocab) != len(self.data.vocab):
                raise DlcError.single(
                    f"{run.path / 'vocab.json'} holds {len(self.vocab)} tokens, the data gives "
                    f"{len(self.data.vocab)}",
                    where=str(run.path / "vocab.json"),
                )
        fns = self.model.functions(self.n_train)
        state = fns.init(self.spec.train.seed)
        where = str(run.path / "params.safetensors")
        stored = run.load_arrays("params.safetensors")
        _check_arrays(
            stored, flatten_params(jax.tree.map(np.asarray, state.params)), where, "the parameters"
        )
        params = jax.tree.map(jax.numpy.asarray, unflatten_params(stored))
        model_state = state.model_state
        if flatten_params(model_state):
            where = str(run.path / "model_state.safetensors")
            stored = run.load_arrays("model_state.safetensors")
            _check_arrays(
                stored,
                flatten_params(jax.tree.map(np.asarray, model_state)),
                where,
                "the model state (e.g. batchnorm statistics)",
            )
            model_state = jax.tree.map(jax.numpy.asarray, unflatten_params(stored))
        self.model.state = state._replace(params=params, model_state=model_state)
        self.stats = self._stats()
        from dlc.runtime.data.classes import class_names

        self.class_names = names if facts else class_names(resolved, self.data.num_classes)

    def _stats(self) -> dict[str, np.ndarray]:
        stored = {k: v for k, v in self.run.load_arrays("stats.safetensors").items() if k != "none"}
        _check_arrays(
            stored,
            self.data.stats,
            str(self.run.path / "stats.safetensors"),
            "the normalization statistics",
        )
        return stored

    @property
    def task(self) -> str:
        return str(self.spec.loss.task)

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, inputs: RawInput, *, prepared: bool = False) -> Any:
        """Outputs (probabilities for classification; strings for seq2seq) for raw inputs as
        the spec's source reads them, or for preprocessed arrays with `prepared=True`.

        Example: `dlc.load(run).predict({"rooms": [3], "area": [80.0], "age": [10]})`."""
        if prepared:
            return self.predict_arrays(self._arrays(inputs))
        from dlc.runtime.predict.inputs import read_inputs

        got = read_inputs(self, inputs, labelled=False)
        if got.decoded is not None:
            return got.decoded
        return self.predict_arrays(got.x)

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """Outputs for preprocessed inputs `x` [N, *input_shape]."""
        import jax.numpy as jnp

        self._check_shape(x)
        x = x if x.dtype.kind in "iu" else x.astype(np.float32)
        n = len(x)
        bucket = max(8, 1 << max(n - 1, 0).bit_length())  # few batch sizes: few compiles
        padded = np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), x.dtype)])
        state = self.model.state
        out = self.model._fns.predict(state.params, state.model_state, jnp.asarray(padded))
        return np.asarray(out)[:n]

    def evaluate(
        self, inputs: RawInput, y: Any = None, *, prepared: bool = False
    ) -> dict[str, float]:
        """The spec's loss and metrics on a labelled file / table (raw), or on preprocessed
        arrays `inputs` and labels `y` (class indices; passing `y` means prepared arrays).

        Example: `dlc.load(run).evaluate("test.csv")` -> `{"loss": ..., "mae": ...}`."""
        yy: np.ndarray | None
        if prepared or y is not None:
            x, yy = self._arrays(inputs), np.asarray(y)
        else:
            from dlc.runtime.predict.inputs import read_inputs

            got = read_inputs(self, inputs, labelled=True)
            x, yy = got.x, got.y
        import jax.numpy as jnp

        self._check_shape(x)
        if len(x) == 0 or yy is None or len(yy) != len(x):
            raise DlcError.single(
                f"evaluation needs labelled rows: {len(x)} inputs, "
                f"{0 if yy is None else len(yy)} labels"
            )
        x = x if x.dtype.kind in "iu" else x.astype(np.float32)
        state = self.model.state
        vals = self.model._fns.evaluate(
            state.params, state.model_state, jnp.asarray(x), jnp.asarray(yy)
        )
        return {k: float(v) for k, v in vals.items()}

    def _arrays(self, inputs: Any) -> np.ndarray:
        """Prepared inputs as one array [N, *input_shape]: an array, or a mapping of the named
        inputs (`data { input NAME [...] }`) to their arrays [N, size], as `input NAME` reads."""
        index = self.data.input_index
        if not isinstance(inputs, Mapping) or not index:
            return np.asarray(inputs)
        unknown = sorted(set(inputs) - set(index))
        missing = sorted(set(index) - set(inputs))
        if unknown or missing:
            raise DlcError.single(
                f"the named inputs are {', '.join(index)}; got {', '.join(map(str, inputs))}",
                where="the input mapping",
                hint=suggest(str(unknown[0]), list(index)) if unknown else "pass every one",
            )
        arrays = {k: np.asarray(v, np.float32) for k, v in inputs.items()}
        n = len(next(iter(arrays.values())))
        width = int(np.prod(self.data.input_shape))
        x = np.zeros((n, width), np.float32)
        seen = np.zeros(width, bool)
        for name, arr in arrays.items():
            pos = list(index[name])
            if arr.shape != (n, len(pos)):
                raise DlcError.single(
                    f"the named input `{name}` has shape {arr.shape}, the model reads "
                    f"({n}, {len(pos)})",
                    where="the input mapping",
                )
            x[:, pos], seen[pos] = arr, True
        if not seen.all():
            raise DlcError.single(
                f"the named inputs cover {int(seen.sum())} of the model's {width} input values",
                where="the input mapping",
                hint="pass the prepared array instead, or raw columns without prepared=True",
            )
        return x

    def _check_shape(self, x: np.ndarray) -> None:
        want = tuple(self.data.input_shape)
        if x.ndim < 1 or tuple(x.shape[1:]) != want:
            raise DlcError.single(
                f"inputs have shape {tuple(x.shape[1:])} per row, the model expects {want}",
                hint="pass raw inputs (a file or a table) without prepared=True, "
                "or arrays shaped [N, *input_shape]",
            )


def _facts_error(path: Path, problem: str) -> DlcError:
    return DlcError.single(
        f"{path} is not a valid description of the training data: {problem}",
        where=str(path),
        hint="the run folder was changed; delete data.json to read the training data instead",
    )


def read_facts(run: RunDir, resolved: ResolvedSpec) -> tuple[Any, int, list[str] | None] | None:
    """(the data facts as a `Prepared` without rows, training rows, class names) from the run's
    data.json; None when the folder has none. Stored statistics are checked against the input
    shape here (`_stats` checks them again against these facts)."""
    from dlc.runtime.data.prepare import Prepared

    path = run.path / "data.json"
    if not path.is_file():
        return None
    try:
        f = json.loads(path.read_text(encoding="utf-8"))
        input_shape = tuple(int(d) for d in f["input_shape"])
        target_shape = tuple(int(d) for d in f["target_shape"])
        k = f["num_classes"]
        num_classes = None if k is None else int(k)
        names = f["class_names"]
        features = [str(c) for c in f["feature_names"]]
        n_train = int(f["n_train"])
        x0 = np.zeros((1, *input_shape), np.dtype(str(f["input_dtype"])))
        y0 = np.zeros((1, *target_shape), np.dtype(str(f["target_dtype"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _facts_error(path, f"{type(exc).__name__}: {exc}") from None
    if names is not None and (
        not isinstance(names, list)
        or len(names) != num_classes
        or not all(isinstance(n, str) for n in names)
    ):
        raise _facts_error(path, "class_names must list one name per class")
    if n_train < 1 or any(d < 1 for d in input_shape):
        raise _facts_error(path, "shapes and row counts must be positive")
    if resolved.spec.data.normalize.method == "none":
        stats: dict[str, np.ndarray] = {}
    else:
        width = input_shape[-1:]
        stats = {"shift": np.zeros(width, np.float32), "scale": np.ones(width, np.float32)}
    if resolved.spec.data.normalize_target.method != "none":  # the model needs them to build
        stored = run.load_arrays("stats.safetensors")
        stats.update({k: v for k, v in stored.items() if k.startswith("target_")})
    if getattr(resolved.spec.data.source, "missing", "error") in ("zero", "mean", "median"):
        stats["fill"] = run.load_arrays("stats.safetensors")["fill"]
    vocab = None
    if isinstance(resolved.spec.data.source, TokenSource | Seq2Seq):
        from dlc.runtime.data.text import Vocab

        try:
            vocab = Vocab.load(run.path / "vocab.json")
        except (ValueError, KeyError, TypeError) as exc:
            raise _facts_error(run.path / "vocab.json", f"{type(exc).__name__}: {exc}") from None
    data = Prepared(
        {"train": (x0, y0)}, input_shape, target_shape, num_classes, stats, features, {}, vocab
    )
    tables = f.get("categories") or {}  # `categories=index`: value i has id i + 1
    if not isinstance(tables, dict) or not all(
        isinstance(v, list) and all(isinstance(c, str) for c in v) for v in tables.values()
    ):
        raise _facts_error(path, "categories must map each column to a list of its values")
    data.categories = {str(k): list(v) for k, v in tables.items()}
    from dlc.runtime.data.named import attach_inputs

    return attach_inputs(resolved, data), n_train, names


def _prepare(resolved: ResolvedSpec) -> Any:
    from dlc.runtime.data.prepare import prepare

    return prepare(resolved)


def load(
    run_dir: str | Path,
    *,
    spec: str | Path | None = None,
    overrides: list[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrainedModel:
    """The trained model in a run folder; `spec` (with its `--set` values) when the run's own
    `spec.dl` cannot find the data (data paths are relative to the spec's folder).

    Example:
        >>> model = load("runs/linear-20261122-193000")   # doctest: +SKIP
    """
    run = RunDir.open(run_dir)
    if spec is not None:
        resolved = load_spec(spec, overrides=overrides)
        from dlc.runtime.runs.records import retrained_from

        if retrained_from(run.path, resolved):  # `dlc experiment`'s retrained best setting
            resolved = spec_of_run(run)
        else:
            run.require_spec(resolved)
    else:
        resolved = spec_of_run(run)
    from dlc.runtime.runs.records import changed_data

    for message in changed_data(run, resolved):
        (warn or _warn)(message)
    return TrainedModel(run, resolved)


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, stacklevel=3)
