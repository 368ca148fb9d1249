"""Malformed IR text fails with one clear IRError, never another exception or a traceback.

DESIGN.md section 11: malformed IR is a failure a user can cause, so it gets
one message naming the place (`file:line:col`) and a non-zero exit. A
hypothesis test mutates a valid module that uses all three dialects (deleting,
inserting and replacing characters and whole tokens) and feeds it to
`anncc.ir.parse_module`: it may parse, or raise IRError, and nothing else. Then
`anncc-opt` is run on bad files as a user would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anncc.errors import IRError
from anncc.ir import parse_module, print_module

#: A valid module with every level: an `ann` layer, its `xbar` tiles, a `cell` array.
VALID_IR = """\
func.func @net(%x: tensor<?x5xf32>) -> tensor<?x2xf32> {
  %w = ann.weight "fc.weight" digest "0123456789abcdef" : tensor<2x5xf32>
  %b = ann.constant dense<[1.000000e+00, -2.000000e+00]> : tensor<2xf32> : tensor<2xf32>
  %h = ann.linear %x, %w, %b : (tensor<?x5xf32>, tensor<2x5xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %r = ann.relu %h : tensor<?x2xf32> -> tensor<?x2xf32>
  %q = xbar.quantize %r {scale = 6.250000e-02 : f64} : tensor<?x2xf32> -> tensor<?x2xui4>
  func.return %r : tensor<?x2xf32>
}
func.func @tiles(%x: tensor<?x5xui4>) -> tensor<?x2xui8> {
  %w = ann.weight "fc.qweight" digest "0123456789abcdef" : tensor<5x2xsi4>
  %p0 = xbar.mvm %x, %w tile "fc.r0c0" <3x2 at 0, 0> layer "fc" w_bits 4 acc_bits 10 \
: (tensor<?x5xui4>, tensor<5x2xsi4>) -> tensor<?x2xsi32>
  %lv, %cm, %rm = "test.op"() : () -> (tensor<3x13xui8>, tensor<2x3x2xsi32>, tensor<2xsi32>)
  %ok = ann.constant dense<0> : tensor<3x13xui8> : tensor<3x13xui8>
  %p1 = cell.mvm %x, %w, %lv, %cm, %rm, %ok tile "fc.r1c0" <2x2 at 3, 0> layer "fc" w_bits 4 \
acc_bits 9 array <3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, \
spare_cols = 0> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, \
g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x13xui8>, tensor<2x3x2xsi32>, \
tensor<2xsi32>, tensor<3x13xui8>) -> tensor<?x2xsi32>
  %v = cell.vote %p1, %p1, %p1 layer "fc" : (tensor<?x2xsi32>, tensor<?x2xsi32>, \
tensor<?x2xsi32>) -> tensor<?x2xsi32>
  %acc = xbar.accumulate %p0, %v layer "fc" acc_bits 11 : (tensor<?x2xsi32>, tensor<?x2xsi32>) \
-> tensor<?x2xsi32>
  %bias, %mult, %shift = "test.op"() : () -> (tensor<2xsi32>, tensor<2xsi32>, tensor<2xsi32>)
  %y = xbar.requant %acc, %bias, %mult, %shift layer "fc" acc_bits 11 product_bits 42 \
{zero_point = 0 : i64, lo = 0 : i64, \
hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x2xsi32>, tensor<2xsi32>, \
tensor<2xsi32>, tensor<2xsi32>) -> tensor<?x2xui8>
  func.return %y : tensor<?x2xui8>
}
""".replace("\\\n", "")

TOKEN = re.compile(r'%\w+|"[^"]*"|#?\w+(?:\.\w+)*|[^\s\w]')
#: Tokens of the valid module plus ones that stress the parser (huge, negative, dynamic).
VOCABULARY = sorted(set(TOKEN.findall(VALID_IR))) + [
    "?", "x", "0", "-1", "4097", "99999999999999999999", "1.0e400", "tensor<", "dense<",
    "array<i64:", "#ann.quant<", "si4", "ui8", "f32", "i1", "index", "<", ">", "{", "}", "(",
    ")", "[", "]", ",", ":", "=", "->", '"', "\n", "// -----", "^bb0:", "loc(", "@",
]
CHARACTERS = "0123456789?x<>{}()[],:=\"%#@!-.e \n\\"


@st.composite
def mutated_ir(draw: st.DrawFn) -> str:
    """VALID_IR after 1-4 random edits of characters or whole tokens."""
    text = VALID_IR
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "delete-token",
                                     "insert-token", "replace-token", "swap-lines"]))
        if kind in ("delete", "insert", "replace"):
            i = draw(st.integers(0, max(len(text) - 1, 0)))
            if kind == "delete":
                text = text[:i] + text[i + draw(st.integers(1, 8)):]
            else:
                ch = draw(st.sampled_from(CHARACTERS))
                text = text[:i] + ch + text[i + (kind == "replace"):]
        elif kind == "swap-lines":
            lines = text.splitlines(keepends=True)
            if len(lines) >= 2:
                i = draw(st.integers(0, len(lines) - 2))
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
                text = "".join(lines)
        else:
            tokens = list(TOKEN.finditer(text))
            if not tokens:
                continue
            tok = tokens[draw(st.integers(0, len(tokens) - 1))]
            new = "" if kind == "delete-token" else draw(st.sampled_from(VOCABULARY))
            if kind == "insert-token":
                text = text[:tok.start()] + new + " " + text[tok.start():]
            else:
                text = text[:tok.start()] + new + text[tok.end():]
    return text


def test_the_seed_module_is_valid_and_round_trips() -> None:
    module = parse_module(VALID_IR, "seed.mlir")
    text = print_module(module)
    assert print_module(parse_module(text)) == text
    names = {op.name.split(".")[0] for op in module.walk()}
    assert {"ann", "xbar", "cell"} <= names


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_ir())
def test_mutated_ir_either_parses_or_raises_one_located_irerror(text: str) -> None:
    try:
        parse_module(text, "fuzz.mlir")
    except IRError as e:
        message = str(e)
        assert message.startswith("fuzz.mlir:"), f"no place named: {message!r}"
        assert "Traceback" not in message
    # any other exception propagates and fails the test, with hypothesis's shrunk input


# --------------------------------------------------------------------------- anncc-opt

BAD_SYNTAX = VALID_IR.replace("%h = ann.linear %x, %w, %b", "%h = ann.linear %x %w, %b")
BAD_SCALE = VALID_IR.replace("scale = 6.250000e-02", "scale = -6.250000e-02")


def _anncc_opt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "anncc.opt", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(("name", "text", "needle", "column"), [
    ("bad.mlir", BAD_SYNTAX, "%h = ann.linear", 19),  # a parse error: at the bad operand list
    ("bad_scale.mlir", BAD_SCALE, "%q = xbar.quantize", 3),  # a verifier error: at the op
], ids=["parse-error", "verify-error"])
def test_anncc_opt_reports_file_line_column_and_exits_1(
        tmp_path: Path, name: str, text: str, needle: str, column: int) -> None:
    (tmp_path / name).write_text(text)
    proc = _anncc_opt(name, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{name}:{_line_of(text, needle)}:{column}: error: " in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_anncc_opt_locates_errors_in_later_chunks_of_a_split_file(tmp_path: Path) -> None:
    text = VALID_IR + "// -----\n" + BAD_SCALE
    (tmp_path / "split.mlir").write_text(text)
    proc = _anncc_opt("split.mlir", "--split-input-file", cwd=tmp_path)
    line = VALID_IR.count("\n") + 1 + _line_of(BAD_SCALE, "%q = xbar.quantize")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"split.mlir:{line}:3: error: xbar.quantize: scale must be positive" in proc.stderr


def test_an_unclosed_string_on_a_long_line_fails_fast(tmp_path: Path) -> None:
    """xDSL 0.74's lexer backtracked exponentially here (hours); ir/_xdsl.py patches it."""
    text = VALID_IR.replace('<2x2 at 3, 0> layer "fc"', '<2x2 at 3, 0> layer "fc')
    (tmp_path / "quote.mlir").write_text(text)
    proc = _anncc_opt("quote.mlir", cwd=tmp_path)  # the subprocess timeout bounds a regression
    line = _line_of(text, "%p1 = cell.mvm")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"quote.mlir:{line}:" in proc.stderr and "string literal" in proc.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["missing.mlir"], "input file missing.mlir does not exist"),
    (["ok.mlir", "-p", "quantise"], "unknown pass 'quantise' (did you mean quantize?"),
    (["ok.mlir", "-p", "cse{"], "malformed pass pipeline"),
    (["ok.mlir", "-p", "canonicalize{bogus=1}"], "pass 'canonicalize'"),
    (["ok.mlir", "--weights", "nope.npz"], "weights file nope.npz does not exist"),
])
def test_anncc_opt_user_errors_are_one_message_and_exit_1(
        tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "ok.mlir").write_text(VALID_IR)
    proc = _anncc_opt(*args, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr and expected in proc.stderr, proc.stderr
