"""The RTL's behavioural crossbar sees a stuck-high reference cell as the runtime's ideal cell
level does (anncc.runtime.cell_kernels.sensed_levels): bit-exact on an MLP whose arrays carry
reference-column faults, and the faults do change the outputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import anncc
from anncc.examples import digits

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog is not installed")]


def test_rtl_is_bit_exact_with_stuck_reference_cells(tmp_path):
    from anncc.backends.verilog import emit_rtl, write_vectors
    from anncc.backends.verilog.verify import run
    from anncc.ir.cell import MvmOp

    model = digits.train_mlp()
    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    kw = dict(target="sot-mtj", w_bits=4, in_bits=8, calib=x_train[:256])
    clean = anncc.compile(model, x_test[:1], **kw)
    maps = {}
    for op in clean.ir("cell").walk():
        if isinstance(op, MvmOp):
            f = op.params()
            fm = np.zeros((f.array_rows, f.array_cols), np.uint8)
            fm[[0, 3, 9], f.ref_col] = 2  # stuck high on driven rows
            fm[1, 0] = 1
            maps[f.tile] = fm
    np.savez(tmp_path / "faults.npz", **maps)
    with pytest.warns(UserWarning, match="reference-column"):
        faulty = anncc.compile(model, x_test[:1], fault_map=str(tmp_path / "faults.npz"), **kw)
    x = x_test[:40]
    assert not np.array_equal(faulty.run(x, level="cell").numpy(), clean.run(x, level="cell").numpy())
    emit_rtl(faulty, tmp_path / "rtl")
    write_vectors(faulty, x, tmp_path / "rtl")
    res = run(tmp_path)
    assert res["vectors"] == len(x)
    assert res["passed"] and res["mismatches"] == 0, res["lines"]
