"""The `cell` dialect: physical arrays of device cells (DESIGN.md sections 3 and 4).

One `cell.mvm` per physical array replaces one `xbar.mvm`. It says which cells
hold which conductance level and how the array is read:

- `levels` `[array_rows, array_cols]` (ui8): the level 0..2^bits_per_cell−1 of
  every cell; unused cells are 0.
- `colmap` `[cols, n_slices, 2]` (si32): the physical column that holds logical
  column j, bit slice k (LSB first) and polarity p (0 = w⁺, 1 = w⁻). Spare
  columns that replace faulty ones appear here.
- `rowmap` `[rows]` (si32): the physical row driven by logical row i.
- `faults` `[array_rows, array_cols]` (ui8): 0 healthy, 1 stuck at the lowest
  conductance, 2 stuck at the highest; an all-zero splat when there are none.
- The reference column `ref_col` holds level-0 cells on every used row; its
  current is subtracted before the ADC, so the ADC sees `c·ΔG·V_read`.
- Inputs stream in planes of `dac_bits` bits (1 = bit-serial); each plane's
  column count goes through the ADC: `code = min((c + 2^(s−1)) >> s, 2^adc_bits − 1)`
  with `s = adc_shift`, read back as `code << s`, then shift-add.

The analog quantities (`v_read_v`, `g_max_s`, `g_min_s`) are chosen by
`allocate-resistance`; the device technology is the module's `anncc.target`.

Rationale: docs/dialects/cell.md.
"""

from __future__ import annotations

