"""Issue 18: no traceback from any input, bounded work, validated data. Each case once ended in
a Python traceback, an exponential expansion or a silent acceptance; each now ends in a located
dlc error (exit code 2) or, for the unforeseen, the last-resort "internal error" (exit 70)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dlc.compiler.errors import DlcError
from dlc.compiler.frontend import load_spec
from dlc.runtime.cli import check
from dlc.runtime.cli.main import main

DATA = Path(__file__).resolve().parent / "data"
CSV = f'data {{ csv "{DATA / "houses.csv"}" target=price id=id }}\n'
TAIL = "loss mse\noptimizer sgd\n"


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def write(tmp_path: Path, text: str, name: str = "s.dl") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- the last resort ----------------------------------------------------------------------------
def test_unexpected_exception_is_an_internal_error_with_a_saved_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLC_CACHE", str(tmp_path / "cache"))

    def boom(args: object) -> int:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(check, "main", boom)
    code, text = run_main(capsys, "check", "x.dl")
    assert code == 70 and "internal error (ZeroDivisionError), please report it" in text
    saved = list((tmp_path / "cache" / "crashes").glob("crash-*.txt"))
    assert len(saved) == 1 and "ZeroDivisionError: boom" in saved[0].read_text()


# -- the front end ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("block model{}\nmodel{}\n", "`model` cannot be a block's name"),
        ("model { dense " + "[" * 500 + "]" * 500 + " }\n", "nested more than 32 deep"),
        ("block a { a; a }\nmodel { a }\n", "block `a` uses itself (a -> a)"),
        ("block a { b }\nblock b { a }\nmodel { a }\n", "(a -> b -> a)"),
    ],
)
def test_front_end_errors(text: str, message: str) -> None:
    with pytest.raises(DlcError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_spec(text + TAIL)


def test_a_recursive_block_is_one_error_per_use_not_exponential() -> None:
    start = time.perf_counter()
    with pytest.raises(DlcError) as e:
        load_spec("block a { a; a; a }\nmodel { a; a; a }\n" + TAIL)
    assert len(e.value.diagnostics) == 3  # the three uses inside the block
    assert time.perf_counter() - start < 2


def test_layer_cap_counts_layers_inside_blocks_and_nested_uses() -> None:
    nested = "model { residual { repeat 1000 { dense 1 } }\n repeat 20 { residual { dense 1 } } }"
    with pytest.raises(DlcError, match="more than 10,000 layers"):
        load_spec(CSV + "model { repeat 1000 { residual { repeat 1000 { dense 1 } } } }\n" + TAIL)
    load_spec(CSV + nested + "\n" + TAIL)  # 1,041 layers: fine
    blocks = "".join(f"block b{i} {{ b{i + 1}; b{i + 1}; b{i + 1}; b{i + 1} }}\n" for i in range(9))
    start = time.perf_counter()
    with pytest.raises(DlcError, match="more than 10,000 layers"):  # 4**9 = 262,144 uses
        load_spec(blocks + "block b9 { dense 1 }\nmodel { b0 }\n" + TAIL)
    assert time.perf_counter() - start < 2


def test_shape_inference_is_not_exponential_in_nesting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 30
    body = "residual { " * n + "dense 2" + " }" * n
    spec = write(tmp_path, CSV + f"model {{ dense 2; {body}; dense 1 }}\n" + TAIL)
    start = time.perf_counter()
    code, text = run_main(capsys, "check", spec)
    assert code == 0, text
    assert time.perf_counter() - start < 5


def test_spec_paths_that_are_not_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder").mkdir()
    code, text = run_main(capsys, "check", str(tmp_path / "folder"))
    assert code == 2 and "it is a folder" in text
    fifo = tmp_path / "pipe.dl"
    os.mkfifo(fifo)
    code, text = run_main(capsys, "check", str(fifo))  # never blocks on the pipe
    assert code == 2 and "not a regular file" in text
    code, text = run_main(capsys, "check", str(tmp_path / ("x" * 300 + ".dl")))
    assert code == 2 and "File name too long" in text
    bad = tmp_path / "latin1.dl"
    bad.write_bytes(b"model { dense 1 } # caf\xe9\n")
    code, text = run_main(capsys, "check", str(bad))
    assert code == 2 and "not UTF-8" in text


def test_rich_markup_in_a_path_prints_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "x["
    folder.mkdir()
    spec = folder / "b]y.dl"
    spec.write_text(CSV + "model { dense 1 }\n" + TAIL)
    code, text = run_main(capsys, "check", str(spec))
    assert code == 0 and "[/b]y.dl" in text.replace("\n", "")


# -- data files ---------------------------------------------------------------------------------
def data_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str) -> str:
    model = "model { embedding 4; seqpool; dense 2 }\nloss cross_entropy\noptimizer sgd\n"
    if source.startswith("csv"):
        model = "model { dense 1 }\n" + TAIL
    code, text = run_main(capsys, "check", write(tmp_path, f"data {{ {source} }}\n{model}"))
    assert code == 2, text
    return text


def test_bad_data_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.txt").write_bytes(b"good\tpos\n\xff\xfe\tneg\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.conllu").write_bytes(b"1\tcaf\xe9\t_\tNOUN\n")
    (tmp_path / "a.csv").write_text("a,y\n1,2\n2,3\n")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.txt")
    text = data_error(tmp_path, capsys, 'text "bad.txt" length=5')
    assert "bad.txt:2: error: the text file is not UTF-8" in text
    assert "has no rows" in data_error(tmp_path, capsys, 'text "empty.txt" length=5')
    assert "not UTF-8" in data_error(tmp_path, capsys, 'conllu "bad.conllu" length=5')
    assert "it is a folder" in data_error(tmp_path, capsys, 'text "folder" length=5')
    assert "not a regular file" in data_error(tmp_path, capsys, 'text "pipe.txt" length=5')
    text = data_error(tmp_path, capsys, 'csv "a.csv" target=y delimiter=";;"')
    assert "at most 1 character" in text


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "1e400"])
def test_non_finite_csv_cells_are_errors_with_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    (tmp_path / "a.csv").write_text(f"a,y\n1,2\n{cell},3\n4,5\n")
    text = data_error(tmp_path, capsys, 'csv "a.csv" target=y')
    assert f"a.csv:row 3: error: column `a` holds `{cell}`, not a finite number" in text


def test_data_size_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = "model { dense 4 }\nloss cross_entropy\noptimizer sgd\n"
    code, text = run_main(capsys, "check", write(tmp_path, f"data {{ fizzbuzz bits=1000 }}\n{cls}"))
    assert code == 2 and "less than or equal to 62" in text
    big = "data { fizzbuzz train=[1, 1000000000000] bits=40 }\n"
    code, text = run_main(capsys, "check", write(tmp_path, big + cls))
    assert code == 2 and "more than the limit" in text and "DLC_MAX_DATA_BYTES" in text
    assert "length` of `text`" in data_error(tmp_path, capsys, 'text "a.txt" length=1000000000')
    (tmp_path / "a.csv").write_text("a,y\n" + "1,2\n" * 100)
    monkeypatch.setenv("DLC_MAX_DATA_BYTES", "100")
    assert "more than the limit of 100" in data_error(tmp_path, capsys, 'csv "a.csv" target=y')


# -- flags --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["schedule", "--steps-per-epoch", "0"], "--steps-per-epoch: 0 is out of range"),
        (["schedule", "--steps-per-epoch", "2", "--plot", "no/such/lr.png"], "does not exist"),
        (["schedule", "--steps-per-epoch", "2", "--plot", "."], "is a folder"),
        (["analyze", "--n", "0"], "--n: 0 is out of range"),
        (["analyze", "--n", "100000"], "--n: 100000 is out of range"),
        (["analyze", "--span", "nan"], "--span: nan must be a finite number"),
        (["analyze", "--out", "FILE"], "is a file, not a folder"),
        (["run", "--runs", "FILE"], "is a file, not a folder"),
        (["plot"], "is not a run folder"),  # the spec file given as the run folder
        (["schedule", "--steps-per-epoch", "2", "--plot", "x" * 300], "File name too long"),
        (["analyze", "--out", "x" * 300], "File name too long"),
        (["schedule", "--steps-per-epoch", "2", "--plot", "pipe"], "not a regular file"),
    ],
)
def test_bad_flags(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    os.mkfifo(tmp_path / "pipe")  # as /dev/null would be: an atomic write must not replace it
    spec = write(tmp_path, CSV + "model { dense 1 }\n" + TAIL)
    code, text = run_main(capsys, flags[0], spec, *flags[1:])
    assert code == 2 and message in text
    assert not (tmp_path / "no").exists()


# -- resources ----------------------------------------------------------------------------------
def test_parameter_and_activation_limits_before_allocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write(tmp_path, CSV + "model { dense 40000000; dense 1 }\n" + TAIL)
    code, text = run_main(capsys, "check", spec)
    assert code == 2 and "more than the limit of 100,000,000" in text and "DLC_MAX_PARAMS" in text
    monkeypatch.setenv("DLC_MAX_PARAMS", "1e9")
    code, text = run_main(capsys, "check", spec)
    assert code == 2 and "GiB of layer outputs" in text  # 40M x 32 rows x 4 bytes
    monkeypatch.setenv("DLC_MAX_ACTIVATION_BYTES", "1e10")
    monkeypatch.setenv("DLC_MAX_PARAMS", "nope")
    code, text = run_main(capsys, "check", spec)
    assert code == 2 and "DLC_MAX_PARAMS='nope' is not a positive number" in text


def test_idx_labels_outside_the_ten_classes_are_an_error(tmp_path: Path) -> None:
    import numpy as np
    from test_datasets import make_mnist_folder, write_idx

    from dlc.runtime.data import idx

    make_mnist_folder(tmp_path, gz=False)
    write_idx(tmp_path / idx.SPLIT_FILES["train"][1], np.array([1, 2, 12, 3, 4, 5], np.uint8))
    with pytest.raises(DlcError, match="label 12 of item 2 is not one of the 10 classes"):
        idx.load_idx_folder(tmp_path)


def test_embedding_vocab_smaller_than_the_data_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("a b c d e\tpos\nf g h\tneg\n" * 5)
    model = "model { embedding 4 vocab=3; seqpool; dense 2 }\nloss cross_entropy\noptimizer sgd\n"
    spec = write(tmp_path, 'data { text "a.txt" length=5 }\n' + model)
    code, text = run_main(capsys, "check", spec)
    assert code == 2 and "`embedding` has vocab=3 but the data's token ids go up to" in text


def test_a_metrics_file_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    from dlc.runtime.runs.plots import read_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"epoch": 1}\n{"epoch": 2}\n\xff\xfe\n')
    with pytest.raises(DlcError, match="metrics file is not UTF-8 text") as e:
        read_metrics(path)
    assert "metrics.jsonl:3" in str(e.value)


def test_errors_echo_a_short_excerpt_of_a_long_line() -> None:
    with pytest.raises(DlcError) as e:
        load_spec("model { " + "relu; " * 100 + "rleu }\n" + TAIL)
    text = str(e.value)
    assert max(len(line) for line in text.splitlines()) < 200 and "rleu" in text
    caret = next(line for line in text.splitlines() if "^" in line)
    source = text.splitlines()[text.splitlines().index(caret) - 1]
    assert source[caret.index("^") : caret.index("^") + 4] == "rleu"


def test_data_root_confines_data_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLC_DATA_ROOT", "")  # `main` sets it: undone after the test
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.csv").write_text("a,y\n1,2\n2,3\n3,4\n4,5\n")
    inside = write(
        tmp_path, f'data {{ csv "{root / "a.csv"}" target=y }}\nmodel {{ dense 1 }}\n{TAIL}'
    )
    escape = write(
        tmp_path,
        f'data {{ csv "root/../../{DATA.name}/houses.csv" target=price }}\n'
        f"model {{ dense 1 }}\n{TAIL}",
        "e.dl",
    )
    code, text = run_main(capsys, "--data-root", str(root), "check", inside)
    assert code == 0, text
    code, text = run_main(capsys, "--data-root", str(root), "check", escape)
    assert code == 2 and "is outside the data root" in text
    code, text = run_main(capsys, "--data-root", str(root / "nope"), "check", inside)
    assert code == 2 and "is not a folder" in text


def test_a_resumed_runs_tensorboard_file_purges_the_retrained_epochs(tmp_path: Path) -> None:
    import struct

    from tensorboardX.proto import event_pb2

    from dlc.runtime.runs.tblog import TensorBoardLogger

    with TensorBoardLogger(tmp_path, purge_step=4) as tb:
        tb.log({"train_loss": 0.5}, 4)
    data = next(tmp_path.iterdir()).read_bytes()
    events, i = [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        events.append(event_pb2.Event.FromString(data[i + 12 : i + 12 + n]))
        i += 12 + n + 4
    starts = [e.step for e in events if e.HasField("session_log")]
    assert starts == [4]  # TensorBoard hides the older files' events from epoch 4 on
