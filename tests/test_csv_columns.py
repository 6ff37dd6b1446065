"""CSV columns you can address (issue 12): repeated header names, positions, ranges, globs,
exclude, the `id` rule and the feature list `dlc check` prints."""

from __future__ import annotations

import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Csv
from dlc.runtime.data.columns import compact, select, unique_header
from dlc.runtime.data.datasets import read_csv
from dlc.runtime.data.loaders import load_csv

HEADER = "id,a,cli,cli,b,cli,tested_positive,tested_positive,y\n"
ROWS = "".join(
    f"{i},{i},{i + 1},{i + 2},{i + 3},{i + 4},{i + 5},{i + 6},{i * 2}\n" for i in range(6)
)


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(HEADER + ROWS)
    return p


def test_repeated_names_get_pandas_suffixes(path):
    header, cols = read_csv(path)
    assert header == [
        "id", "a", "cli", "cli.1", "b", "cli.2", "tested_positive", "tested_positive.1", "y"
    ]  # fmt: skip
    assert cols["cli.2"].tolist() == [float(i + 4) for i in range(6)]
    # a suffix that the header already holds is skipped over
    assert unique_header(["x", "x", "x.1"]) == ["x", "x.2", "x.1"]


def test_target_by_suffixed_name_or_position(path):
    raw = load_csv(Csv(path=str(path), target="cli.1", features=["a"]), ".")
    assert raw.parts["all"][1][:, 0].tolist() == [float(i + 2) for i in range(6)]
    by_pos = load_csv(Csv(path=str(path), target="#4", features=[2]), ".")
    assert (by_pos.parts["all"][1] == raw.parts["all"][1]).all()
    assert by_pos.feature_names == ["a"]


def test_ranges_globs_exclude(path):
    raw = load_csv(Csv(path=str(path), target="y", features=["a:b"], exclude=["cli.1"]), ".")
    assert raw.feature_names == ["a", "cli", "b"]
    raw = load_csv(Csv(path=str(path), target="tested_positive.1", features=["tested_*"]), ".")
    assert raw.feature_names == ["tested_positive"]  # a pattern never picks the target
    raw = load_csv(Csv(path=str(path), target="y", features=["#2:#4", "cli*"]), ".")
    assert raw.feature_names == ["a", "cli", "cli.1", "cli.2"]
    x = raw.parts["all"][0]
    assert x[:, 3].tolist() == [float(i + 4) for i in range(6)]


def test_id_column_is_never_silently_a_feature(path):
    raw = load_csv(Csv(path=str(path), target="y"), ".")
    assert "id" not in raw.feature_names and "a" in raw.feature_names
    assert any("`id` looks like an identifier" in n for n in raw.notes)
    assert raw.notes[0].startswith("features (7): a .. tested_positive.1")
    declared = load_csv(Csv(path=str(path), target="y", id="id"), ".")
    assert declared.ids["all"].tolist() == [float(i) for i in range(6)]
    assert not any("identifier" in n for n in declared.notes)


@pytest.mark.parametrize(
    ("kw", "message", "hint"),
    [
        ({"target": "cly"}, "column `cly` is not in the header", "did you mean `cli`?"),
        ({"target": "y", "features": ["zz*"]}, "the pattern `zz*` matches no column", None),
        ({"target": "y", "features": ["b:a"]}, "the range `b:a` runs backwards", "first"),
        ({"target": 12}, "column position 12 is outside the header's 1..9", "from 1"),
        ({"target": "y", "exclude": ["bb"]}, "column `bb` is not in the header", "`b`"),
    ],
)
def test_located_errors(path, kw, message, hint):
    with pytest.raises(DlcError) as err:
        load_csv(Csv(path=str(path), **kw), ".")
    d = err.value.diagnostics[0]
    assert message in d.message and d.where == str(path)
    if hint:
        assert hint in (d.hint or "")


def test_select_and_compact():
    header = ["a", "b", "c", "d", "e"]
    assert select(header, ["d", 1, "b:c", "a"]) == ["d", "a", "b", "c"]
    assert compact(["a", "b", "c", "e"], header) == "a .. c, e"
    assert compact(["a", "b", "d"], header) == "a, b, d"


def test_check_prints_features(path, tmp_path, capsys):
    from dlc.runtime.cli.main import main

    spec = tmp_path / "s.dl"
    spec.write_text(
        'data {\n  csv "d.csv" target=y features=["a:b"] exclude=["cli.1"]\n}\n'
        "model { dense 1 }\nloss mse\noptimizer adam\n"
    )
    assert main(["check", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "features (3): a, cli, b" in out
    assert "`id` looks like an identifier and is left out" in out


def test_check_warns_about_constant_columns(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("a,k,y\n1,5,1\n2,5,2\n3,5,3\n")
    raw = load_csv(Csv(path=str(p), target="y"), ".")
    assert any("constant feature column(s) `k`" in n for n in raw.notes)
    assert not any(
        "constant" in n for n in load_csv(Csv(path=str(p), target="y", exclude=["k"]), ".").notes
    )