from anncc.ir._xdsl import (
    Dialect,
    FloatAttr,
    IntegerAttr,
    IRDLOperation,
    Pure,
    StringAttr,
    TensorType,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from anncc.ir.ann import NARY_FORMAT, PROPS_IN_ATTR_DICT, f64_attr, i64_attr
from anncc.ir.shapes import dims, expect, fmt
from anncc.ir.xbar import ACC_BITS, int_info, verify_tile_bounds

#: Properties of a cell.mvm, in printing order, with their meaning.
ARRAY_FIELDS: dict[str, str] = {
    "tile": "the logical tile (and array) name",
    "row_offset": "first weight row of the tile",
    "col_offset": "first weight column of the tile",
    "rows": "logical rows (weight rows held)",
    "cols": "logical columns (weight columns held)",
    "w_bits": "weight bits, sign included",
    "array_rows": "physical rows of the array",
    "array_cols": "physical columns of the array",
    "bits_per_cell": "bits one cell stores",
    "n_slices": "bit slices per weight magnitude",
    "in_bits": "input bits",
    "in_signed": "1 when inputs are two's complement",
    "dac_bits": "bits per input plane (1 = bit-serial)",
    "adc_bits": "ADC resolution",
    "adc_shift": "ADC LSB as a power of two of the column count",
    "ref_col": "physical column of the reference (level-0) cells",
    "spare_rows": "physical rows reserved as spares",
    "spare_cols": "physical columns reserved as spares",
}
FLOAT_FIELDS = {"v_read_v": "read voltage (V)", "g_min_s": "level-0 conductance (S)",
                "g_max_s": "top-level conductance (S)"}


@irdl_op_definition
class MvmOp(IRDLOperation):
    """One physical array reading one logical tile; result equals xbar.mvm when ideal and lossless."""

    name = "cell.mvm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    levels = operand_def(TensorType)
    colmap = operand_def(TensorType)
    rowmap = operand_def(TensorType)
    faults = operand_def(TensorType)
    tile = prop_def(StringAttr)
    row_offset = prop_def(IntegerAttr)
    col_offset = prop_def(IntegerAttr)
    rows = prop_def(IntegerAttr)
    cols = prop_def(IntegerAttr)
    w_bits = prop_def(IntegerAttr)
    array_rows = prop_def(IntegerAttr)
    array_cols = prop_def(IntegerAttr)
    bits_per_cell = prop_def(IntegerAttr)
    n_slices = prop_def(IntegerAttr)
    in_bits = prop_def(IntegerAttr)
    in_signed = prop_def(IntegerAttr)
    dac_bits = prop_def(IntegerAttr)
    adc_bits = prop_def(IntegerAttr)
    adc_shift = prop_def(IntegerAttr)
    ref_col = prop_def(IntegerAttr)
    spare_rows = prop_def(IntegerAttr)
    spare_cols = prop_def(IntegerAttr)
    v_read_v = prop_def(FloatAttr)
    g_min_s = prop_def(FloatAttr)
    g_max_s = prop_def(FloatAttr)
    acc_bits = opt_prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, x, weight, levels, colmap, rowmap, faults, result_type, **fields):
        props = {}
        for k, v in fields.items():
            if k == "tile":
                props[k] = StringAttr(v)
            elif k in FLOAT_FIELDS:
                props[k] = f64_attr(v)
            else:
                props[k] = i64_attr(v)
        super().__init__(operands=[x, weight, levels, colmap, rowmap, faults],
                         result_types=[result_type], properties=props)

    def field(self, name: str) -> int:
        return self.properties[name].value.data  # type: ignore[attr-defined]

    def fields(self) -> dict[str, object]:
        out: dict[str, object] = {"tile": self.tile.data}
        for k in ARRAY_FIELDS:
            if k != "tile":
                out[k] = self.field(k)
        for k in FLOAT_FIELDS:
            out[k] = self.properties[k].value.data  # type: ignore[attr-defined]
        if self.acc_bits is not None:
            out["acc_bits"] = self.acc_bits.value.data
        return out

    def verify_(self) -> None:
        f = self.fields()
        verify_tile_bounds(self, self.input, self.weight, self.result, f["row_offset"],
                           f["col_offset"], f["rows"], f["cols"], f["w_bits"])
        n = self.name
        ar, ac, rows, cols = f["array_rows"], f["array_cols"], f["rows"], f["cols"]
        b, ns = f["bits_per_cell"], f["n_slices"]
        expect(1 <= b <= 4, n, lambda: f"bits_per_cell must be in [1, 4], got {b}")
        expect(ns >= 1 and ns * b >= f["w_bits"] - 1, n,
               lambda: f"{ns} slices of {b} bits cannot hold {f['w_bits'] - 1} magnitude bits")
        expect(rows + f["spare_rows"] <= ar, n,
               lambda: f"{rows} rows + {f['spare_rows']} spare rows exceed the array's {ar} rows")
        need = cols * ns * 2 + 1 + f["spare_cols"]
        expect(need <= ac, n, lambda: f"{cols} columns x {ns} slices x 2 polarities + reference + "
               f"{f['spare_cols']} spares = {need} exceed the array's {ac} columns")
        expect(0 <= f["ref_col"] < ac, n, lambda: f"reference column {f['ref_col']} outside the array")
        expect(1 <= f["adc_bits"] <= 16 and f["adc_shift"] >= 0, n,
               lambda: f"adc_bits must be in [1, 16] and adc_shift >= 0, "
                       f"got {f['adc_bits']}, {f['adc_shift']}")
        ib, db = f["in_bits"], f["dac_bits"]
        expect(1 <= db <= ib <= 16, n, lambda: f"dac_bits {db} must be in [1, in_bits={ib}], in_bits <= 16")
        expect(f["in_signed"] in (0, 1), n, lambda: f"in_signed must be 0 or 1, got {f['in_signed']}")
        xi = int_info(self.input.type)
        expect(xi == (ib, bool(f["in_signed"])), n,
               lambda: f"input type {self.input.type} does not match "
                       f"in_bits={ib}, in_signed={f['in_signed']}")
        expect(f["v_read_v"] > 0 and 0 <= f["g_min_s"] < f["g_max_s"], n,
               "need v_read_v > 0 and 0 <= g_min_s < g_max_s")
        for val, want, what in ((self.levels, [ar, ac], "levels"), (self.faults, [ar, ac], "faults"),
                                (self.colmap, [cols, ns, 2], "colmap"), (self.rowmap, [rows], "rowmap")):
            expect(dims(val.type) == want, n, lambda: f"{what} {fmt(dims(val.type))} should be {fmt(want)}")
        expect(int_info(self.levels.type) == (8, False) and int_info(self.faults.type) == (8, False),
               n, "levels and faults are ui8 maps")
        expect(int_info(self.colmap.type) == (32, True) and int_info(self.rowmap.type) == (32, True),
               n, "colmap and rowmap are si32")


@irdl_op_definition
class VoteOp(IRDLOperation):
    """Median of three replicas' partial sums (triple modular redundancy)."""

    name = "cell.vote"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, xs, result_type):
        super().__init__(operands=[list(xs)], result_types=[result_type])

    def verify_(self) -> None:
        expect(len(self.inputs) == 3, self.name, lambda: f"votes over 3 replicas, got {len(self.inputs)}")
        for v in self.inputs:
            expect(v.type == self.result.type, self.name, lambda: f"replica {v.type} differs from result")
        expect(int_info(self.result.type) == (ACC_BITS, True), self.name, "votes on si32 partial sums")




CELL = Dialect("cell", [MvmOp, VoteOp], [])
