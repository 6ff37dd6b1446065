"""specs/reproduce.py (issue 15): specs/README.md's result tables come from real runs. The
quick mode rebuilds tables on a copy of the README; the real one is never rewritten here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parent.parent / "specs"


@pytest.fixture
def reproduce(monkeypatch):
    monkeypatch.syspath_prepend(str(SPECS))
    import reproduce
    import reproduce_manifest

    return reproduce, reproduce_manifest


def test_every_table_has_one_marker_pair_in_the_readme(reproduce) -> None:
    rep, manifest = reproduce
    text = (SPECS / "README.md").read_text()
    names = [t.name for t in manifest.TABLES]
    assert len(set(names)) == len(names)
    opened = re.findall(r"<!-- reproduce:([\w-]+) -->", text)
    closed = re.findall(r"<!-- /reproduce:([\w-]+) -->", text)
    assert sorted(opened) == sorted(closed) == sorted(names)
    assert sorted(m.group(1) for m in rep.MARKER.finditer(text)) == sorted(names)
    for table in manifest.TABLES:  # every row names a spec that exists
        for row in table.rows:
            assert (SPECS / row.spec).is_file(), row.spec


def test_readme_tables_are_drawn_from_the_recorded_values(reproduce, tmp_path) -> None:
    """No hand edit inside the markers: redrawing every table from reproduce_results.json
    gives the README back, byte for byte."""
    rep, _ = reproduce
    readme = tmp_path / "README.md"
    readme.write_bytes((SPECS / "README.md").read_bytes())
    (tmp_path / "reproduce_results.json").write_bytes(
        (SPECS / "reproduce_results.json").read_bytes()
    )
    assert rep.main(["--render", "--readme", str(readme)]) == 0
    assert readme.read_text() == (SPECS / "README.md").read_text()


def test_rewrite_touches_only_the_named_block(reproduce) -> None:
    rep, _ = reproduce
    text = (
        "intro\n<!-- reproduce:a -->\nold a\n<!-- /reproduce:a -->\n| hand | table |\n"
        "<!-- reproduce:b -->\nold b\n<!-- /reproduce:b -->\nend\n"
    )
    out = rep.rewrite(text, {"b": "new b\n"})
    assert out == text.replace("old b\n", "new b\n")
    with pytest.raises(SystemExit, match="no markers for: c"):
        rep.rewrite(text, {"c": "x\n"})


def test_format_mean_and_sd(reproduce) -> None:
    rep, _ = reproduce
    assert rep.fmt([1.0, 2.0, 3.0], 3) == "2.00 ± 1.00"
    assert rep.fmt([466194.5, 470000.0], 3) == "468,097 ± 2,691"
    assert rep.fmt([7.0, 7.04], 3) == "7.02 ± 0.03"
    assert rep.fmt([1.03e-5], 3) == "1.03e-05"
    assert rep.fmt([67.0], 3) == "67"  # a count
    assert rep.fmt([0.5, 0.5], 3) == "0.500 ± 0.000"
    assert rep.fmt([float("nan")], 3) == "—"


@pytest.mark.slow
def test_quick_mode_rebuilds_tables_on_a_copy(reproduce, tmp_path, capsys) -> None:
    rep, manifest = reproduce
    readme = SPECS / "README.md"
    before = readme.read_bytes()
    copy = tmp_path / "README.md"
    copy.write_bytes(before)
    assert (
        rep.main(["--quick", "--only", "lecture1", "--only", "vanishing", "--readme", str(copy)])
        == 0
    )
    assert readme.read_bytes() == before  # the real README is untouched
    text = copy.read_text()
    blocks = {m.group(1): m.group(2) for m in rep.MARKER.finditer(text)}
    tables = {t.name: t for t in manifest.TABLES}
    for name in ("lecture1", "vanishing"):
        rows = [ln for ln in blocks[name].splitlines() if ln.startswith("| ")]
        assert len(rows) == 2 + len(tables[name].rows)  # header, rule, one line per row
        assert all(ln.count(" | ") == len(tables[name].columns) for ln in rows)
        assert "Quick mode" in blocks[name]
    assert "beats the best linear model" in blocks["lecture1"]
    # outside the two blocks, the copy is the README
    strip = re.compile(r"<!-- reproduce:(lecture1|vanishing) -->.*?<!-- /reproduce:\1 -->", re.S)
    assert strip.sub("", text) == strip.sub("", before.decode())
    # the values are recorded beside the copy; --render redraws the same tables from them
    assert sorted(json.loads((tmp_path / "reproduce_results.json").read_text())) == [
        "lecture1",
        "vanishing",
    ]
    copy.write_text(rep.rewrite(text, {"lecture1": "stale\n", "vanishing": "stale\n"}))
    args = ["--render", "--only", "lecture1", "--only", "vanishing", "--readme", str(copy)]
    assert rep.main(args) == 0
    assert copy.read_text() == text
    with pytest.raises(SystemExit, match="--only losses"):
        rep.main(["--render", "--only", "losses", "--readme", str(copy)])
