"""Every malformed data file of issue 12, item 9, through `dlc check`: a bad cell, a ragged row,
an empty file, a header only, a wrong delimiter, invalid UTF-8, an unreadable image, an array
with the wrong rank (and a broken Parquet file). Each ends in a dlc error (exit 2, no
traceback) naming the file and the row (or array / image), with a hint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlc.runtime.cli.main import main

TAIL = "model { dense 1 }\nloss mse\noptimizer sgd\n"
IMAGES_TAIL = "model { flatten; dense 2 }\nloss cross_entropy\noptimizer sgd\n"


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, tail: str) -> str:
    spec = tmp_path / "s.dl"
    spec.write_text(f"data {{\n  {source}\n}}\n{tail}")
    code = main(["check", str(spec)])
    out, err = capsys.readouterr()
    text = out + err
    assert code == 2, text
    assert "Traceback" not in text and "hint:" in text, text
    return " ".join(text.split())  # rich wraps long lines


CSV_CASES = [
    # (file bytes, where the error points, what it says)
    (b"a,y\n1,2\n3,4\nx1,5\n6,7\n", "d.csv:row 4", "column `a` is numeric but this row holds `x1`"),
    (b"a,y\n1,2\n3,4,5\n", "d.csv:row 3", "row has 3 fields, the header has 2"),
    (b"", "d.csv", "the CSV file is empty"),
    (b"a,y\n", "d.csv:row 1", "a header row but no data rows"),
    (b"a;y\n1;2\n3;4\n", "d.csv", 'add delimiter=";" to the source line'),
    (b"a,y\n1,2\n3,\xe9\n", "d.csv:3", "the CSV file is not UTF-8"),
]


@pytest.mark.parametrize(("data", "where", "what"), CSV_CASES)
def test_malformed_csv_files(tmp_path, capsys, data, where, what):
    (tmp_path / "d.csv").write_bytes(data)
    text = check(tmp_path, capsys, 'csv "d.csv" target=y', TAIL)
    assert f"{tmp_path / where}" in text and what in text, text


def test_an_unreadable_image_is_named(tmp_path, capsys):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        Image.new("L", (4, 4)).save(tmp_path / "img" / c / "ok.png")
    (tmp_path / "img" / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    text = check(tmp_path, capsys, 'images "img"', IMAGES_TAIL)
    assert f"{tmp_path / 'img' / 'b' / 'broken.jpg'}" in text and "not a readable image" in text


def test_an_array_with_the_wrong_rank_is_named(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones(5))  # one number per row: rank 1
    np.save(tmp_path / "y.npy", np.ones(5))
    text = check(tmp_path, capsys, 'npy x="x.npy" y="y.npy"', TAIL)
    assert f"{tmp_path / 'x.npy'}" in text and "array `x.npy` has shape (5,)" in text
    np.savez(tmp_path / "d.npz", feats=np.ones((5, 2)), labels=np.ones((5, 1, 1)))
    text = check(tmp_path, capsys, 'npz "d.npz" x=feats y=labels', TAIL)
    assert f"{tmp_path / 'd.npz'}" in text and "array `labels` has shape (5, 1, 1)" in text


def test_a_broken_parquet_file_is_named(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    (tmp_path / "d.parquet").write_bytes(b"PAR1 truncated")
    text = check(tmp_path, capsys, 'parquet "d.parquet" target=y', TAIL)
    assert f"{tmp_path / 'd.parquet'}" in text and "not a readable Parquet file" in text
