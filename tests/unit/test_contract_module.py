"""One definition of the integer contract: `anncc.ir.contract`, and no second copy anywhere.

Each contract function is imported from the one place and checked on values
worked out by hand; a scan of the source tree finds no other definition (by
name, or by the tell-tale formula of a known former copy).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from anncc.ir import contract as C
from anncc.ir.contract import (
    accumulator_bound,
    adc_read,
    adc_shift_for,
    input_planes,
    irdrop_alpha_beta,
    irdrop_expected_error,
    max_abs_input,
    max_abs_weight,
    max_column_count,
    n_slices_for,
    plane_weights,
    requant_multiplier,
    requant_product_bound,
    requantize,
    shift_add,
    signed_bits,
    slice_levels,
    slice_weights,
    tmr_at_bias,
    tmr_at_bias_derivative,
    vote,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("driver", "frontend", "ir", "passes", "targets", "backends", "runtime", "bench",
               "examples")


def test_contract_module_does_not_import_torch():
    code = "import sys, anncc.ir.contract; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_public_name_is_exported():
    for name in C.__all__:
        assert hasattr(C, name), name


def _def_pattern(names: list[str]) -> re.Pattern[str]:
    """A `def NAME(` at any indent, or a module-level `NAME = ...`."""
    alt = "|".join(names)
    return re.compile(r"^(?:\s*def\s+(" + alt + r")\s*\(|(" + alt + r")\s*=[^=])", re.M)


def _sources():
    for d in SOURCE_DIRS:
        yield from (ROOT / d).rglob("*.py")


def test_no_second_definition_of_any_contract_function():
    """A `def` (or assignment) of a contract name, or a former copy's name, only in ir/contract.py."""
    names = [n for n in C.__all__ if callable(getattr(C, n))]
    former = ["adc", "adc_", "adc_convert", "product_bound", "expected_irdrop_error",
              "mtj_r_ap_at_bias_ohm", "dac_quantize"]
    pat = _def_pattern(names + former)
    formulas = [re.compile(p) for p in (
        r"tmr0\s*/\s*\(1(\.0)?\s*\+",          # TMR(V)
        r"N\s*\*\s*N\s*\+\s*M\s*\*\s*M",        # α of an N×M array
        r"\.median\(dim=0\)",                   # a vote
        r"<<\s*\(s\s*-\s*1\)\)\)\s*>>\s*s",     # the requantization rounding shift
    )]
    found = []
    for path in _sources():
        if path == ROOT / "ir" / "contract.py":
            continue
        text = path.read_text()
        found += [f"{path.relative_to(ROOT)}: def {m.group(1) or m.group(2)}" for m in pat.finditer(text)]
        found += [f"{path.relative_to(ROOT)}: {f.pattern}" for f in formulas if f.search(text)]
    assert found == []


def test_the_grep_would_see_a_copy():
    """The scan above is not vacuous: its pattern matches a re-definition and an alias."""
    pat = _def_pattern([n for n in C.__all__ if callable(getattr(C, n))])
    assert pat.search("x = 1\ndef adc_read(counts, bits, s):\n    return counts\n")
    assert pat.search("class T:\n    def vote(self, xs):\n        pass\n")
    assert pat.search("requantize = lambda *a: a\n")
    assert not pat.search("    f(shift_add=sa)\n")


# --------------------------------------------------------------------------- inputs and weights


def test_input_planes_signed_bit_serial_and_wide_dac():
    x = np.array([-3, 5])
    planes, w = input_planes(x, 4, True, 1)
    assert w == [1.0, 2.0, 4.0, -8.0]
    assert (np.tensordot(np.array(w), planes, 1) == x).all()  # −3 = 1 + 4 − 8 (bits 1101)
    planes2, w2 = input_planes(torch.tensor([-3, 5]), 4, True, 2)
    assert plane_weights(4, True, 2) == [1, 4, -16]
    assert (torch.tensordot(torch.tensor(w2, dtype=torch.float64), planes2.double(), 1)
            == torch.tensor([-3.0, 5.0])).all()


def test_slices_and_levels():
    assert slice_weights(3, 2) == [1, 4, 16]
    assert n_slices_for(8, 1) == 7 and n_slices_for(8, 2) == 4 and n_slices_for(2, 4) == 1
    lv = slice_levels(np.array([[5, -6]]), 2, 2)  # 5 = 1 + 4·1; −6: w⁻ = 6 = 2 + 4·1
    assert lv[0, 0].tolist() == [[1, 0], [1, 0]] and lv[0, 1].tolist() == [[0, 2], [0, 1]]


# --------------------------------------------------------------------------- ADC


