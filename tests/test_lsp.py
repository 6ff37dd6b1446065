"""The language server: its answers as data (runtime/lsp/features.py), then `dlc lsp` driven
over stdio with JSON-RPC messages written here (skipped when pygls is not installed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lspclient import Client

from dlc.runtime.lsp.features import completions, diagnostics, formatting, hover

ROOT = Path(__file__).resolve().parents[1]
BAD = """data { digits }
model {
  dense 8
  rleu
  dense 10
}
loss cross_entropy
optimizer adam lr=0.01
"""
GOOD = BAD.replace("rleu", "relu")


def test_diagnostics_are_dlcs_located_errors() -> None:
    [d] = diagnostics(BAD, "m.dl")
    assert (d.line, d.character, d.end_line, d.end_character) == (3, 2, 3, 6)
    assert d.message == "unknown layer `rleu`" and d.hint is not None
    assert d.hint.startswith("did you mean `relu`? Or a layer of your own")
    assert diagnostics(GOOD, "m.dl") == []
    [syntax] = diagnostics("model {\n  dense 8 x=\n", "m.dl")
    assert syntax.line == 1 and "unexpected" in syntax.message


def test_data_and_shape_errors_as_dlc_check_finds_them(tmp_path: Path) -> None:
    spec = (ROOT / "specs/sigmoids.dl").read_text()
    path = ROOT / "specs/sigmoids.dl"
    [d] = diagnostics(spec.replace("seattle-weather", "no-such-file"), path)
    assert (d.line, d.character) == (3, 2)  # the `csv` statement that names the file
    assert "no-such-file.csv" in d.message
    [d] = diagnostics(spec.replace("dense 1 ", "conv2d 1 3 "), path)
    assert (d.line, d.character) == (11, 2) and "cannot take input of shape (8,)" in d.message
    assert diagnostics(spec.replace("dense 1 ", "conv2d 1 3 "), path, shapes=False) == []


def test_positions_are_utf16() -> None:
    [d] = diagnostics('data { csv "𝄞é" target=y }\nmodel { rleu }\nloss mse\noptimizer sgd\n', "m")
    assert (d.line, d.character) == (1, 8)
    text = '# 𝄞\ndata { csv "𝄞" tar'
    assert [c.label for c in completions(text, 1, len('data { csv "𝄞" tar') + 1)] == ["target"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {"data", "model", "loss", "optimizer", "schedule", "train", "block"}),
        ("loss ", {"mse", "mae", "cross_entropy"}),
        ("optimizer ad", {"adam", "adamw", "adagrad"}),
        ("schedule warmup(10) then co", {"cosine", "constant"}),
        ("model {\n  con", {"conv1d", "conv2d"}),
        ("model {\n  residual {\n    dro", {"dropout"}),
        ("data {\n  ", {"csv", "digits", "window", "split", "normalize"}),
        ("data {\n  normalize ", {"standard", "minmax", "none"}),
        ("train {\n  early_stop ", {"monitor", "patience", "restore_best"}),
        ("optimizer adam lr=0.1 ", {"b1", "weight_decay"}),
    ],
)
def test_completion_offers_registry_and_setting_names(text: str, expected: set[str]) -> None:
    lines = text.split("\n")
    labels = {c.label for c in completions(text, len(lines) - 1, len(lines[-1]))}
    assert expected <= labels
    if text.startswith("optimizer adam lr"):
        assert "lr" not in labels  # already given


def test_hover_shows_the_reference_text() -> None:
    text = (ROOT / "specs/sigmoids.dl").read_text()
    lines = text.split("\n")

    def at(word: str) -> str | None:
        row = next(i for i, line in enumerate(lines) if word in line)
        return hover(text, row, lines[row].index(word) + 1)

    assert at("dense").startswith("**`dense`** — layer")
    assert "settings (default): `units`=required (positional)" in at("dense")  # type: ignore[operator]
    assert "**`adam`** — optimizer" in at("adam")  # type: ignore[operator]
    assert "(a setting of `early_stop`)" in at("patience")  # type: ignore[operator]
    assert at("model").startswith("**`model`** — section")  # type: ignore[union-attr]
    assert hover(text, 0, 0) is None  # a comment


def test_formatting_is_dlc_fmt() -> None:
    [edit] = formatting("loss   mse\n")
    assert (edit.end_line, edit.end_character, edit.text) == (1, 0, "loss mse\n")
    assert formatting("loss mse\n") == [] and formatting("model {\n") == []


# -- over stdio -----------------------------------------------------------------------------


def test_language_server_over_stdio(tmp_path: Path) -> None:
    pytest.importorskip("pygls", reason="the lsp extra is not installed: pip install 'dlc[lsp]'")
    uri = (tmp_path / "m.dl").as_uri()
    c = Client()
    try:
        caps = c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        assert caps["capabilities"]["hoverProvider"]
        assert caps["capabilities"]["documentFormattingProvider"]
        c.send("initialized", {})
        doc = {"uri": uri, "languageId": "dl", "version": 1, "text": BAD}
        c.send("textDocument/didOpen", {"textDocument": doc})
        [d] = c.diagnostics()
        assert d["range"] == {
            "start": {"line": 3, "character": 2},
            "end": {"line": 3, "character": 6},
        }
        assert d["message"].startswith("unknown layer `rleu`\nhint: did you mean `relu`?")
        assert d["severity"] == 1 and d["source"] == "dlc"

        where = {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 2}}
        items = c.request("textDocument/completion", where)["items"]
        assert {"relu", "dense", "dropout"} <= {i["label"] for i in items}
        where["position"] = {"line": 3, "character": 3}  # after `r`: names that start with it
        items = c.request("textDocument/completion", where)["items"]
        assert "relu" in {i["label"] for i in items} and "dense" not in {i["label"] for i in items}
        where["position"] = {"line": 2, "character": 3}
        assert "— layer" in c.request("textDocument/hover", where)["contents"]["value"]

        def change(version: int, text: str) -> float:
            start = time.perf_counter()
            edit = {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": text}],
            }
            c.send("textDocument/didChange", edit)
            return time.perf_counter() - start

        # the text is right: [] at once, then [] again once the data's shapes are checked
        change(2, GOOD)
        assert c.diagnostics() == [] and c.diagnostics() == []
        # a shape error, now that the data's shapes are known: one answer
        change(3, GOOD.replace("dense 8", "conv2d 8 3"))
        [d] = c.diagnostics()
        assert d["range"]["start"] == {"line": 2, "character": 2}
        assert d["message"].startswith("layer `conv2d` cannot take input of shape (64,)")
        times = []
        for n in range(10):
            start = time.perf_counter()
            change(4 + n, GOOD if n % 2 else BAD)
            assert len(c.diagnostics()) == (0 if n % 2 else 1)
            times.append(time.perf_counter() - start)
        print(f"diagnostics after a change: median {sorted(times)[5] * 1000:.1f} ms")
        assert max(times) < 5.0
        opts = {"tabSize": 2, "insertSpaces": True}
        edits = c.request(
            "textDocument/formatting", {"textDocument": {"uri": uri}, "options": opts}
        )
        assert edits == []  # GOOD is formatted
        c.request("shutdown", None)
        c.send("exit", None)
        assert c.proc.wait(timeout=10) == 0
    finally:
        c.close()


def test_without_pygls_the_command_says_what_to_install(monkeypatch, capsys) -> None:
    import importlib.util

    from dlc.runtime.cli.main import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pygls" else real(name, *a)
    )
    assert main(["lsp"]) == 2
    assert "pip install 'dlc[lsp]'" in capsys.readouterr().err
