"""`dlc predict`: predictions from a run's saved parameters with the same preprocessing,
written as CSV (with the id column when the input has one: the course's submission format).

Example:
    $ dlc predict specs/covid.dl --run runs/covid-... --input test.csv --output pred.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.compiler.sources import Csv
from dlc.compiler.text_sources import Seq2Seq, TokenSource


def _text_column(path: str, name: str, delimiter: str) -> list[str]:
    """A column's cells as written (read_csv makes numeric ids floats: `0012` would be `12.0`),
    row for row as read_csv reads them."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [[v.strip() for v in row] for row in csv.reader(f, delimiter=delimiter) if row]
    i = rows[0].index(name)
    return [row[i] for row in rows[1:]]


def predict_csv(
    spec_path: str,
    run_dir: str,
    input_csv: str,
    output_csv: str,
    overrides: list[str] | None = None,
) -> int:
    """Write predictions for every row of `input_csv`; returns the number of rows."""
    import jax.numpy as jnp

    from dlc.compiler.lower import lower
    from dlc.runtime.data.datasets import read_csv
    from dlc.runtime.data.prepare import apply_features, prepare
    from dlc.runtime.runs.folder import RunDir
    from dlc.runtime.runs.pytree import unflatten_params

    resolved = load_spec(spec_path, overrides=overrides)
    run = RunDir.open(run_dir)
    run.require_spec(resolved)
    source = resolved.spec.data.source
    if isinstance(source, TokenSource | Seq2Seq):  # token data: one input per line
        from dlc.runtime.predict.sequences import predict_text

        return predict_text(resolved, run, input_csv, output_csv)
    if not isinstance(source, Csv) or resolved.spec.data.window is not None:
        raise DlcError.single(
            "`dlc predict --input` reads CSV rows of features; this spec's data "
            "is not a plain CSV table",
            where=spec_path,
            hint="use the Python API: model.predict(x)",
        )
    _, cols = read_csv(Path(input_csv), delimiter=source.delimiter)
    data = prepare(resolved)
    names = data.feature_names
    missing = [c for c in names if c not in cols]
    if missing:
        raise DlcError.single(
            f"{input_csv} lacks feature column(s) {', '.join(missing)}",
            where=input_csv,
            hint=f"the model needs: {', '.join(names)}",
        )
    x = np.stack([cols[c] for c in names], axis=1).astype(np.float32)
    stats = {k: v for k, v in run.load_arrays("stats.safetensors").items() if k != "none"}
    x = apply_features(x, resolved.spec.data, stats)
    program = lower(resolved.spec, data.input_shape, 1)
    params = unflatten_params(run.load_arrays("params.safetensors"))
    _, state = program.init(__import__("jax").random.PRNGKey(0))
    if (run.path / "model_state.safetensors").is_file():  # e.g. batchnorm running statistics
        state = unflatten_params(run.load_arrays("model_state.safetensors"))
    out, _ = program.apply(params, state, jnp.asarray(x), train=False)
    pred = np.asarray(resolved.spec.loss.predict(out))
    ids = (
        _text_column(input_csv, source.id, source.delimiter)
        if source.id and source.id in cols
        else None
    )
    with open(output_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if resolved.spec.loss.task == "regression":
            w.writerow([*(["id"] if ids is not None else []), source.target])
            rows = [[float(v) for v in p] for p in pred.reshape(len(pred), -1)]
        else:
            w.writerow([*(["id"] if ids is not None else []), source.target])
            rows = [[int(c)] for c in (pred.argmax(-1) if pred.shape[-1] > 1 else pred[:, 0] > 0.5)]
        for i, r in enumerate(rows):
            w.writerow([*([ids[i]] if ids is not None else []), *r])
    return len(rows)
