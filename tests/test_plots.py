"""Run pictures (PNG plots) and TensorBoard scalars, read back from the files themselves."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from dlc.compiler.errors import DlcError
from dlc.runtime.runs.plots import plot_run, plot_schedule, read_metrics
from dlc.runtime.runs.tblog import TensorBoardLogger, scalar_tag

PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path.name} is not a PNG"
    assert 5_000 < len(data) < 2_000_000, f"{path.name}: {len(data)} bytes"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _write_metrics(run: Path, epochs: int, *, truncated_tail: bool = False) -> None:
    run.mkdir(parents=True, exist_ok=True)
    lines = []
    for e in range(1, epochs + 1):
        row = {
            "epoch": e,
            "step": e * 50,
            "train_loss": 3.0 * 0.4**e,
            "valid_loss": 3.2 * 0.45**e,
            "train_accuracy": 1 - 0.5 / e,
            "valid_accuracy": 1 - 0.6 / e,
            "lr": 1e-3 * 0.9**e,
            "time": 0.5,
        }
        lines.append(json.dumps(row))
    text = "\n".join(lines) + "\n"
    if truncated_tail:
        text += '{"epoch": 99, "train_lo'
    (run / "metrics.jsonl").write_text(text)


def test_read_metrics_tolerates_a_truncated_last_line(tmp_path: Path) -> None:
    _write_metrics(tmp_path, 4, truncated_tail=True)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[1]["step"] == 100


def test_read_metrics_rejects_garbage_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{oops\n{"epoch": 3}\n')
    with pytest.raises(DlcError, match="bad JSON") as e:
        read_metrics(path)
    assert "metrics.jsonl:2" in str(e.value)


def test_plot_run_draws_loss_accuracy_and_lr(tmp_path: Path) -> None:
    _write_metrics(tmp_path, 6, truncated_tail=True)
    paths = plot_run(tmp_path)
    assert [p.name for p in paths] == ["loss.png", "accuracy.png", "lr.png"]
    for p in paths:
        assert p.parent == tmp_path / "plots"
        w, h = _png_size(p)
        assert 300 <= w <= 2000 and 200 <= h <= 2000
    assert not [p for p in (tmp_path / "plots").iterdir() if p.suffix != ".png"]


def test_plot_run_log_scale_only_when_loss_spans_decades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.axes import Axes

    scales: list[str] = []
    original = Axes.set_yscale
    monkeypatch.setattr(
        Axes, "set_yscale", lambda ax, v, **kw: (scales.append(v), original(ax, v, **kw))
    )
    _write_metrics(tmp_path / "long", 8)  # 3*0.4**8 ~ 2e-3: > 1 decade
    plot_run(tmp_path / "long")
    assert scales == ["log"]
    scales.clear()
    _write_metrics(tmp_path / "short", 2)  # 1.2 .. 0.48: < 1 decade
    plot_run(tmp_path / "short")
    assert scales == []


def test_plot_run_without_lr_or_accuracy(tmp_path: Path) -> None:
    rows = [{"epoch": 1, "train_loss": 0.9, "f1 score": 0.3}, {"epoch": 2, "train_loss": 0.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths = plot_run(tmp_path)
    assert [p.name for p in paths] == ["loss.png", "f1_score.png"]
    for p in paths:
        _png_size(p)


def test_missing_or_empty_metrics_raise_with_hint(tmp_path: Path) -> None:
    with pytest.raises(DlcError, match="no metrics file") as e:
        plot_run(tmp_path)
    assert "hint" in str(e.value)
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(DlcError, match="no epochs yet") as e:
        plot_run(tmp_path)
    assert "hint" in str(e.value)


def test_plot_schedule(tmp_path: Path) -> None:
    steps = np.arange(200)
    lrs = 1e-3 * 0.5 * (1 + np.cos(np.pi * steps / 200))
    out = plot_schedule(steps, lrs, tmp_path / "sub" / "sched.png", "cosine")
    assert out == tmp_path / "sub" / "sched.png"
    _png_size(out)
    with pytest.raises(DlcError, match="one learning rate per step"):
        plot_schedule(steps, lrs[:-1], tmp_path / "bad.png", "bad")
    assert not (tmp_path / "bad.png").exists()


def _read_events(logdir: Path) -> list[tuple[int, str, float]]:
    """Parse TFRecord framing (length, masked CRCs, payload) and the Event protos in it."""
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c

    files = list(logdir.glob("events.out.tfevents.*"))
    assert len(files) == 1
    data, pos, out = files[0].read_bytes(), 0, []
    while pos < len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        assert hcrc == masked_crc32c(header)
        payload = data[pos + 12 : pos + 12 + length]
        (dcrc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        assert dcrc == masked_crc32c(payload)
        pos += 16 + length
        event = event_pb2.Event.FromString(payload)
        out += [(event.step, v.tag, v.simple_value) for v in event.summary.value]
    assert pos == len(data)
    return out


def test_tensorboard_scalars_round_trip(tmp_path: Path) -> None:
    assert scalar_tag("train_loss") == "loss/train"
    assert scalar_tag("valid_accuracy") == "accuracy/valid"
    assert scalar_tag("lr") == "lr"
    logdir = tmp_path / "tb"
    with TensorBoardLogger(logdir) as tb:
        tags = tb.log(
            {
                "epoch": 1,
                "step": 50,
                "train_loss": 0.75,
                "valid_loss": 0.8,
                "lr": 0.01,
                "note": "warmup",
                "early_stop": False,
            },
            step=50,
        )
        assert tags == ["epoch", "loss/train", "loss/valid", "lr"]
        tb.log({"epoch": 2, "train_loss": 0.25, "valid_accuracy": np.float32(0.9)}, step=100)
    with pytest.raises(DlcError, match="after close"):
        tb.log({"train_loss": 1.0}, step=1)
    events = _read_events(logdir)
    assert events == [
        (50, "epoch", 1.0),
        (50, "loss/train", 0.75),
        (50, "loss/valid", pytest.approx(0.8)),
        (50, "lr", pytest.approx(0.01)),
        (100, "epoch", 2.0),
        (100, "loss/train", 0.25),
        (100, "accuracy/valid", pytest.approx(0.9)),
    ]


def _spec_json(run: Path, *, monitor: str = "valid_loss", patience: int = 2) -> None:
    es = {"EarlyStop": {"monitor": monitor, "patience": patience, "restore_best": True}}
    spec = {"loss": {"cross_entropy": {}}, "train": {"Train": {"early_stop": es}}}
    (run / "spec.json").write_text(json.dumps({"spec": {"Spec": spec}, "file": "specs/toy.dl"}))


def test_plot_run_titles_integer_ticks_and_best_epoch(tmp_path: Path) -> None:
    run = tmp_path / "toy-20261127-120000"
    _write_metrics(run, 7)
    _spec_json(run)
    (run / "results.json").write_text(json.dumps({"best_epoch": 5, "stopped_early": True}))
    figures: dict = {}
    paths = plot_run(run, figures=figures)
    assert [p.name for p in paths] == ["loss.png", "accuracy.png", "lr.png"]
    for name, fig in figures.items():
        ax = fig.axes[0]
        assert ax.get_title().startswith("toy: "), name
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 7]
        assert ticks and all(float(t).is_integer() for t in ticks), (name, ticks)
        assert ax.get_xlabel() == "epoch"
        best = [line for line in ax.get_lines() if list(line.get_xdata()) == [5, 5]]
        assert len(best) == 1, name
        assert "best epoch 5" in [t.get_text() for t in ax.get_legend().get_texts()][-1]
    assert figures["loss.png"].axes[0].get_title() == "toy: loss (cross_entropy)"


def test_best_epoch_from_spec_when_results_are_not_written_yet(tmp_path: Path) -> None:
    rows = [
        {"epoch": e, "train_loss": 1 / e, "valid_loss": v}
        for e, v in enumerate([0.9, 0.5, 0.6, 0.7], start=1)
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _spec_json(tmp_path, patience=2)
    figures: dict = {}
    plot_run(tmp_path, figures=figures)
    labels = [t.get_text() for t in figures["loss.png"].axes[0].get_legend().get_texts()]
    assert labels[-1] == "best epoch 2 (restored)"
    _spec_json(tmp_path, patience=5)  # not stopped early: nothing restored, no marker
    plot_run(tmp_path, figures=figures)
    labels = [t.get_text() for t in figures["loss.png"].axes[0].get_legend().get_texts()]
    assert labels == ["train", "valid"]


def test_uninformative_metrics_are_not_drawn_and_confusion_is_a_heat_map(
    tmp_path: Path,
) -> None:
    rows = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "valid_accuracy": 0.5 + e / 10,
            "valid_top5_accuracy": 1.0,
            "valid_recall": 0.75,
        }
        for e in range(1, 5)
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "confusion_test.csv").write_text(
        "true \\ predicted,0,1,2,total,recall\n0,5,1,0,6,0.8333\n1,0,4,0,4,1.0000\n"
        "2,2,0,3,5,0.6000\n"
    )
    figures: dict = {}
    paths = plot_run(tmp_path, figures=figures)
    assert [p.name for p in paths] == ["loss.png", "accuracy.png", "confusion_test.png"]
    _png_size(tmp_path / "plots" / "confusion_test.png")
    ax = figures["confusion_test.png"].axes[0]
    assert "confusion matrix (test" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.texts][:3] == ["5", "1", "0"]
    bar = figures["confusion_test.png"].axes[1]
    assert len(bar.get_yticks()) >= 3


def test_dlc_run_draws_the_confusion_heat_map_its_report_writes(tmp_path: Path) -> None:
    """`dlc run --plots` writes confusion_test.csv in its report, after the plot thread may
    have looked for it: the heat map must be drawn all the same."""
    from dlc.runtime.cli import main

    root = Path(__file__).resolve().parent.parent
    code = main(
        [
            "run",
            str(root / "specs" / "digits_mlp.dl"),
            "--set",
            "train.epochs=1",
            "--runs",
            str(tmp_path),
            "--quiet",
            "--plots",
        ]
    )
    assert code == 0
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (run / "confusion_test.csv").is_file()
    assert (run / "plots" / "confusion_test.png").is_file()


def test_damaged_files_beside_the_metrics_never_stop_the_plots(tmp_path: Path) -> None:
    """A confusion CSV that is not UTF-8 and a spec.json whose early stop is nonsense: the
    plots that can be drawn are drawn (found by the run-folder fuzzer)."""
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_loss": 1.0, "valid_loss": 2.0}\n'
        '{"epoch": 2, "train_loss": 0.5, "valid_loss": "nan"}\n'
    )
    (run / "confusion_test.csv").write_bytes(b"true,0,1\n0,\x9c\xff,1\n")
    spec = {
        "spec": {
            "Spec": {
                "loss": {"mse": {}},
                "train": {
                    "Train": {
                        "early_stop": {
                            "EarlyStop": {
                                "restore_best": True,
                                "monitor": "valid_loss",
                                "patience": "x",
                            }
                        }
                    }
                },
            }
        }
    }
    (run / "spec.json").write_text(json.dumps(spec))
    paths = plot_run(run)
    assert (run / "plots" / "loss.png") in paths
