"""The fast path of `read_csv` for big numeric CSV files (issue 12): the same columns as the
general reader with and without pyarrow, and every problem still named by row and column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.data import datasets

ROWS = 4000  # about 100 kB: over the 64 KiB below which the general reader is used


def _table(tmp_path: Path, newline: str = "\n", bom: bool = False) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    a = np.round(rng.normal(size=(ROWS, 4)) * 1000, 3)
    a[:, 3] = rng.integers(0, 9, ROWS)
    a[5, 0] = 1.5e-7
    a[6, 1] = -12345678.125
    lines = ["a,b,a,label", *(",".join(repr(float(v)) for v in row) for row in a)]
    path = tmp_path / "big.csv"
    text = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path, a


def _general(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    fast = datasets._numeric_csv
    datasets._numeric_csv = lambda path, delimiter: None  # type: ignore[assignment]
    try:
        return datasets.read_csv(path)
    finally:
        datasets._numeric_csv = fast  # type: ignore[assignment]


@pytest.mark.parametrize("pyarrow", [True, False])
@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True)])
def test_fast_path_equals_the_general_reader(tmp_path, monkeypatch, pyarrow, newline, bom):
    if pyarrow:
        pytest.importorskip("pyarrow")
    else:  # `import pyarrow` fails: NumPy's loadtxt takes over
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        monkeypatch.setitem(sys.modules, "pyarrow.csv", None)
    path, a = _table(tmp_path, newline, bom)
    assert datasets._numeric_csv(path, ",") is not None  # the fast path was taken
    header, cols = datasets.read_csv(path)
    ref_header, ref = _general(path)
    assert header == ref_header == ["a", "b", "a.1", "label"]
    for name in header:
        assert cols[name].dtype == np.float64
        np.testing.assert_array_equal(cols[name], ref[name])
    np.testing.assert_array_equal(cols["a"], a[:, 0])


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("x1", "numeric but this row holds `x1`"),
        ("", "numeric but this row is empty"),
        ("inf", "not a finite number"),
        ("1.5.2", "numeric but this row holds `1.5.2`"),
    ],
)
def test_a_bad_cell_in_a_big_file_is_named_by_row_and_column(tmp_path, cell, message):
    path, _ = _table(tmp_path)
    lines = path.read_text().split("\n")
    fields = lines[3001].split(",")
    fields[1] = cell
    lines[3001] = ",".join(fields)
    path.write_text("\n".join(lines))
    with pytest.raises(DlcError) as err:
        datasets.read_csv(path)
    d = err.value.diagnostics[0]
    assert d.where == f"{path}:row 3002" and "`b`" in d.message and message in d.message


def test_a_ragged_row_in_a_big_file_is_named(tmp_path):
    path, _ = _table(tmp_path)
    lines = path.read_text().split("\n")
    lines[2500] += ",7"
    path.write_text("\n".join(lines))
    with pytest.raises(DlcError) as err:
        datasets.read_csv(path)
    d = err.value.diagnostics[0]
    assert d.where == f"{path}:row 2501" and "5 fields, the header has 4" in d.message


def test_a_small_csv_never_imports_pyarrow(tmp_path):
    (tmp_path / "s.csv").write_text("x,y\n1,2\n3,4\n")
    code = (
        "import sys; from dlc.runtime.data.datasets import read_csv; "
        f"read_csv({str(tmp_path / 's.csv')!r}); print('pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_invalid_utf8_and_a_header_only_big_file(tmp_path):
    path, _ = _table(tmp_path)
    raw = path.read_bytes().split(b"\n")
    raw[3500] = raw[3500][:-1] + b"\xe9"
    path.write_bytes(b"\n".join(raw))
    with pytest.raises(DlcError) as err:
        datasets.read_csv(path)
    assert err.value.diagnostics[0].where == f"{path}:3501"
    assert "not UTF-8" in err.value.diagnostics[0].message
    path.write_text("a," * 40000 + "y\n")  # a header of over 64 KiB, no data
    with pytest.raises(DlcError, match="no data rows"):
        datasets.read_csv(path)


def test_numbers_and_text_take_the_fast_path_with_pyarrow(tmp_path):
    pytest.importorskip("pyarrow")
    weather = (
        Path(__file__).resolve().parent.parent / "specs/data/seattle-weather.csv"
    ).read_text()
    head, *rows = weather.strip().split("\n")
    rows = [r + f",{i % 24:02d}:30, w{i % 7} " for i, r in enumerate(rows)]  # a time, spaces
    path = tmp_path / "w.csv"
    path.write_text("\n".join([head + ",time,note", *rows]) + "\n")
    from dlc.runtime.data.fastcsv import mixed_body

    raw = path.read_bytes()
    body = raw[raw.index(b"\n") + 1 :]
    assert mixed_body(body, ",", 8) is not None  # the fast path takes it
    header, cols = datasets.read_csv(path)
    ref_header, ref = _general(path)
    assert header == ref_header
    for name in header:
        assert cols[name].dtype.kind == ref[name].dtype.kind, name
        np.testing.assert_array_equal(cols[name], ref[name])
    assert cols["date"][0] == "2012/01/01" and cols["time"][1] == "01:30"
    assert cols["note"][0] == "w0"  # stripped, as the general reader strips
    # a number among the text: the general reader names the row
    lines = path.read_text().split("\n")
    lines[1000] = lines[1000].replace(",w", ",7", 1).replace(" w", " 7", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(DlcError) as err:
        datasets.read_csv(path)
    assert err.value.diagnostics[0].where == f"{path}:row 1001"
