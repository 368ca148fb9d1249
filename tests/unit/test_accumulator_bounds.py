"""Bounded accumulators: tile sizes every accumulator from bit widths and fan-in (issue 8).

`nn.Linear(2048, 1)` with weights 0.5 on inputs of ones and halves at
`w_bits=8, in_bits=16`: the worst case |acc| = 2048·2^15·127 ≈ 8.5e9 needs 34
bits (35 for unsigned inputs, as here), so the layer accumulator is si64 (`acc_bits = 34`) and the
requantization multiplier keeps `(acc + bias)·M` inside int64; each array's
partial sum stays si32 (rows split where needed).
"""

from __future__ import annotations

import pytest
import torch

import anncc
from anncc.errors import AnnccError
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.xbar import AccumulateOp, MvmOp, RequantOp, int_info
from anncc.passes.tile import LayerBounds


@pytest.fixture(scope="module")
def wide():
    m = torch.nn.Linear(2048, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(0.5)
    x = torch.stack([torch.ones(2048), torch.full((2048,), 0.5)])
    cm = anncc.compile(m, x[:1], target="rram", calib=x, w_bits=8, in_bits=16,
                       target_overrides={"array_rows": 1024, "array_cols": 64, "adc_bits": 16})
    return m, x, cm


def test_wide_fan_in_gives_the_float_result_at_xbar_and_cell(wide):
    m, x, cm = wide
    assert m(x).flatten().tolist() == [1024.0, 512.0]
    for level in ("xbar", "cell"):
        y = cm.run(x, level=level).flatten()
        # within one 16-bit output step (1024 / 65535 = 0.016); a 16-bit ADC is lossless here
        assert y.tolist() == pytest.approx([1024.0, 512.0], abs=0.04), level


def test_the_ir_carries_the_accumulator_widths(wide):
    _, _, cm = wide
    per_row = (2**16 - 1) * 127  # one unsigned 16-bit input (non-negative calibration) times 127
    xbar = cm.ir("xbar")
    tiles = [o for o in xbar.walk() if isinstance(o, MvmOp)]
    # a 1024-row array would sum up to 1024·per_row > 2^31: rows are split to 2^31 // per_row
    assert all(t.rows <= (2**31 - 1) // per_row for t in tiles)
    assert sum(t.rows for t in tiles) == 2048
    for t in tiles:
        assert t.acc_bits.value.data == (t.rows * per_row).bit_length() + 1 <= 32
    (acc,) = [o for o in xbar.walk() if isinstance(o, AccumulateOp)]
    assert acc.acc_bits.value.data == (2048 * per_row).bit_length() + 1 == 35
    assert int_info(acc.result.type) == (64, True)
    (req,) = [o for o in xbar.walk() if isinstance(o, RequantOp)]
    assert req.acc_bits.value.data == 35 and req.product_bits.value.data <= 64
    cells = [o for o in cm.ir("cell").walk() if isinstance(o, CellMvmOp)]
    assert [c.acc_bits.value.data for c in cells] == [t.acc_bits.value.data for t in tiles]


def test_a_layer_beyond_int64_is_refused_naming_layer_and_bound():
    with pytest.raises(AnnccError, match=r"layer 'fc9'.*requantization product.*lower in-bits"):
        LayerBounds.of("fc9", 2**30, 16, True, 8, 0)
    b = LayerBounds.of("fc", 2048, 16, True, 8, 0)
    assert (b.acc_bits, b.acc_type_bits, b.array_rows) == (34, 64, (2**31 - 1) // (2**15 * 127))
    assert b.mult_bits == 62 - (2048 * 2**15 * 127).bit_length()
    small = LayerBounds.of("fc", 784, 8, False, 8, 1000)
    assert (small.acc_type_bits, small.mult_bits) == (32, 31)
