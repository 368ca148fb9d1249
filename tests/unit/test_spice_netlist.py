"""The SPICE netlists: one mesh description, the runtime's chip, readable decks (no ngspice run)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from anncc.errors import AnnccError
from anncc.runtime.mesh import ArrayMesh


def test_array_mesh_elements_are_the_solvers_circuit():
    g = 1.0 / np.random.default_rng(0).uniform(5e3, 1e4, (3, 4))
    g[1, 2] = 0.0  # open site (a cmos level-0 cell): no resistor
    mesh = ArrayMesh(g, 2.5, 50.0, r_access_ohm=100.0)
    kinds: dict[str, int] = {}
    for e in mesh.elements():
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    assert kinds == {"row_contact": 3, "row_wire": 9, "access": 11, "cell": 11, "col_wire": 8,
                     "col_contact": 4}
    # the solver sees the access resistance in series with each cell
    want = np.where(g > 0, 1.0 / (1.0 / np.where(g > 0, g, 1) + 100.0), 0.0)
    np.testing.assert_array_equal(mesh.cell_conductances_s, want)
    from anncc.runtime.irdrop import effective_weights

    np.testing.assert_array_equal(mesh.effective_weights(), effective_weights(want, mesh.params))
    # an ideal mesh has no wires: each cell joins its row driver and its column's sense node
    ideal = list(ArrayMesh(g).elements())
    assert {e.kind for e in ideal} == {"cell"} and ideal[0].n1 == "in0" and ideal[0].n2 == "out0"
    with pytest.raises(AnnccError):
        ArrayMesh(-g)


@pytest.fixture(scope="module")
def mtj_arrays():
    import anncc
    from anncc.backends.spice.arrays import collect_arrays
    from anncc.examples import digits

    model = digits.train_mlp()
    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    cm = anncc.compile(model, x_test[:1], target="sot-mtj", w_bits=4, in_bits=8, calib=x_train[:128],
                       target_overrides={"array_rows": 32, "array_cols": 32})
    return cm, collect_arrays(cm, seed=3, names=["fc1.r0c0", "fc2.r0c0"])


def test_devices_are_the_runtimes_programmed_chip(mtj_arrays):
    from anncc.runtime.analog import operand_tensor, programmed_conductances
    from anncc.runtime.interpreter import ExecContext

    cm, arrays = mtj_arrays
    a = arrays[0]
    ctx = ExecContext(store=cm.store)
    levels, faults = (operand_tensor(v, ctx) for v in (a.op.levels, a.op.faults))
    g = programmed_conductances(a.op, levels, faults, cm.target(), seed=3).double().numpy()
    np.testing.assert_array_equal(a.mesh.g_s, g)
    # sot-mtj has device-to-device variation: another seed is another chip
    g4 = programmed_conductances(a.op, levels, faults, cm.target(), seed=4).double().numpy()
    assert not np.array_equal(g, g4)
    # and the runtime's IR-drop read is the effective weights of this very mesh
    np.testing.assert_allclose(a.model.g_read_s.double().numpy(), a.mesh.effective_weights(),
                               rtol=1e-12, atol=0)


def test_subckt_and_harness_are_readable_and_exact(mtj_arrays):
    from anncc.backends.spice.netlist import array_subckt, harness

    _, arrays = mtj_arrays
    a = arrays[0]
    text = array_subckt(a)
    assert "layer fc1, tile fc1.r0c0" in text and "chip seed 3" in text
    assert "output column 0, slice 1 (weight 2^1), polarity -" in text
    assert f"column {a.ref_col}: reference column" in text
    assert text.count(".subckt ARR_fc1_r0c0") == 1 and text.rstrip().endswith(".ends ARR_fc1_r0c0")
    # sot-mtj cells are bias-dependent (tmr_bias on by default): antiparallel parts are B-sources
    # of the runtime's closed form, fully parallel cells resistors
    assert a.mesh.bias is not None and "Cells are bias-dependent MTJs" in text
    cells = dict(re.findall(r"^(Rx\d+_\d+) \S+ \S+ (\S+)$", text, re.M))
    bsrc = re.findall(r"^Bx(\d+)_(\d+) (\S+) (\S+) I = V\(\3,\4\)\*\((\S+) \+ (\S+)/\(1 \+ (\S+)/"
                      r"\(1 \+ V\(\3,\4\)\*V\(\3,\4\)\*(\S+)\)\)\)$", text, re.M)
    assert len(cells) + len(bsrc) == 32 * 32 and cells and bsrc
    i, j = (int(t) for t in next(iter(cells))[2:].split("_"))
    assert float(cells[f"Rx{i}_{j}"]) == 1.0 / a.mesh.bias.a_s[i, j]  # exact doubles
    i, j, _, _, ca, cb, tmr0, k = bsrc[0]
    i, j = int(i), int(j)
    assert (float(ca), float(cb)) == (a.mesh.bias.a_s[i, j], a.mesh.bias.b_s[i, j])
    # the B-source's expression is the runtime's device: devices.mtj_cell_current
    from anncc.runtime import devices

    v = np.linspace(-0.3, 0.3, 7)
    i_b = v * (float(ca) + float(cb) / (1 + float(tmr0) / (1 + v * v * float(k))))
    i_rt, _ = devices.mtj_cell_current(torch.tensor(v), torch.tensor(a.mesh.g_s[i, j]),
                                       a.model.programmed.levels[i, j], a.target)
    np.testing.assert_allclose(i_b, i_rt.numpy(), rtol=1e-13, atol=0)
    elements = list(a.mesh.elements())
    assert sum(1 for line in text.splitlines() if re.match(r"^[RB]\w+ ", line)) == len(elements)
    v = np.zeros((3, 32))
    v[1, a.rowmap[:4]] = 0.1
    deck = harness(a, v)
    assert ".include arrays/fc1_r0c0.sub" in deck and "dc Vidx 0 2 1" in deck
    assert deck.count("Bdac") == 32 and "wrdata out/fc1_r0c0.csv" in deck
    assert len(re.findall(r"^Vsense\d+ out\d+ 0 DC 0$", deck, re.M)) == 32
    inline = harness(a, v, inline=True, control=False)
    assert ".control" not in inline and ".subckt ARR_fc1_r0c0" in inline


def test_write_spice_dir_layout(mtj_arrays, tmp_path):
    from anncc.backends.spice.emit import emit_spice

    cm, _ = mtj_arrays
    manifest = emit_spice(cm, tmp_path, seed=3, tiles=["fc1.r0c0"])
    assert list(manifest["arrays"]) == ["fc1_r0c0"]
    for rel in ("arrays/fc1_r0c0.sub", "fc1_r0c0.cir", "vectors/fc1_r0c0.npy",
                "lib/anncc_devices.lib", "run_spice.sh", "manifest.json"):
        assert (tmp_path / rel).exists(), rel
    assert "ngspice -b fc1_r0c0.cir" in (tmp_path / "run_spice.sh").read_text()
    lib = (tmp_path / "lib" / "anncc_devices.lib").read_text()
    assert ".subckt ANNCC_MTJ_READ" in lib and ".subckt ANNCC_OPAMP" in lib


def test_unknown_array_is_one_line_error(mtj_arrays):
    from anncc.backends.spice.arrays import collect_arrays

    cm, _ = mtj_arrays
    with pytest.raises(AnnccError, match="unknown array.*nope"):
        collect_arrays(cm, names=["nope"])


def test_missing_libngspice_says_how_to_install_it():
    """A fresh interpreter (PySpice declares its C API once per process) with no libngspice."""
    import subprocess
    import sys

    pytest.importorskip("PySpice")
    code = (
        "from PySpice.Spice.NgSpice.Shared import NgSpiceShared\n"
        "NgSpiceShared.LIBRARY_PATH = '/nonexistent/libngspice{}.so'\n"
        "from anncc.backends.spice.simulate import open_ngspice\n"
        "from anncc.errors import ToolMissingError\n"
        "try:\n    open_ngspice()\nexcept ToolMissingError as e:\n    print('ERR', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ERR ")]
    assert len(lines) == 1, proc.stdout + proc.stderr
    assert "libngspice could not be loaded" in lines[0]
    assert lines[0].endswith("(install it with: apt-get install -y libngspice0-dev)")


def test_covering_sample_takes_every_layer_above_the_limit(monkeypatch):
    from types import SimpleNamespace

    from anncc.backends.spice import arrays

    class FakeOp:
        def __init__(self, layer: str, tile: str):
            self.tile, self.layer = SimpleNamespace(data=tile), SimpleNamespace(data=layer)

    ops = [FakeOp(f"conv{layer}", f"conv{layer}.r{r}c0") for layer in range(3) for r in range(40)]
    monkeypatch.setattr(arrays, "_mvm_ops", lambda model: ops)
    assert len(arrays.covering_sample(None, limit=200)) == 120  # all when at most the limit
    chosen = arrays.covering_sample(None, limit=10)
    assert len(chosen) == 10 and {"conv0.r0c0", "conv1.r0c0", "conv2.r0c0"} <= set(chosen)
    order = [op.tile.data for op in ops]
    assert chosen == sorted(chosen, key=order.index)
    assert arrays.layer_of(ops[41]) == "conv1"
