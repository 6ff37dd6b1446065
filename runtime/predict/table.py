"""`dlc predict`: predictions of a run folder for raw inputs as the spec's source reads them,
written as CSV: the `id` column when the input has one (the course's submission format), the
row each window predicts for a windowed series, then the prediction (class names for
classification, with `proba` one probability column per class).

Example:
    $ dlc predict specs/covid.dl --run runs/covid-... --input test.csv --output pred.csv
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from dlc.compiler.files import atomic_write_bytes
from dlc.compiler.text_sources import Conllu, Seq2Seq, Text
from dlc.runtime.predict.inputs import Inputs, read_inputs
from dlc.runtime.predict.loaded import TrainedModel


def _classes(model: TrainedModel, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class index, probability of every class [N, K]) of classification outputs."""
    if model.task == "binary":
        p1 = out.reshape(len(out), -1)[:, 0]
        prob = np.stack([1.0 - p1, p1], axis=1)
    else:
        prob = out.reshape(len(out), -1) if out.ndim == 2 else out
    return prob.argmax(-1), prob


def prediction_rows(
    model: TrainedModel, got: Inputs, *, name: str | None = None, proba: bool = False
) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the predictions for read inputs."""
    source = model.source
    if isinstance(source, Seq2Seq):
        assert got.texts is not None and got.decoded is not None
        return ["input", name or "output"], [
            [a, b] for a, b in zip(got.texts, got.decoded, strict=True)
        ]
    out = model.predict_arrays(got.x)
    names = model.class_names or []
    if isinstance(source, Conllu):
        assert got.pieces is not None
        rows: list[list[Any]] = []
        for (i, words), p in zip(got.pieces, out, strict=True):
            rows += [[i + 1, w, names[int(k)]] for w, k in zip(words, p.argmax(-1), strict=False)]
        return ["sentence", "word", name or "tag"], rows
    lead: list[str] = []
    cols: list[list[Any]] = []
    if isinstance(source, Text):
        lead, cols = ["text"], [list(got.texts or [])]
    if got.ids is not None:
        lead, cols = ["id", *lead], [got.ids, *cols]
    if got.rows is not None:
        lead, cols = [*lead, "row"], [*cols, got.rows]
    target = getattr(source, "target", None) or "label"
    if model.task == "regression":
        flat = out.reshape(len(out), -1)
        heads = (
            [name or target]
            if flat.shape[1] == 1
            else [f"{name or target}_{k}" for k in range(flat.shape[1])]
        )
        body: list[list[Any]] = [[float(v) for v in r] for r in flat]
    else:
        idx, prob = _classes(model, out)
        heads = [name or target]
        body = [[names[int(k)] if names else int(k)] for k in idx]
        if proba:
            heads += [f"p_{c}" for c in (names or range(prob.shape[1]))]
            body = [[*b, *(f"{v:.6g}" for v in p)] for b, p in zip(body, prob, strict=True)]
    rows = [[*(c[i] for c in cols), *b] for i, b in enumerate(body)]
    return [*lead, *heads], rows


def write_csv(path: str | Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write atomically: a failed prediction leaves no half-written file."""
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_bytes(Path(path), buf.getvalue().encode("utf-8"))


def predict_file(
    model: TrainedModel,
    input_path: str,
    output_path: str,
    *,
    name: str | None = None,
    proba: bool = False,
) -> int:
    """Write predictions for every input (row, window, image, line); returns their number."""
    got = read_inputs(model, input_path, labelled=False)
    header, rows = prediction_rows(model, got, name=name, proba=proba)
    write_csv(output_path, header, rows)
    return (
        len(got.decoded if got.decoded is not None else got.x)
        if not got.pieces
        else len(got.texts or [])
    )
