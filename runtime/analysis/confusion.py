"""Per-class counts for classification: the confusion matrix of a part of the data, and its CSV
for the run folder (the terminal table is drawn by `runtime/cli/run.py`).

Example:
    >>> m = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    >>> m.tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j] = how many rows of true class i were predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels).astype(int), np.asarray(predicted).astype(int)), 1)
    return counts


def predicted_classes(model: Any, x: Any, chunk: int = 4096) -> np.ndarray:
    """Class indices predicted by a trained `CompiledModel`, `chunk` rows at a time (bounded
    memory; `x` may be streamed rows). The last chunk is padded to the same size, so every
    part of any size runs one compiled program."""
    n = len(x)
    size = min(chunk, n)
    outs = []
    for i in range(0, n, size):
        rows = np.asarray(x[i : i + size], np.float32)
        short = size - len(rows)
        if short:  # zero rows, predicted and dropped: the same program as the others
            rows = np.concatenate([rows, np.zeros((short, *rows.shape[1:]), rows.dtype)])
        outs.append(model.predict(rows)[: size - short])
    probs = np.concatenate(outs)
    return (probs[:, 0] > 0.5).astype(int) if probs.shape[-1] == 1 else probs.argmax(-1)


def part_confusion(model: Any, part: str = "test") -> np.ndarray | None:
    """The confusion matrix of one part of the model's data, or None (no such part, or not a
    classification of one label per row)."""
    if model.data.num_classes is None or part not in model.data.parts:
        return None
    x, y = model.data.parts[part]
    if y.ndim != 1:
        return None
    k = max(model.data.num_classes, 2)
    return confusion_matrix(y, predicted_classes(model, x), k)


def write_csv(counts: np.ndarray, path: str | Path) -> Path:
    """The counts with each row's total and recall, as CSV at `path`."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *range(len(counts)), "total", "recall"])
        for i, row in enumerate(counts):
            total = int(row.sum())
            w.writerow([i, *row.tolist(), total, f"{row[i] / total:.4f}" if total else ""])
    return path
