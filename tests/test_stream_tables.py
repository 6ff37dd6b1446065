"""Streamed tables (issue 16, item 4): a `csv` or `parquet` source above
`train { memory_mb N }` is read in place (`csvrows.CsvFile`, `parquetrows.ParquetRows`),
gives the in-memory loader's rows, targets, ids and notes (bit-identical features: the same
parse, the same float32 rounding), names the row of every bad value as the in-memory reader
does, and what cannot stream is a located error naming train.memory_mb. Training equality and
resuming run in tests/test_stream.py, parametrized over the formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.data.csvrows import CsvFile
from dlc.runtime.data.datasets import read_csv


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    return path


def test_csv_file_takes_the_rows_read_csv_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = '\ufeffid,a,b,y\r\n1, 0.1,2e3,no\r\n\r\n2,"3.5",-1,yes\r\n3,7,0.30000000000000004,no'
    path = _csv(tmp_path, body)
    f = CsvFile(path, ",", missing=False)
    assert f.header == ["id", "a", "b", "y"] and f.numeric("a") and not f.numeric("y")
    cols = f.scan(["a", "b"], ["y", "id"])
    _, whole = read_csv(path)
    want = np.stack([whole["a"], whole["b"]], axis=1).astype(np.float32)
    rows = np.array([2, 0, 2, 1])
    np.testing.assert_array_equal(f.take(rows), want[rows])
    np.testing.assert_array_equal(cols["y"], whole["y"])
    np.testing.assert_array_equal(cols["id"], whole["id"])
    assert [len(b) for _, b in f.blocks(chunk_bytes=8)] == [1, 1, 1]
    semi = CsvFile(_csv(tmp_path, "a;y\n1,5;no\n"), ";", missing=False)  # numbers by `;`
    assert semi.numeric("a") is False and semi.scan([], ["a"])["a"].tolist() == ["1,5"]
    path = _csv(tmp_path, body)
    import dlc.runtime.data.csvrows as csvrows

    monkeypatch.setattr(csvrows, "arrow_columns", lambda *a: None)  # Python's reader alone
    g = CsvFile(path, ",", missing=False)
    np.testing.assert_array_equal(g.scan(["a", "b"], ["y", "id"])["y"], whole["y"])
    np.testing.assert_array_equal(g.take(rows), want[rows])


@pytest.mark.parametrize(
    ("text", "row", "words"),
    [
        ("a,y\n1,0\n2\n", 3, "row has 1 fields, the header has 2"),
        ("a,y\n1,0\n2,1\nfoo,0\n", 4, "column `a` is numeric but this row holds `foo`"),
        ("a,y\n1,0\n,1\n", 3, "column `a` is numeric but this row is empty"),
        ("a,y\n1,0\ninf,1\n", 3, "column `a` holds `inf`, not a finite number"),
        ('a,y\n1,0\n"2\n3",1\n', 3, "a quoted value may not hold a line break"),
        ("a,y\n1,0\n2,1\n3,7\n", 4, "holds text but this row holds the number `7`"),
    ],
)
@pytest.mark.parametrize("block", [4, 1 << 20])  # tiny blocks: row numbers carried across
def test_csv_scan_errors_name_the_row(
    tmp_path: Path, text: str, row: int, words: str, block: int
) -> None:
    text = text.replace("1,0\n2,1\n3,7", "1,x\n2,z\n3,7")  # a text target with a number
    f = CsvFile(_csv(tmp_path, text), ",", missing=False)
    with pytest.raises(DlcError) as err:
        f.scan(["a"], ["y"], block_bytes=block)
    assert f"t.csv:row {row}" in str(err.value) and words in str(err.value), str(err.value)


def test_parquet_rows_read_only_the_groups_asked_for(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from dlc.runtime.data.parquet import read_parquet
    from dlc.runtime.data.parquetrows import ParquetRows

    x = np.random.default_rng(0).normal(size=(50, 3))
    table = pa.table({"a": x[:, 0], "b": x[:, 1].astype(np.float32), "c": np.arange(50)})
    pq.write_table(table.append_column("y", pa.array(["p", "q"] * 25)), tmp_path / "t.parquet",
                   row_group_size=7)  # fmt: skip
    f = ParquetRows(tmp_path / "t.parquet", missing=False)
    cols = f.scan(["a", "b", "c"], ["y"])
    _, whole = read_parquet(tmp_path / "t.parquet")
    want = np.stack([whole[k] for k in "abc"], axis=1).astype(np.float32)
    reads: list[int] = []
    group = f.file.read_row_group
    f.file.read_row_group = lambda g, **kw: reads.append(g) or group(g, **kw)  # type: ignore[method-assign]
    rows = np.array([8, 49, 9, 8])
    np.testing.assert_array_equal(f.take(rows), want[rows])
    assert reads == [1, 7] and cols["y"].tolist() == whole["y"].tolist()
    chunks = [np.random.default_rng(k).permutation(50)[:9] for k in range(6)]
    f.plan(chunks)  # a shuffled epoch's chunks: the next 4 read together, each group once
    reads.clear()
    for c in chunks:
        np.testing.assert_array_equal(f.take(c), want[c])
        np.testing.assert_array_equal(f.take(c[:3]), want[c[:3]])  # a process's share
    assert len(reads) <= 2 * 8, reads  # two windows of 4 chunks, not 6 x 8 group reads
    bad = table.set_column(0, "a", pa.array([*x[:20, 0], None, *x[21:, 0]]))
    pq.write_table(bad, tmp_path / "n.parquet", row_group_size=7)
    with pytest.raises(DlcError, match=r"n.parquet:row 21"):
        ParquetRows(tmp_path / "n.parquet", missing=False).scan(["a"], ["c"])


def _table_spec(tmp_path: Path, fmt: str, missing: str, extra: str = "") -> Path:
    rng = np.random.default_rng(3)
    n = 300
    x = rng.normal(size=(n, 4)).round(3)
    gaps = rng.random((n, 4)) < 0.05
    target = (x[:, 0] + x[:, 1] > 0).astype(float)
    target[rng.random(n) < 0.03] = np.nan  # rows missing the target drop
    cells = np.where(gaps, "", x.astype(str))
    if fmt == "csv":
        lines = ["id,a,b,c,d,y"] + [
            ",".join([str(i), *cells[i], "" if np.isnan(target[i]) else str(int(target[i]))])
            for i in range(n)
        ]
        (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
        source = 'csv "t.csv"'
    else:
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        cols = {k: pa.array(np.where(gaps[:, j], None, x[:, j]).tolist()) for j, k in
                enumerate("abcd")}  # fmt: skip
        y = pa.array([None if np.isnan(t) else int(t) for t in target])
        pq.write_table(pa.table({"id": np.arange(n), **cols, "y": y}), tmp_path / "t.parquet",
                       row_group_size=8)  # fmt: skip
        source = 'parquet "t.parquet"'
    spec = tmp_path / "s.dl"
    spec.write_text(
        f'data {{ {source} target="y" id="id" classes=true missing={missing}{extra}\n'
        "  split valid=0.2 test=0.2; normalize standard }\nmodel { dense 2 }\n"
        "loss cross_entropy\noptimizer adam\ntrain { memory_mb 0.001 }\n"
    )
    return spec


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("missing", ["drop", "zero", "mean"])
def test_streamed_table_prepares_the_in_memory_data(tmp_path: Path, fmt: str, missing: str) -> None:
    from dlc.compiler.frontend import load_spec
    from dlc.runtime.data.prepare import prepare

    path = _table_spec(tmp_path, fmt, missing)
    streamed = prepare(load_spec(path))
    whole = prepare(load_spec(path, overrides=["train.memory_mb=10"]))
    assert streamed.streamed and not whole.streamed
    assert streamed.summary() == whole.summary() and streamed.num_classes == whole.num_classes
    for k in ("fill", "shift", "scale"):
        if k in whole.stats or k in streamed.stats:
            np.testing.assert_allclose(streamed.stats[k], whole.stats[k], rtol=1e-6)
    for name, (x, y) in whole.parts.items():
        np.testing.assert_allclose(streamed.parts[name][0][:], x, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(streamed.parts[name][1], y)
    np.testing.assert_array_equal(streamed.ids["all"], whole.ids["all"])
    assert streamed.feature_names == whole.feature_names
    assert streamed.notes[0] == whole.notes[0] and "streamed from disk" in streamed.notes[-1]


@pytest.mark.parametrize(
    ("missing", "extra", "words"),
    [
        ("error", ' categorical=["b"]', "categorical columns (b) need the whole data in memory"),
        ("median", "", "missing=median needs the whole data in memory"),
    ],
)
def test_what_cannot_stream_is_a_located_error(
    tmp_path: Path, missing: str, extra: str, words: str
) -> None:
    import dlc

    spec = _table_spec(tmp_path, "csv", missing, extra)
    with pytest.raises(DlcError) as err:
        dlc.compile(spec)
    text = str(err.value)
    assert "s.dl:1:" in text and words in text and "train.memory_mb" in text, text


def test_parquet_row_groups_above_half_the_budget_are_a_located_error(tmp_path: Path) -> None:
    import dlc

    spec = _table_spec(tmp_path, "parquet", "drop")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pq.read_table(tmp_path / "t.parquet"), tmp_path / "t.parquet")  # 1 group
    with pytest.raises(DlcError) as err:
        dlc.compile(spec)
    text = str(err.value)
    assert "s.dl:1:" in text and "row groups hold up to 300 rows" in text, text
    assert "train.memory_mb" in text and "row_group_size" in text, text
