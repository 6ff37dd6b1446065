"""Cross-validation data: the pool of train + valid rows (not normalized), folds over it, and
per-fold normalization statistics from each fold's training rows only.

Example:
    >>> from dlc.compiler.frontend import load_spec
    >>> pool = load_pool(load_spec("specs/cv_sigmoids.dl"))
    >>> [len(v) for _, v in lane_splits(pool, 5, 0, False)], pool.n_train
    ([248, 247, 247, 247, 247], 1018)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import ResolvedSpec
from dlc.compiler.spec import Normalize
from dlc.runtime.data.features import fit_normalizer
from dlc.runtime.data.prepare import Prepared, prepare, require_in_memory


@dataclass
class Pool:
    """The train and valid parts (features after `divide`, not normalized), then the test part."""

    x: np.ndarray
    y: np.ndarray
    n_train: int  # the first n_train rows are the spec's train part, the rest its valid part
    test: tuple[np.ndarray, np.ndarray] | None
    prepared: Prepared

    def stats(self, train_rows: np.ndarray, normalize: Normalize) -> dict[str, np.ndarray]:
        """Normalization statistics from these training rows only (nothing else is read)."""
        return fit_normalizer(self.x[train_rows], normalize)

    def arrays(
        self, train_rows: np.ndarray, valid_rows: np.ndarray | None, normalize: Normalize
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
        """Normalized parts for a single run on these rows (statistics from `train_rows`)."""
        stats = self.stats(train_rows, normalize)
        parts = {"train": (self.x[train_rows], self.y[train_rows])}
        if valid_rows is not None:
            parts["valid"] = (self.x[valid_rows], self.y[valid_rows])
        if self.test is not None:
            parts["test"] = self.test
        return {k: (_scale(x, stats), y) for k, (x, y) in parts.items()}, stats


def _scale(x: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    return (x - stats["shift"]) / stats["scale"] if stats else x


def load_pool(resolved: ResolvedSpec) -> Pool:
    """The spec's data split as usual, but not normalized (each lane normalizes its rows)."""
    data = resolved.spec.data.model_copy(update={"normalize": Normalize(method="none")})
    raw = prepare(
        dataclasses.replace(resolved, spec=resolved.spec.model_copy(update={"data": data}))
    )
    require_in_memory(raw, resolved, "dlc experiment")
    x, y = raw.parts["train"]
    n_train = len(x)
    if "valid" in raw.parts:
        x = np.concatenate([x, raw.parts["valid"][0]])
        y = np.concatenate([y, raw.parts["valid"][1]])
    return Pool(x, y, n_train, raw.parts.get("test"), raw)


def lane_splits(
    pool: Pool, folds: int | None, seed: int, classification: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, valid rows) per fold; without folds, the spec's own train/valid parts."""
    from dlc.runtime.data.datasets import shuffled_split, stratified_split

    n = len(pool.x)
    if folds is None:
        if n == pool.n_train:
            raise DlcError.single(
                "an experiment needs validation rows",
                hint="set `folds 5` in `experiment`, or `split valid=0.1` in `data`",
            )
        return [(np.arange(pool.n_train), np.arange(pool.n_train, n))]
    fractions = {str(i): 1.0 / folds for i in range(folds)}
    if classification:
        labels = np.asarray(pool.y).reshape(n, -1)[:, 0]
        parts = stratified_split(labels, fractions, seed)
    else:
        parts = shuffled_split(n, fractions, seed)
    out = []
    for i in range(folds):
        valid = np.sort(parts[str(i)])
        train = np.sort(np.concatenate([parts[str(j)] for j in range(folds) if j != i]))
        out.append((train, valid))
    return out
