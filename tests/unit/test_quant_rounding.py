"""GPTQ rounding (passes/_calibration.gptq_round) and `quantize{rounding=gptq}` end to end."""

from __future__ import annotations

import numpy as np
import pytest

from anncc.errors import AnnccError
from anncc.passes._calibration import gptq_round, minmax_scales, qmax, quantize_with_scale


def _correlated_inputs(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    base = rng.normal(size=(n, 3))
    return base @ rng.normal(size=(3, k)) + 0.1 * rng.normal(size=(n, k))


def test_gptq_lowers_output_error_on_correlated_inputs() -> None:
    rng = np.random.default_rng(0)
    x = _correlated_inputs(rng, 512, 24)
    m = rng.normal(size=(24, 6))
    s = minmax_scales(m, 3, True)
    h = (x.T @ x / len(x))[None]
    near = quantize_with_scale(m, s, 3)
    gq = gptq_round(m, s, 3, h)
    assert np.all(np.abs(gq) <= qmax(3, True)) and np.array_equal(gq, np.rint(gq))
    err = lambda q: float(np.sum((x @ (m - s * q)) ** 2))  # noqa: E731
    assert err(gq) < 0.7 * err(near)
    assert not np.array_equal(gq, near)


def test_gptq_keeps_group_blocks_zero_and_checks_shapes() -> None:
    rng = np.random.default_rng(1)
    groups, kg, og = 3, 4, 2
    m = np.zeros((groups * kg, groups * og))
    for g in range(groups):
        m[g * kg:(g + 1) * kg, g * og:(g + 1) * og] = rng.normal(size=(kg, og))
    x = rng.normal(size=(200, groups * kg))
    h = np.stack([x[:, g * kg:(g + 1) * kg].T @ x[:, g * kg:(g + 1) * kg] for g in range(groups)])
    q = gptq_round(m, minmax_scales(m, 4, True), 4, h, groups=groups)
    assert np.all(q[m == 0] == 0)
    with pytest.raises(AnnccError, match="does not match"):
        gptq_round(m, minmax_scales(m, 4, True), 4, h[:2], groups=groups)


def test_gptq_dead_inputs_round_to_zero() -> None:
    m = np.array([[0.5, -0.3], [0.2, 0.9]])
    h = np.array([[[1.0, 0.0], [0.0, 0.0]]])  # input 1 is always zero
    q = gptq_round(m, minmax_scales(m, 4, True), 4, h)
    assert np.all(q[1] == 0) and np.all(q[0] != 0)


def test_compile_with_gptq_and_bad_rounding() -> None:
    torch = pytest.importorskip("torch")
    import anncc

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()
    x = torch.randn(64, 12)
    ref = model(x).detach().numpy()
    outs = {}
    for r in ("nearest", "gptq"):
        cm = anncc.compile(model, (x[:1],), calib=x.numpy(), w_bits=3, rounding=r, bias_correct=False)
        outs[r] = float(np.mean((cm.run(x, level="xbar").numpy() - ref) ** 2))
    assert outs["gptq"] < outs["nearest"]
    with pytest.raises(AnnccError, match="unknown rounding"):
        anncc.compile(model, (x[:1],), calib=x.numpy(), rounding="up")
