"""`dlc evaluate`: a trained run's loss and metrics on a labelled file, with the confusion
matrix (rows: true class, columns: predicted) for classification.

Example:
    >>> evaluate_file(dlc.load(run), "labelled.csv")["metrics"]     # doctest: +SKIP
    {'loss': 0.31, 'accuracy': 0.9}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlc.compiler.text_sources import Seq2Seq
from dlc.runtime.predict.inputs import read_inputs
from dlc.runtime.predict.loaded import TrainedModel


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> list[list[int]]:
    """Counts [true][predicted]; padding labels (< 0, e.g. tagging) are left out.

    Example:
        >>> confusion(np.array([0, 1, 1]), np.array([0, 0, 1]), 2)
        [[1, 0], [1, 1]]
    """
    y, pred = y.reshape(-1), pred.reshape(-1)
    keep = y >= 0
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (y[keep], pred[keep]), 1)
    return m.tolist()


def evaluate_file(model: TrainedModel, path: str) -> dict[str, Any]:
    """{"rows", "metrics", and for classification "classes" and "confusion"}."""
    got = read_inputs(model, path, labelled=True)
    assert got.y is not None
    metrics = model.evaluate(got.x, got.y, prepared=True)
    report: dict[str, Any] = {"input": str(path), "rows": len(got.x), "metrics": metrics}
    if isinstance(model.source, Seq2Seq) and got.texts is not None and got.targets is not None:
        outputs = model.predict(got.texts)  # greedy decoding, as `dlc predict` does
        hits = [o == t for o, t in zip(outputs, got.targets, strict=True)]
        metrics["exact_match"] = float(np.mean(hits))
        return report
    if model.class_names is not None:
        out = model.predict_arrays(got.x)
        k = len(model.class_names)
        pred = (out[..., 0] > 0.5).astype(np.int64) if model.task == "binary" else out.argmax(-1)
        report["classes"] = model.class_names
        report["confusion"] = confusion(np.asarray(got.y).astype(np.int64), pred, k)
    return report