def test_adc_rounds_real_counts_half_up_at_every_shift():
    """0.5, 2.5, 4.5 read 1, 3, 5 at s = 0: the s > 0 formula `floor(c/2^s + 1/2)` at s = 0."""
    c = np.array([0.5, 2.5, 4.5])
    assert adc_read(c, 8, 0).tolist() == [1.0, 3.0, 5.0]
    t = torch.tensor(c)
    assert adc_read(t, 8, 0).tolist() == [1.0, 3.0, 5.0]
    assert adc_read(t.clone(), 8, 0, inplace=True).tolist() == [1.0, 3.0, 5.0]
    # the same thresholds at s = 1 (counts doubled): 1 -> 2, 5 -> 6, 9 -> 10
    assert adc_read(np.array([1.0, 5.0, 9.0]), 8, 1).tolist() == [2.0, 6.0, 10.0]
    assert adc_read(np.array([1, 5, 9]), 8, 1).tolist() == [2, 6, 10]


def test_adc_integer_transfer_clips_and_reads_back():
    c = np.arange(0, 12)
    # 2-bit ADC, s = 1: code = min((c + 1) >> 1, 3), read back code·2
    want = [min((v + 1) >> 1, 3) * 2 for v in range(12)]
    assert adc_read(c, 2, 1).tolist() == want
    assert adc_read(torch.arange(-2, 3), 2, 0).tolist() == [0, 0, 0, 1, 2]
    assert adc_shift_for(7, 3) == 0 and adc_shift_for(8, 3) == 1 and adc_shift_for(0, 1) == 0
    assert max_column_count(np.ones((5, 2)), 1) == 5


def test_shift_add_by_hand():
    # 1 plane, 1 column, 2 slices of 1 bit: c⁺ = [1, 1], c⁻ = [0, 1]  -> (1 − 0)·1 + (1 − 1)·2 = 1
    v = np.array([[[1, 0, 1, 1]]])
    assert shift_add(v, [1.0], 2, 1, 1).tolist() == [[1]]
    assert shift_add(v, [-8.0], 2, 1, 1).tolist() == [[-8]]


# --------------------------------------------------------------------------- requantization, bounds


def test_requantize_rounds_half_up_and_clamps():
    # (acc + bias)·M = 6·16384 = 98304; (98304 + 2^15) >> 16 = 2 (1.5 rounds up to 2)
    acc, bias, m, s = np.array([5, -7]), np.array([1, 1]), np.array([16384, 16384]), np.array([16, 16])
    assert requantize(acc, bias, m, s, 0, -128, 127).tolist() == [2, -1]
    assert requantize(torch.tensor([5, -7]), torch.tensor([1, 1]), torch.tensor([16384, 16384]),
                      torch.tensor([16, 16]), 0, 0, 127).tolist() == [2, 0]
    assert requantize(torch.tensor([5.0, -7.0]), torch.tensor([1, 1]), torch.tensor([16384, 16384]),
                      torch.tensor([16, 16]), 0, -128, 127).tolist() == [2.0, -1.0]


def test_requant_multiplier_and_products():
    m, s = requant_multiplier(0.25)
    assert (m, s) == (1 << 30, 32)
    m2, s2 = requant_multiplier(0.25, max_bits=20)
    assert m2 == 1 << 19 and m2 / 2**s2 == 0.25
    with pytest.raises(ValueError):
        requant_multiplier(4.0e9)
    assert requant_product_bound(100, 10, 3, 2) == 110 * 3 + 2


def test_accumulator_bounds_by_hand():
    assert max_abs_input(8, True) == 128 and max_abs_input(8, False) == 255
    assert max_abs_weight(8) == 127
    # the layer: 2048 inputs of 16 bits (signed) times 8-bit weights
    b = accumulator_bound(2048, 16, True, 8)
    assert b == 2048 * 32768 * 127 and signed_bits(b) == 34  # 8.5e9 < 2^33
    assert signed_bits(127) == 8 and signed_bits(128) == 9


# --------------------------------------------------------------------------- IR drop, TMR(V), vote


def test_irdrop_alpha_beta_square_is_design_section_7():
    g = np.full((4, 4), 1e-4)
    a, b = irdrop_alpha_beta(g, 2.0, 10.0)
    assert a == pytest.approx(2.0 * 1e-4 * 16) and b == pytest.approx(10.0 * 1e-4 * 4)
    assert irdrop_expected_error(a, b) == pytest.approx(a / 2 + 2 * b)
    a2, b2 = irdrop_alpha_beta(np.full((2, 4), 1e-4), 2.0, 10.0)
    assert a2 == pytest.approx(2.0 * 1e-4 * (4 + 16) / 2) and b2 == pytest.approx(10.0 * 1e-4 * 3)


def test_tmr_at_bias_halves_at_v_half():
    assert tmr_at_bias(0.5, 1.0, 0.5) == pytest.approx(0.5)
    assert tmr_at_bias(np.array([0.0]), 2.0, 0.5).tolist() == [2.0]
    assert tmr_at_bias_derivative(0.0, 1.0, 0.5) == 0.0


def test_vote_masks_one_wrong_replica():
    good = np.array([10, -3, 7])
    bad = np.array([99, -3, -50])
    assert vote([good, bad, good]).tolist() == good.tolist()
    assert vote([bad, good, good]).tolist() == good.tolist()
    t = torch.tensor(good)
    assert vote([t, t, torch.tensor(bad)]).tolist() == good.tolist()
