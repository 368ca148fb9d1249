"""The integer contract of DESIGN.md section 4, checked on its worked example and at random.

The cell level's ideal read (planes, slices, polarities, ADC, shift-add) and the
requantization must reproduce every number of the worked example.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from anncc.ir.contract import adc_shift_for, max_column_count, requantize, slice_levels
from anncc.passes.allocate_resistance import ArrayLayout
from anncc.runtime.cell_kernels import ideal_tile

X_Q = [3, 0, 15, 7, 1]
W_Q = np.array([[5, -3], [-7, 2], [1, 0], [-2, 6], [4, -1]])
BIAS, MULT, SHIFT = [10, -4], [16384, 24576], [16, 16]


def contract_acc(x, w, rows_per_array, adc_bits, adc_shift, in_bits=4, in_signed=False,
                 dac_bits=1, w_bits=4, bits_per_cell=1):
    """Run the worked example's arrays: one ideal read per row tile, summed."""
    n_slices = -(-(w_bits - 1) // bits_per_cell)
    acc = torch.zeros(1, w.shape[1], dtype=torch.int64)
    for r0 in range(0, w.shape[0], rows_per_array):
        tile = w[r0:r0 + rows_per_array]
        rows, cols = tile.shape
        lay = ArrayLayout(rows_per_array, cols * n_slices * 2 + 1, rows, cols, n_slices)
        levels = np.zeros((lay.array_rows, lay.array_cols), dtype=np.uint8)
        levels[:rows, :lay.ref_col] = slice_levels(tile, n_slices, bits_per_cell).reshape(rows, -1)
        f = SimpleNamespace(in_bits=in_bits, in_signed=in_signed, dac_bits=dac_bits, adc_bits=adc_bits,
                            adc_shift=adc_shift, n_slices=n_slices, bits_per_cell=bits_per_cell,
                            cols=cols, ref_col=lay.ref_col)
        xt = torch.tensor([x[r0:r0 + rows]], dtype=torch.int64)
        acc += ideal_tile(xt, torch.from_numpy(levels), torch.from_numpy(lay.colmap()),
                          torch.arange(rows), torch.zeros_like(torch.from_numpy(levels)), f)
    return acc


@pytest.mark.parametrize("adc_bits,shift,acc_want,y_want", [
    (2, 0, [30, 28], [8, 11]),   # lossless: a 3-row binary column counts at most 3
    (1, 0, [27, 28], [7, 11]),   # clipping at code 1
    (1, 1, [44, 60], [11, 23]),  # LSB of 2, rounding half up
])
def test_worked_example_of_design_section_4(adc_bits, shift, acc_want, y_want):
    acc = contract_acc(X_Q, W_Q, 3, adc_bits, shift) + torch.tensor(BIAS)
    assert acc.tolist() == [acc_want]
    y = requantize(acc, torch.zeros(2, dtype=torch.int64), torch.tensor(MULT), torch.tensor(SHIFT),
                   0, 0, 255)
    assert y.tolist() == [y_want]


def test_lossless_read_of_worked_example_is_the_exact_product_20_32():
    # by hand: 3·5 + 0·(−7) + 15·1 + 7·(−2) + 1·4 = 20 and 3·(−3) + 0·2 + 15·0 + 7·6 + 1·(−1) = 32
    assert contract_acc(X_Q, W_Q, 3, 2, 0).tolist() == [[20, 32]]


@pytest.mark.parametrize("in_signed,dac_bits,bits_per_cell,w_bits", [
    (False, 1, 1, 4), (True, 1, 1, 4), (True, 2, 2, 5), (False, 4, 2, 8), (True, 3, 1, 3),
])
def test_lossless_adc_reproduces_integer_matmul(in_signed, dac_bits, bits_per_cell, w_bits):
    """With the shift that adc_shift_for picks for a wide ADC, every read equals x·W exactly."""
    rng = np.random.default_rng(7)
    in_bits = 8
    lo, hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed else (0, 255)
    q = (1 << (w_bits - 1)) - 1
    x = rng.integers(lo, hi + 1, size=(6, 13))
    w = rng.integers(-q, q + 1, size=(13, 5))
    got = torch.cat([contract_acc(list(row), w, 13, 16, 0, in_bits, in_signed, dac_bits, w_bits,
                                  bits_per_cell) for row in x])
    assert got.tolist() == (x @ w).tolist()


def test_adc_shift_is_zero_when_adc_covers_the_largest_count():
    levels = np.ones((3, 4), dtype=np.uint8)  # 3 rows of binary cells count at most 3
    assert max_column_count(levels, 1) == 3
    assert adc_shift_for(max_column_count(levels, 1), 2) == 0
    assert adc_shift_for(max_column_count(levels, 1), 1) == 1
    assert max_column_count(levels, 2) == 9  # 2-bit DAC digits reach 3


@pytest.mark.parametrize("in_signed,dac_bits", [(False, 1), (True, 1), (True, 2)])
def test_collapsed_read_equals_bit_serial_read_when_the_adc_is_lossless(in_signed, dac_bits):
    """adc_shift 0 and no column able to exceed the ADC: one product x·W_eff, same integers."""
    from anncc.runtime.cell_kernels import collapsed_weights

    rng = np.random.default_rng(3)
    rows, cols, ns, b = 12, 5, 3, 1
    lay = ArrayLayout(16, cols * ns * 2 + 4, rows, cols, ns)
    w = rng.integers(-7, 8, size=(rows, cols))
    levels = np.zeros((lay.array_rows, lay.array_cols), dtype=np.uint8)
    levels[:rows, :lay.ref_col] = slice_levels(w, ns, b).reshape(rows, -1)
    faults = (rng.random(levels.shape) < 0.1).astype(np.uint8) * rng.integers(1, 3, levels.shape)
    faults[:, lay.ref_col] = 0  # a stuck-high reference cell makes negative counts: no collapse
    f = SimpleNamespace(rows=rows, cols=cols, n_slices=ns, bits_per_cell=b, in_bits=6,
                        in_signed=in_signed, dac_bits=dac_bits, adc_bits=8, adc_shift=0,
                        ref_col=lay.ref_col)
    args = [torch.from_numpy(a) for a in (levels, lay.colmap(), np.arange(rows), faults.astype(np.uint8))]
    w_eff = collapsed_weights(*args, f)
    assert w_eff is not None
    lo, hi = (-32, 31) if in_signed else (0, 63)
    x = torch.from_numpy(rng.integers(lo, hi + 1, size=(9, rows)))
    np.testing.assert_array_equal((x @ w_eff).numpy(), ideal_tile(x, *args, f).numpy())
    # a 2-bit ADC can clip a column of 12 cells: the faithful read must run
    assert collapsed_weights(*args, SimpleNamespace(**dict(vars(f), adc_bits=2))) is None
    # so must it when a stuck-high reference cell can push a count below 0 (the ADC reads 0)
    faults[2, lay.ref_col] = 2
    ref_args = [*args[:3], torch.from_numpy(faults.astype(np.uint8))]
    assert collapsed_weights(*ref_args, f) is None
