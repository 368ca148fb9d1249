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
  column count goes through the ADC: `code = min((c + 2^(s−1)) >> s, 2^bits − 1)`
  (`anncc.ir.contract.adc_read`), read back as `code << s`, then shift-add.

The properties come in typed groups: `geometry` (`#xbar.tile`), `array`
(`#cell.array`), `adc` (`#cell.adc`) and `analog` (`#cell.analog`, chosen by
`allocate-resistance`), beside `tile`, `layer`, `w_bits` and `acc_bits`; the
input's bits and signedness are its type. `op.params()` reads them all as one
`ArrayParams`. The device technology is the module's `anncc.target`.

Rationale: docs/dialects/cell.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from anncc.ir._xdsl import (
    I64,
    Attribute,
    AttrParser,
    Dialect,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IRDLOperation,
    Operation,
    ParametrizedAttribute,
    Printer,
    Pure,
    StringAttr,
    TensorType,
    irdl_attr_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from anncc.ir.attrs import (
    PROPS_IN_ATTR_DICT,
    f64_attr,
    i64_attr,
    parse_record,
    print_record,
    shared_string_attr,
)
from anncc.ir.fast_verify import irdl_op_fast
from anncc.ir.shapes import dims, expect, fmt
from anncc.ir.xbar import (
    ACC_BITS,
    TILE_FORMAT,
    TileAttr,
    TileBounds,
    int_info,
    verify_acc_bits,
    verify_tile_bounds,
    verify_tile_once,
)

# --------------------------------------------------------------------------- attribute groups

_ARRAY_KEYS = (("bits_per_cell", int), ("slices", int), ("ref_col", int), ("spare_rows", int),
               ("spare_cols", int))


@irdl_attr_definition
class ArrayGeometryAttr(ParametrizedAttribute):
    """`<rows x cols, bits_per_cell = b, slices = n, ref_col = c, spare_rows = r, spare_cols = s>`.

    The physical array: its size, the bits one cell stores, the bit slices per
    weight magnitude, the reference (level-0) column and the rows and columns
    reserved as spares.
    """

    name = "cell.array"
    rows: IntAttr
    cols: IntAttr
    bits_per_cell: IntAttr
    n_slices: IntAttr
    ref_col: IntAttr
    spare_rows: IntAttr
    spare_cols: IntAttr

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            rows = parser.parse_shape_dimension(allow_dynamic=False)
            parser.parse_shape_delimiter()
            cols = parser.parse_shape_dimension(allow_dynamic=False)
            parser.parse_punctuation(",")
            rest = parse_record(parser, "#cell.array", _ARRAY_KEYS)
        return (IntAttr(rows), IntAttr(cols), *rest)

    def print_parameters(self, printer: Printer) -> None:
        print_record(printer, _ARRAY_KEYS, self.parameters[2:],
                     prefix=f"{self.rows.data}x{self.cols.data}, ")


_ADC_KEYS = (("bits", int), ("shift", int), ("dac_bits", int))


@irdl_attr_definition
class AdcAttr(ParametrizedAttribute):
    """`<bits = a, shift = s, dac_bits = d>`: the column ADC (resolution, LSB 2^s counts) and the DAC.

    The ADC transfer is `anncc.ir.contract.adc_read`; inputs stream in planes of
    `dac_bits` bits (1 = bit-serial).
    """

    name = "cell.adc"
    bits: IntAttr
    shift: IntAttr
    dac_bits: IntAttr

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            return parse_record(parser, "#cell.adc", _ADC_KEYS)

    def print_parameters(self, printer: Printer) -> None:
        print_record(printer, _ADC_KEYS, self.parameters)


_ANALOG_KEYS = (("v_read", float), ("g_min", float), ("g_max", float))


@irdl_attr_definition
class AnalogAttr(ParametrizedAttribute):
    """`<v_read = V, g_min = S, g_max = S>`: read voltage and the array's conductance range."""

    name = "cell.analog"
    v_read_v: FloatAttr
    g_min_s: FloatAttr
    g_max_s: FloatAttr

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            return parse_record(parser, "#cell.analog", _ANALOG_KEYS)

    def print_parameters(self, printer: Printer) -> None:
        print_record(printer, _ANALOG_KEYS, self.parameters)


# Shared attribute instances: attributes are immutable, and the arrays of a layer share
# their array, ADC and analog groups (building one is slow, and a chip has many arrays).
@functools.lru_cache(maxsize=4096)
def _array_attr(*values: int) -> ArrayGeometryAttr:
    return ArrayGeometryAttr(*(IntAttr(v) for v in values))


@functools.lru_cache(maxsize=4096)
def _adc_attr(bits: int, shift: int, dac_bits: int) -> AdcAttr:
    return AdcAttr(IntAttr(bits), IntAttr(shift), IntAttr(dac_bits))


def _analog_attr(v_read_v: float, g_min_s: float, g_max_s: float) -> AnalogAttr:
    # the key holds the signs: -0.0 == 0.0 in Python, not as an attribute (f64_attr)
    values = (v_read_v, g_min_s, g_max_s)
    return _analog_attr_of(*values, *(math.copysign(1.0, v) for v in values))


@functools.lru_cache(maxsize=4096)
def _analog_attr_of(v_read_v: float, g_min_s: float, g_max_s: float, *signs: float) -> AnalogAttr:
    return AnalogAttr(f64_attr(v_read_v), f64_attr(g_min_s), f64_attr(g_max_s))


# --------------------------------------------------------------------------- the array read


@dataclass(frozen=True)
class ArrayParams:
    """Everything one `cell.mvm` says about its array, as typed Python values.

    Build a `cell.mvm` from it (`MvmOp(..., params=p)`) and read it back with
    `op.params()`; `dataclasses.replace(p, adc_bits=...)` derives a variant.
    `in_bits` and `in_signed` are the input operand's type (`ui8`: 8, False).
    """

    tile: str
    layer: str
    row_offset: int
    col_offset: int
    rows: int
    cols: int
    w_bits: int
    acc_bits: int
    array_rows: int
    array_cols: int
    bits_per_cell: int
    n_slices: int
    ref_col: int
    spare_rows: int
    spare_cols: int
    in_bits: int
    in_signed: bool
    dac_bits: int
    adc_bits: int
    adc_shift: int
    v_read_v: float
    g_min_s: float
    g_max_s: float


@irdl_op_fast
class MvmOp(TileBounds, IRDLOperation):
    """One physical array reading one logical tile; result equals xbar.mvm when ideal and lossless.

        %p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults
               tile "fc.r0c0" <3x2 at 0, 0> layer "fc" w_bits 4 acc_bits 9
               array <3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 0>
               adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002>
               : (...) -> tensor<?x2xsi32>

    (printed on one line). Read it through `op.params()` (an `ArrayParams`) or
    the typed attributes `op.geometry`, `op.array`, `op.adc`, `op.analog`.
    """

    name = "cell.mvm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    levels = operand_def(TensorType)
    colmap = operand_def(TensorType)
    rowmap = operand_def(TensorType)
    faults = operand_def(TensorType)
    tile = prop_def(StringAttr)
    geometry = prop_def(TileAttr)
    layer = prop_def(StringAttr)
    w_bits = prop_def(IntegerAttr[I64])
    acc_bits = prop_def(IntegerAttr[I64])
    array = prop_def(ArrayGeometryAttr)
    adc = prop_def(AdcAttr)
    analog = prop_def(AnalogAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = ("operands " + TILE_FORMAT + " `array` $array `adc` $adc `analog` $analog "
                       "attr-dict `:` functional-type(operands, results)")

    def __init__(self, x, weight, levels, colmap, rowmap, faults, result_type, params: ArrayParams,
                 tile_attrs: tuple[StringAttr, TileAttr] | None = None):
        """`tile_attrs`: the lowered `xbar.mvm`'s `tile` and `geometry` attributes, reused when
        they say what `params` says (attributes are immutable; a `#xbar.tile` takes 4.5 µs to
        build, and a chip has 10^5 arrays)."""
        p = params
        if tile_attrs is not None and (
                tile_attrs[0].data != p.tile
                or tile_attrs[1].bounds() != (p.row_offset, p.col_offset, p.rows, p.cols)):
            tile_attrs = None
        tile, geometry = tile_attrs or (StringAttr(p.tile),
                                        TileAttr(p.rows, p.cols, p.row_offset, p.col_offset))
        props: dict[str, Attribute] = {
            "tile": tile,
            "geometry": geometry,
            "layer": shared_string_attr(p.layer),
            "w_bits": i64_attr(p.w_bits),
            "acc_bits": i64_attr(p.acc_bits),
            "array": _array_attr(p.array_rows, p.array_cols, p.bits_per_cell, p.n_slices,
                                 p.ref_col, p.spare_rows, p.spare_cols),
            "adc": _adc_attr(p.adc_bits, p.adc_shift, p.dac_bits),
            "analog": _analog_attr(float(p.v_read_v), float(p.g_min_s), float(p.g_max_s)),
        }
        # Operation.__init__ directly: what xDSL's IRDL builder ends in, without re-checking the
        # argument lists of an op with no variadics (a chip has one op per array; the verifier
        # checks every op after the pass)
        Operation.__init__(self, operands=[x, weight, levels, colmap, rowmap, faults],
                           result_types=[result_type], properties=props)

    def params(self) -> ArrayParams:
        """The array as typed values (see `ArrayParams`)."""
        g, a, adc, an = self.geometry, self.array, self.adc, self.analog
        info = int_info(self.input.type)
        in_bits, in_signed = info if info is not None else (0, False)
        return ArrayParams(
            tile=self.tile.data, layer=self.layer.data, row_offset=g.row_offset.data,
            col_offset=g.col_offset.data, rows=g.rows.data, cols=g.cols.data,
            w_bits=self.w_bits.value.data, acc_bits=self.acc_bits.value.data,
            array_rows=a.rows.data, array_cols=a.cols.data, bits_per_cell=a.bits_per_cell.data,
            n_slices=a.n_slices.data, ref_col=a.ref_col.data, spare_rows=a.spare_rows.data,
            spare_cols=a.spare_cols.data, in_bits=in_bits, in_signed=in_signed,
            dac_bits=adc.dac_bits.data, adc_bits=adc.bits.data, adc_shift=adc.shift.data,
            v_read_v=an.v_read_v.value.data, g_min_s=an.g_min_s.value.data,
            g_max_s=an.g_max_s.value.data)

    def verify_(self) -> None:
        props = self.properties
        verify_tile_once(self, (*(v.type for v in self._operands), self.results[0].type,
                                props["w_bits"], props["acc_bits"], props["array"], props["adc"],
                                props["analog"]), self._verify_all)

    def _verify_all(self) -> None:
        verify_tile_bounds(self, self.input, self.weight, self.result, *self.bounds(),
                           self.w_bits.value.data)
        f = self.params()
        verify_acc_bits(self, f.rows, f.w_bits, f.acc_bits)
        n = self.name
        ar, ac, rows, cols = f.array_rows, f.array_cols, f.rows, f.cols
        b, ns = f.bits_per_cell, f.n_slices
        expect(1 <= b <= 4, n, lambda: f"bits_per_cell must be in [1, 4], got {b}")
        expect(ns >= 1 and ns * b >= f.w_bits - 1, n,
               lambda: f"{ns} slices of {b} bits cannot hold {f.w_bits - 1} magnitude bits")
        expect(rows + f.spare_rows <= ar, n,
               lambda: f"{rows} rows + {f.spare_rows} spare rows exceed the array's {ar} rows")
        need = cols * ns * 2 + 1 + f.spare_cols
        expect(need <= ac, n, lambda: f"{cols} columns x {ns} slices x 2 polarities + reference + "
               f"{f.spare_cols} spares = {need} exceed the array's {ac} columns")
        expect(0 <= f.ref_col < ac, n, lambda: f"reference column {f.ref_col} outside the array")
        expect(1 <= f.adc_bits <= 16 and f.adc_shift >= 0, n,
               lambda: f"adc_bits must be in [1, 16] and adc_shift >= 0, "
                       f"got {f.adc_bits}, {f.adc_shift}")
        ib, db = f.in_bits, f.dac_bits
        expect(1 <= db <= ib <= 16, n, lambda: f"dac_bits {db} must be in [1, in_bits={ib}], in_bits <= 16")
        expect(f.v_read_v > 0 and 0 <= f.g_min_s < f.g_max_s, n,
               "need v_read_v > 0 and 0 <= g_min_s < g_max_s")
        for val, want, what in ((self.levels, [ar, ac], "levels"), (self.faults, [ar, ac], "faults"),
                                (self.colmap, [cols, ns, 2], "colmap"), (self.rowmap, [rows], "rowmap")):
            expect(dims(val.type) == want, n, lambda: f"{what} {fmt(dims(val.type))} should be {fmt(want)}")
        expect(int_info(self.levels.type) == (8, False) and int_info(self.faults.type) == (8, False),
               n, "levels and faults are ui8 maps")
        expect(int_info(self.colmap.type) == (32, True) and int_info(self.rowmap.type) == (32, True),
               n, "colmap and rowmap are si32")


@irdl_op_fast
class VoteOp(IRDLOperation):
    """Median of three replicas' partial sums (triple modular redundancy)."""

    name = "cell.vote"
    inputs = var_operand_def(TensorType)
    layer = prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = "$inputs `layer` $layer attr-dict `:` functional-type(operands, results)"

    def __init__(self, xs, result_type, *, layer: str):
        super().__init__(operands=[list(xs)], result_types=[result_type],
                         properties={"layer": StringAttr(layer)})

    def verify_(self) -> None:
        expect(len(self.inputs) == 3, self.name, lambda: f"votes over 3 replicas, got {len(self.inputs)}")
        for v in self.inputs:
            expect(v.type == self.result.type, self.name, lambda: f"replica {v.type} differs from result")
        expect(int_info(self.result.type) == (ACC_BITS, True), self.name, "votes on si32 partial sums")


CELL = Dialect("cell", [MvmOp, VoteOp], [ArrayGeometryAttr, AdcAttr, AnalogAttr])
