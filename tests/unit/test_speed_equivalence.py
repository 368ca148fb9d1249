"""The fast read paths give the reference paths' integers bit for bit (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_ir import cell_array, random_inputs, random_weights

from anncc.runtime.cell_kernels import IdealRead, ideal_tile
from anncc.targets import get_target


@pytest.mark.parametrize("target,in_bits,signed,dac_bits,adc_bits,adc_shift,faulty", [
    ("rram", 8, False, 1, 4, 1, False),     # lossy ADC: clipping and rounding
    ("rram", 8, True, 2, 5, 0, True),       # signed inputs, 2-bit DAC, stuck cells
    ("pcm", 6, False, 3, 8, 2, False),
    ("sot-mtj", 4, True, 1, 3, 0, True),
])
def test_prepared_ideal_read_equals_ideal_tile(target, in_bits, signed, dac_bits, adc_bits,
                                               adc_shift, faulty):
    t = get_target(target)
    w = random_weights(70, 9, w_bits=5, seed=3)
    faults = None
    if faulty:
        rng = np.random.default_rng(0)
        ar, ac = max(70, t.array_rows), max(9 * 2 * -(-4 // t.bits_per_cell) + 1, t.array_cols)
        faults = rng.choice([0, 1, 2], size=(ar, ac), p=[0.9, 0.05, 0.05]).astype(np.uint8)
    ca = cell_array(w, t, in_bits=in_bits, in_signed=signed, dac_bits=dac_bits,
                    adc_bits=adc_bits, adc_shift=adc_shift, w_bits=5, faults=faults)
    f = ca.op.params()
    x = torch.as_tensor(random_inputs(33, 70, in_bits=in_bits, signed=signed, seed=5))
    _x, _w, levels, colmap, rowmap, fm = ca.args
    want = ideal_tile(x, levels, colmap, rowmap, fm, f)
    got = IdealRead.of(levels, colmap, rowmap, fm, f).read(x, f)
    assert got.dtype == torch.int64 and torch.equal(got, want)
