"""The VS Code extension folder (grammar/editors/vscode/): its manifest names files that exist,
and the TextMate grammar's patterns compile and agree with the language (sections, numbers)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dlc.compiler.spec import Spec
from dlc.grammar.pygments_lexer import NUMBER, SECTIONS

VSCODE = Path(__file__).resolve().parents[1] / "grammar" / "editors" / "vscode"


def _grammar() -> dict:
    return json.loads((VSCODE / "syntaxes" / "dl.tmLanguage.json").read_text())


def _patterns(node: object) -> list[str]:
    """Every `match`, `begin` and `end` regex in the grammar."""
    if isinstance(node, dict):
        own = [node[k] for k in ("match", "begin", "end") if isinstance(node.get(k), str)]
        return own + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


def test_manifest_names_existing_files() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    [lang] = manifest["contributes"]["languages"]
    [grammar] = manifest["contributes"]["grammars"]
    assert lang["extensions"] == [".dl"] and grammar["language"] == lang["id"]
    assert grammar["scopeName"] == _grammar()["scopeName"]
    for rel in (lang["configuration"], grammar["path"], manifest["main"], "../README.md"):
        assert (VSCODE / rel).is_file(), rel
    config = json.loads((VSCODE / "language-configuration.json").read_text())
    assert config["comments"]["lineComment"] == "#"


def test_textmate_patterns_compile_and_match_the_language() -> None:
    patterns = _patterns(_grammar())
    assert len(patterns) > 8
    for p in patterns:
        re.compile(p)  # the patterns use no Oniguruma-only syntax
    repo = _grammar()["repository"]
    section = re.compile(repo["section"]["match"])
    assert set(section.pattern.split("(")[-1].split(")")[0].split("|")) == set(SECTIONS)
    assert set(Spec.model_fields) <= set(SECTIONS)
    assert section.match("model {").group(1) == "model"
    assert section.match("models {") is None
    head = re.compile(repo["head"]["match"])
    assert head.match("  dense 8").group(1) == "dense"
    number = re.compile(repo["value"]["patterns"][1]["match"])
    for text in ("3", "-1", "0.5", ".5", "1e-3", "2.5E+2", "10_000"):
        assert number.fullmatch(text) and re.fullmatch(NUMBER, text), text
    comment = re.compile(repo["comment"]["match"])
    assert comment.search("dense 8  # hidden").group() == "# hidden"
