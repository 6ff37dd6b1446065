"""Each of several processes reads only its rows (issue 16, item 3; `runtime/data/held.py`),
checked here in one process with the other process's part played by hand: the statistics
merged from each process's rows equal the statistics of every row (`fit_normalizer`) to
float32 rounding, a process reads only its rows from the file, and asking for another
process's rows is an error. tests/test_multiprocess.py runs it with 2 real processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.spec import Normalize
from dlc.runtime.data import budget
from dlc.runtime.data.features import fit_normalizer
from dlc.runtime.data.held import HeldRows, Share, held_parts, shared_stats
from dlc.runtime.data.moments import Moments
from dlc.runtime.data.stream import NpyFile


@pytest.mark.parametrize("method", ["standard", "minmax"])
@pytest.mark.parametrize("shape", [(2, 5), (4, 3, 2)])
def test_statistics_merged_across_processes_equal_all_rows(method: str, shape: tuple) -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(301, *shape)) * 50 + 7).astype(np.float32)
    want = fit_normalizer(x, Normalize(method=method))
    cuts = [(0, 0), (0, 120), (120, 301)]  # three processes, the first holding no rows
    vectors = [Moments.of(x[a:b], Moments.of(x).shape).pack() for a, b in cuts]
    for me, (a, b) in enumerate(cuts):
        share = Share(
            lambda n, a=a, b=b: (a, b),
            lambda v, me=me: np.stack([v if i == me else w for i, w in enumerate(vectors)]),
        )
        got = shared_stats(HeldRows(x[a:b], len(x), a), method, share)
        for key in ("shift", "scale"):
            assert got[key].shape == want[key].shape
            np.testing.assert_allclose(got[key], want[key], rtol=2e-6, atol=1e-6)


def test_a_process_reads_only_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.arange(40, dtype=np.float64).reshape(20, 2))
    asked: list[int] = []
    take = NpyFile.take
    monkeypatch.setattr(NpyFile, "take", lambda self, rows: asked.extend(rows) or take(self, rows))
    index = {"train": np.array([3, 9, 1, 0, 7, 12, 5]), "test": np.array([2, 19, 4])}
    second = Share(lambda n: (n // 2, n), lambda v: v[None])  # the second half of each part
    parts = held_parts(NpyFile(path), index, second)
    assert sorted(asked) == [0, 4, 5, 7, 12, 19]
    train = parts["train"]
    assert train.shape == (7, 2) and train.dtype == np.float32
    assert train[3:7].tolist() == [[0, 1], [14, 15], [24, 25], [10, 11]]
    with pytest.raises(DlcError, match="another process's"):
        train[0:4]
    with pytest.raises(DlcError, match="every row"):
        np.asarray(train)


def test_a_non_finite_value_names_its_row_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    x = np.ones((10, 3), np.float32)
    x[6, 1] = np.nan
    np.save(path, x)
    alone = Share(lambda n: (0, n), lambda v: v[None])
    with pytest.raises(DlcError, match="first in row 6"):
        held_parts(NpyFile(path), {"train": np.array([9, 6, 0])}, alone)


def test_processes_agree_on_the_auto_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """`memory_mb auto` measured on each host would differ; the processes take the smallest,
    so that all stream (or not) alike and cut the same chunks."""
    monkeypatch.setattr(budget, "available_bytes", lambda: 8 << 30)
    other = np.array([float(1 << 30)])  # another process's host has less memory free
    budget.agree_auto_budget(lambda mine: np.stack([mine, other]))
    try:
        assert budget.memory_budget("auto") == 1 << 30
        assert budget.memory_budget(1.5) == 1572864
    finally:
        budget.agree_auto_budget(None)
    assert budget.memory_budget("auto") == 4 << 30
