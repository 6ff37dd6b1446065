"""Property test of the front end: any text gives a valid spec or a `DlcError` with locations.

Thousands of mutated real specs (characters and tokens deleted, inserted and replaced, lines
swapped, random names and numbers, deep nesting, unicode) and random texts go through
`load_spec`; the only acceptable outcomes are a `Spec` (which must survive the `dlc explain`
round trip) or a `DlcError` whose every diagnostic says where: a span with line >= 1 and
column >= 1, or a `where` string. No data is loaded and JAX is never imported.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlc.compiler.errors import DlcError, Span
from dlc.compiler.explain import to_dl
from dlc.compiler.frontend import load_spec
from dlc.compiler.spec import Spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
SECONDS_PER_SPEC = 5  # a spec of a few hundred characters takes milliseconds

EXTRA = [
    # blocks with parameters, repeat, dropout, batchnorm, a schedule chain, a sectioned train
    "block mlp(width, act=relu, rate=0.1) {\n  dense width\n  act\n  dropout rate\n}\n"
    "data {\n  fizzbuzz train=[101, 1023] test=[1, 100]\n  split valid=0.1\n}\n"
    "model {\n  repeat 2 { mlp 64 }\n  batchnorm\n  dense 4\n}\n"
    "loss cross_entropy\noptimizer adamw lr=3e-4 weight_decay=1e-2\n"
    "schedule warmup(10) then cosine\n"
    'train { batch 64; epochs 3; seed 7; early_stop patience=2 monitor="valid_accuracy" }\n'
    "regularize l2=1e-4\n",
    "data { digits flat=true; normalize minmax }\nmodel { dense 32; tanh; dense 10 }\n"
    "loss cross_entropy\noptimizer rmsprop lr=0.01\n"
    "schedule step([100, 200], factor=0.5) then exponential(0.9)\n",
    'data {\n  csv "x.csv" target=y id=id features=[a, b] delimiter=";"\n  divide 255\n}\n'
    "model { reshape [2, 1]; flatten; layernorm; dense 1 }\nloss mae\noptimizer sgd lr=0.1\n",
    'data { csv "données/日本🙂.csv" target=y }\nmodel { dense 1 }\nloss mse\noptimizer adam\n',
]
BASES = [p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.dl"))] + EXTRA

WORDS = [
    "data",
    "model",
    "loss",
    "optimizer",
    "schedule",
    "train",
    "regularize",
    "block",
    "repeat",
    "csv",
    "digits",
    "fizzbuzz",
    "idx",
    "mnist",
    "fashion_mnist",
    "window",
    "split",
    "normalize",
    "divide",
    "dense",
    "relu",
    "sigmoid",
    "dropout",
    "batchnorm",
    "layernorm",
    "reshape",
    "flatten",
    "softmax",
    "mse",
    "mae",
    "cross_entropy",
    "binary_cross_entropy",
    "sgd",
    "adam",
    "adamw",
    "warmup",
    "cosine",
    "then",
    "constant",
    "step",
    "exponential",
    "batch",
    "epochs",
    "seed",
    "early_stop",
    "patience",
    "monitor",
    "restore_best",
    "checkpoint_every",
    "eval_every",
    "lr",
    "units",
    "rate",
    "target",
    "features",
    "id",
    "true",
    "false",
    "none",
    "standard",
    "time",
    "shuffle",
    "stratified",
    "valid",
    "test",
    "l1",
    "l2",
    "init",
    "bias",
    "size",
]
NUMBERS = [
    "0",
    "1",
    "-1",
    "+3",
    "0.5",
    ".5",
    "1.",
    "1e-3",
    "3E+2",
    "1_000",
    "1__0",
    "1e999",
    "-1e999",
    "1e-400",
    "99999999999999999999999",
    "0x10",
    "1e",
    "007",
    "2.5e-",
    "nan",
    "inf",
    "-0",
]
SYMBOLS = [
    *"{}[]()=,;#\"'\n\t .-+_\\",
    "then",
    "\\x4",
    "\\u00e9",
    "\\N{x}",
    "\r\n",
    "{\n",
    "}\n",
    "\r",
]
UNICODE = ["é", "ß", "Δ", "日本", "\u200b", "\ufeff", "🙂", "\x00", "\x0b", "\x1b[31m", "\u2028"]
_TOKEN_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_]\w*|[+-]?\d[\w.+-]*|\S')
_NUMBER_RE = re.compile(r"[+-]?\d[\w.+-]*")

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
numbers = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
no_backslash = st.text(max_size=6).map(lambda s: s.replace("\\", ""))
strings = st.text(max_size=12).map(lambda s: '"' + re.sub(r'["\\\n\r]', "", s) + '"')
fragments = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(SYMBOLS),
    st.sampled_from(UNICODE),
    names,
    numbers,
    strings,
    no_backslash,
)
OPS = [
    "del_chars",
    "insert",
    "replace_token",
    "delete_token",
    "replace_number",
    "replace_name",
    "swap_lines",
    "duplicate_line",
    "delete_line",
    "nest",
]


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(OPS))
        if op == "del_chars" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i + draw(st.integers(1, 8)) :]
        elif op == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(fragments) + text[i:]
        elif op.endswith(("_token", "_number", "_name")):
            regex = _NUMBER_RE if op == "replace_number" else _TOKEN_RE
            spans = [m.span() for m in regex.finditer(text)]
            if not spans:
                continue
            a, b = draw(st.sampled_from(spans))
            new = {
                "replace_token": fragments,
                "delete_token": st.just(""),
                "replace_number": numbers,
                "replace_name": st.one_of(names, st.sampled_from(WORDS)),
            }[op]
            text = text[:a] + draw(new) + text[b:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "swap_lines":
                lines[i], lines[j] = lines[j], lines[i]
            elif op == "duplicate_line":
                lines.insert(j, lines[i])
            elif op == "delete_line":
                del lines[i]
            else:  # wrap a line in blocks nested up to 40 deep
                head = draw(st.sampled_from(["model {", "repeat 2 {", "train {", "x {", "{"]))
                depth = draw(st.integers(1, 40))
                lines[i] = head * depth + lines[i] + "}" * depth
            text = "\n".join(lines)
    return text


random_texts = st.one_of(
    st.text(max_size=200),
    st.lists(fragments, max_size=40).map(" ".join),
    st.lists(st.lists(fragments, max_size=8).map(" ".join), max_size=12).map("\n".join),
)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Turn a hang (e.g. an exponential expansion) into a failure naming the input. The alarm
    repeats, since one that fires inside a gc callback is swallowed as "unraisable"."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"load_spec took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.2)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.perf_counter() - start < seconds, f"load_spec took more than {seconds} s"


def _check_span(span: Span) -> None:
    assert isinstance(span.line, int) and span.line >= 1, span
    assert isinstance(span.column, int) and span.column >= 1, span


def check_outcome(text: str, seconds: float = SECONDS_PER_SPEC) -> None:
    """`load_spec(text)` returns a valid spec or raises a fully located DlcError; nothing else."""
    try:
        with time_limit(seconds):
            resolved = load_spec(text)
    except DlcError as err:
        assert err.diagnostics, "a DlcError without diagnostics"
        for d in err.diagnostics:
            assert d.message
            if d.span is not None:
                _check_span(d.span)
            else:
                assert isinstance(d.where, str) and d.where, f"no location for: {d.message}"
            for _, note_span in d.notes:
                _check_span(note_span)
        assert err.render()  # rendering (source snippets, carets) must not fail either
        return
    assert isinstance(resolved.spec, Spec)
    again = load_spec(to_dl(resolved.spec), check_grid_paths=False)  # expanded: no `repeat`
    assert again.spec == resolved.spec, to_dl(resolved.spec)


FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


@settings(FUZZ, max_examples=1500)
@given(mutated_specs())
def test_mutated_specs_give_a_spec_or_a_located_error(text: str) -> None:
    check_outcome(text)


@settings(FUZZ, max_examples=500)
@given(random_texts)
def test_random_text_gives_a_spec_or_a_located_error(text: str) -> None:
    check_outcome(text + "\n")  # with a newline it is always text, never a file name


@pytest.mark.parametrize("base", BASES, ids=lambda t: t.split("\n", 1)[0][:30])
def test_the_unmutated_bases_are_valid(base: str) -> None:
    """The mutations start from valid specs (else the property test would test less)."""
    assert isinstance(load_spec(base).spec, Spec)
    expanded = to_dl(load_spec(base).spec)  # its grid may name a `repeat` it no longer has
    assert load_spec(expanded, check_grid_paths=False).spec == load_spec(base).spec


@pytest.mark.parametrize(
    "text",
    [
        "a" * 300,  # one line is first tried as a file name: too long for the OS (was OSError)
        "loss mse",
        "model { dense 1 }",
        "\x00",
        "",
        "model {" * 200 + "}" * 200 + "\n",
        "block b { b }\nmodel { b }\n",
        "block a { b }\nblock b { a }\nmodel { a }\n",
        "model { dense 1 }\nloss mse\noptimizer sgd lr=" + "9" * 400 + "\n",
        "schedule " + " then ".join(["cosine"] * 500) + "\n",
        "train { epochs " + "[" * 100 + "]" * 100 + " }\n",
        'data { csv "\U00060768\x9e" target=y }\nmodel { dense 1 }\nloss mse\noptimizer sgd\n',
    ],
    ids=lambda t: repr(t)[:40],
)
def test_hand_picked_edge_cases(text: str) -> None:
    check_outcome(text)


def test_explain_writes_strings_that_read_back() -> None:
    """Beyond U+FFFF json.dumps wrote surrogate pairs, which read back as two characters."""
    text = 'data { csv "🙂\x9e\t.csv" target=y }\nmodel { dense 1 }\nloss mse\noptimizer sgd\n'
    spec = load_spec(text).spec
    assert spec.data.source.path == "🙂\x9e\t.csv"
    assert load_spec(to_dl(spec)).spec == spec


_VALID = "model {{ dense 1 }}\nloss mse\noptimizer sgd\n{}\n"
# found by this file's fuzzing and fixed (string escapes, repeat blow-up, missing file location)
FOUND_BUGS = [
    pytest.param(  # compiler/ast.py `_unescape`: UnicodeDecodeError escapes load_spec
        _VALID.format('data { csv "a\\x.csv" target=y }'), id="truncated-x-escape"
    ),
    pytest.param(_VALID.format('data { csv "\\N{nope}" target=y }'), id="unknown-N-escape"),
    pytest.param(  # DeprecationWarning (an error under pytest): invalid escape sequence '\d'
        _VALID.format('data { csv "C:\\data\\d.csv" target=y }'), id="windows-path"
    ),
    pytest.param(  # compiler/expand.py: nested repeats multiply without a bound (25 s)
        "model { repeat 1000 { repeat 1000 { dense 1 } } }\nloss mse\n", id="repeat-product"
    ),
    pytest.param(  # 2**14 copies of `optimizer`: 16383 "set twice" errors, 7 MB of text
        "model { dense 1 }\nloss mse\n" + "repeat 2 {" * 14 + "optimizer sgd" + "}" * 14 + "\n",
        id="error-flood",
    ),
    pytest.param(  # compiler/parser.py `read_spec_file`: the DlcError has no span nor where
        "missing-spec-file.dl", id="missing-file-no-location"
    ),
    pytest.param(  # compiler/resolve.py: a bad first `grid` left None for the second to extend
        _VALID.format('experiment {\n  grid 0 [1, 2]\n  grid "optimizer.lr" [0.1, 0.2]\n}'),
        id="bad-grid-then-grid",
    ),
]


@pytest.mark.parametrize("text", FOUND_BUGS)
def test_found_bugs_stay_fixed(text: str) -> None:
    check_outcome(text, seconds=2)
    if "repeat 2 {" in text:  # the flood: a handful of errors, not thousands
        with pytest.raises(DlcError) as info:
            load_spec(text)
        assert len(info.value.diagnostics) <= 50


def test_non_ascii_with_an_escape_reads_back_unchanged() -> None:
    """The parser once decoded strings as UTF-8 bytes through unicode_escape (é -> Ã©)."""
    text = _VALID.format('data { csv "é\\t.csv" target=y }')
    assert load_spec(text).spec.data.source.path == "é\t.csv"
