"""The Verilog emitter without a simulator: plan, widths from the contract's bounds, files, maps."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

import anncc
from anncc.backends.verilog.emit import (
    _inverse_rowmap,
    _packed_hex,
    emit_rtl,
    layer_params,
    ps_width,
    tile_bounds,
)
from anncc.backends.verilog.plan import bitlen_signed, build_plan, verilog_name
from anncc.errors import AnnccError


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    x = torch.rand(32, 12)
    return anncc.compile(model, x[:1], target="sot-mtj", w_bits=4, in_bits=8, calib=x), x


def test_tile_bound_of_the_worked_example():
    # DESIGN.md section 4: 3-row arrays, three 1-bit slices, adc_bits 2, s = 0 -> a column reads at most 3
    f = dict(bits_per_cell=1, adc_shift=0, rows=3, dac_bits=1, adc_bits=2, n_slices=3)
    assert tile_bounds(f) == 3 * (1 + 2 + 4)
    f.update(adc_bits=1, adc_shift=1)  # LSB of 2: code <= 1, read back as 2
    assert tile_bounds(f) == 2 * (1 + 2 + 4)


def test_plane_sum_width_covers_the_sum_over_row_tiles():
    """A channel's plane sum adds one term per row tile: its width is the channel's bound, not
    one array's (a CNN's fc on 16x16 arrays, 16 row tiles, wrapped in 3 of 16 vectors)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(120, 4)).eval()
    x = torch.rand(32, 120)
    cm = anncc.compile(model, x[:1], target="sot-mtj", calib=x,
                       target_overrides={"array_rows": 16, "array_cols": 16})
    plan = build_plan(cm.ir("cell"), cm.store)
    (layer,) = [lay for lay in plan.layers if lay.kind == "matrix"]
    m = layer_params(layer, plan)
    per_channel = [0] * layer.n
    for t in layer.tiles:
        for j in range(t.fields["cols"]):
            per_channel[t.fields["layer_col_offset"] + j] += tile_bounds(t.fields)
    assert len({t.fields["row_offset"] for t in layer.tiles}) > 4  # several row tiles
    top = max(per_channel)
    assert top > max(tile_bounds(t.fields) for t in layer.tiles)
    assert m["ps_w"] >= bitlen_signed(-top, top)
    assert ps_width(10, 300, 7) == bitlen_signed(-300, 300) and ps_width(10, 20, 7) == 8


def test_signed_widths_and_names():
    assert bitlen_signed(-128, 127) == 8 and bitlen_signed(0, 255) == 9 and bitlen_signed(-129, 0) == 9
    assert verilog_name("conv2d.1") == "conv2d_1" and verilog_name("1x") == "l_1x"


def test_packed_maps():
    assert _packed_hex(np.array([1, 2]), 16) == "32'h00020001"
    inv = _inverse_rowmap(np.array([2, 0]), 4)
    assert inv.tolist() == [2, 0, 1, 0]  # physical row 0 carries logical row 1, row 2 logical row 0
    with pytest.raises(AnnccError):
        _packed_hex(np.array([1 << 16]), 16)


def test_plan_of_a_small_mlp(tiny):
    cm, _ = tiny
    plan = build_plan(cm.ir("cell"), cm.store)
    assert [b.size for b in plan.buffers.values()] == [12, 6, 3]
    assert [layer.kind for layer in plan.layers] == ["matrix", "matrix"]
    first = plan.layers[0]
    assert first.gather.tolist() == [list(range(1, 13))]  # a linear layer reads x_q in order
    assert first.lo == first.zero_point  # the ReLU is the requant clamp


def test_emit_writes_rtl_memories_and_scripts(tiny, tmp_path):
    cm, _ = tiny
    emit_rtl(cm, tmp_path)
    man = json.loads((tmp_path / "manifest.json").read_text())
    for src in man["sources"]:
        assert (tmp_path / src).is_file()
    assert (tmp_path / "synth.ys").read_text().count("read_verilog") == len(man["sources"])
    assert (tmp_path / "tb" / "test_anncc.py").is_file()
    plan = build_plan(cm.ir("cell"), cm.store)
    for layer in plan.layers:
        mult = (tmp_path / "mem" / f"{layer.name}_mult.hex").read_text().split()
        assert [int(w, 16) for w in mult] == layer.mult.tolist()
        for t in layer.tiles:
            lv = (tmp_path / "mem" / f"{t.name}_levels.hex").read_text().split()
            assert len(lv) == t.fields["array_rows"] * t.fields["array_cols"]
    eng = (tmp_path / f"anncc_eng_{plan.layers[0].name}.v").read_text()
    assert "localparam integer ACC_W" in eng
    assert "(* blackbox *)" in (tmp_path / "anncc_xbar_macro.v").read_text()
    # same model, same files: emission is deterministic
    first = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    emit_rtl(cm, tmp_path)
    assert first == {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def test_unsupported_dac_is_a_clear_error(tiny, monkeypatch):
    cm, _ = tiny
    from anncc.backends.verilog import plan as plan_mod

    real = plan_mod._matrix_layer

    def wider_dac(op, tiles, *a):
        for m, _ in tiles:
            p = m.params()
            monkeypatch.setattr(m, "params", lambda p=p: dataclasses.replace(p, dac_bits=2))
        return real(op, tiles, *a)

    monkeypatch.setattr(plan_mod, "_matrix_layer", wider_dac)
    with pytest.raises(AnnccError, match="dac_bits"):
        build_plan(cm.ir("cell"), cm.store)


def test_build_directory_gets_rtl(tiny, tmp_path):
    cm, x = tiny
    cm.example_inputs = x[:2]
    cm.emit(tmp_path)
    rtl = tmp_path / "rtl"
    assert (rtl / "anncc_top.v").is_file() and (rtl / "synth.ys").is_file()
    vec = np.load(rtl / "tb" / "vectors.npz")
    assert vec["x"].shape == (2, 12) and vec["y"].shape == (2, 3)
