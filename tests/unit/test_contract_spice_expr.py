"""The contract's ngspice expressions compute what the contract's functions compute.

The expressions are evaluated as Python (ngspice's floor/min/max are the
usual ones on doubles) on the cases where the transfers are easy to get
wrong: halves, negatives, saturation, large requantization products.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from anncc.ir import contract as C


def _eval(expr: str, **nodes: float) -> float:
    text = expr
    for name, value in nodes.items():
        text = text.replace(f"v({name})", repr(float(value)))
    return float(eval(text, {"__builtins__": {}}, {"floor": math.floor, "min": min, "max": max}))


@pytest.mark.parametrize("bits,shift", [(8, 0), (4, 0), (3, 2), (6, 1)])
def test_adc_read_expr_is_adc_read_on_real_counts(bits, shift):
    counts = np.array([-3.0, -0.5, -0.49, 0.0, 0.49, 0.5, 1.5, 2.5, 3.999, 7.5, 254.5, 255.4, 300.0,
                       *np.random.default_rng(0).uniform(-20, 600, 300)])
    want = C.adc_read(counts, bits, shift)
    got = [_eval(C.adc_read_expr("v(c)", bits, shift), c=c) for c in counts]
    assert got == want.tolist()


@pytest.mark.parametrize("dac_bits", [1, 2, 3])
def test_input_plane_expr_is_input_planes_unsigned(dac_bits):
    x = np.arange(256)
    planes, _ = C.input_planes(x, 8, False, dac_bits)
    for t in range(planes.shape[0]):
        got = [_eval(C.input_plane_expr("v(q)", t, dac_bits), q=v) for v in x]
        assert got == planes[t].tolist()


def test_requantize_expr_is_requantize_with_large_products():
    rng = np.random.default_rng(1)
    acc = rng.integers(-120_000, 120_000, 400)
    acc[:3] = [0, 1, -1]
    for mult, shift, bias, zp, lo, hi in [(1_518_500_250, 38, 371, 0, 0, 255),
                                         (1 << 30, 31, -5, 3, -128, 127),  # exact halves
                                         (2_000_000_000, 40, 0, -7, -128, 127)]:
        want = C.requantize(acc, np.int64(bias), np.int64(mult), np.int64(shift), zp, lo, hi)
        expr = C.requantize_expr("v(a)", bias, mult, shift, zp, lo, hi)
        assert [_eval(expr, a=a) for a in acc] == want.tolist()
