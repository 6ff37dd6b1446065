"""The three sequence specs train for real and reach their targets (POS tagging and seq2seq on
reduced budgets; full-run figures are in specs/README.md), and `dlc run` + `dlc predict` work
on token data with the vocabulary saved in the run folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dlc.runtime.cli.main import main
from dlc.runtime.predict.sequences import decode, exact_match
from dlc.runtime.train.model import CompiledModel

pytestmark = pytest.mark.slow


def _fit(specs_dir, name: str, overrides: list[str]) -> CompiledModel:
    model = CompiledModel.from_source(specs_dir / f"{name}.dl", overrides=overrides)
    model.fit()
    return model


def predict_rows(spec: Path, run: Path, lines: list[str], tmp_path: Path) -> list[list[str]]:
    """The CSV rows `dlc predict` writes for these input lines."""
    (tmp_path / "in.txt").write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "pred.csv"
    args = ["predict", str(spec), "--run", str(run), "--input", str(tmp_path / "in.txt")]
    assert main([*args, "--output", str(out)]) == 0
    return list(csv.reader(out.open()))


def test_sentiment_beats_the_majority_baseline_on_another_domain(specs_dir) -> None:
    model = _fit(specs_dir, "sentiment", [])
    test = model.evaluate("test")
    y = model.data.parts["test"][1]
    majority = max((y == 0).mean(), (y == 1).mean())
    assert majority == 0.5
    assert test["test_accuracy"] >= 0.73, test  # 0.753 on a 2-core CPU with seed 0


def test_pos_tagging_token_accuracy_over_real_tokens(specs_dir) -> None:
    model = _fit(specs_dir, "pos_tagging", ["train.epochs=20"])
    test = model.evaluate("test")
    assert test["test_accuracy"] >= 0.88, test
    y = model.data.parts["test"][1]
    assert (y < 0).mean() > 0.3  # most positions are padding, and they are not counted


def test_seq2seq_exact_match_with_greedy_decoding(specs_dir) -> None:
    model = _fit(specs_dir, "seq2seq", ["data.seq2seq.n=6000", "train.epochs=3"])
    assert exact_match(model, "test") >= 0.95
    assert decode(model, ["31415926", "2718"]) == ["11234569", "1278"]


def test_dlc_run_and_predict_on_token_data(specs_dir, tmp_path, capsys) -> None:
    spec = tmp_path / "tiny.dl"
    spec.write_text(
        (specs_dir / "seq2seq.dl")
        .read_text()
        .replace("n=20000 test=1000", "n=3000 test=100")
        .replace("epochs 4", "epochs 2")
    )
    assert main(["run", str(spec), "--runs", str(tmp_path / "runs"), "--quiet"]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert (run / "vocab.json").is_file()
    rows = predict_rows(spec, run, ["5123", "907"], tmp_path)
    assert rows[0] == ["input", "output"] and [r[0] for r in rows[1:]] == ["5123", "907"]
    assert all(r[1].isdigit() for r in rows[1:])


TAGGER = """
data {
  conllu "train.conllu" length=8 suffix=2 shape=true
  split valid=0
}
model { embedding 8; encoder_block heads=2 ff=16; dense 17 }
loss cross_entropy
optimizer adam lr=0.01
train { batch 4; epochs 2 }
"""
SENTENCES = ["The cat sleeps .", "A dog runs fast .", "Cats like fish ."]
TAGS = ["DET NOUN VERB PUNCT", "DET NOUN VERB ADV PUNCT", "NOUN VERB NOUN PUNCT"]


def test_dlc_predict_tags_every_word_of_long_lines(tmp_path) -> None:
    lines = []
    for words, tags in zip(SENTENCES, TAGS, strict=True):
        lines += [
            f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_"
            for i, (w, t) in enumerate(zip(words.split(), tags.split(), strict=True), 1)
        ]
        lines.append("")
    (tmp_path / "train.conllu").write_text("\n".join(lines))
    (tmp_path / "tagger.dl").write_text(TAGGER)
    assert (
        main(["run", str(tmp_path / "tagger.dl"), "--runs", str(tmp_path / "runs"), "--quiet"]) == 0
    )
    run = next((tmp_path / "runs").iterdir())
    long = "the dog sleeps and the cat runs fast and fish like cats ."  # 13 words > length 8
    rows = predict_rows(tmp_path / "tagger.dl", run, [long, "A cat ."], tmp_path)
    assert rows[0] == ["sentence", "word", "tag"]
    assert [r[1] for r in rows[1:14]] == long.split() and len(rows) == 1 + 13 + 3
    assert {r[0] for r in rows[1:]} == {"1", "2"}
