"""Resistor + op-amp summers (the OpenAnalogNN model), and the E96 resistor series.

A weight is a resistor from an input line to the virtual ground of an inverting
op-amp summer; level k of a cell is a resistor of r_unit_ohm / k (conductance
k / r_unit_ohm), level 0 no resistor at all. The op-amp's feedback resistor turns
the column current into a voltage, V_out = -R_f * sum_i V_i G_i, plus its input
offset times the noise gain (1 + R_f * sum_i G_i), clipped at the output rails;
an ADC then digitizes it. Only E96 values can be bought or laid out, so each
resistor is the nearest E96 value, then off by its tolerance.

Rationale and sources: docs/targets/cmos.md.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from anncc.targets._base import (
    Target,
    adc_bits_field,
    array_cols_field,
    array_rows_field,
    bits_per_cell_field,
    cell_area_field,
    d2d_field,
    feature_size_field,
    field_error,
    fmt_number,
    max_array_cols_field,
    max_array_rows_field,
    t_read_field,
    v_read_field,
)

IEC_60063 = "IEC 60063:2015, preferred number series for resistors"

# The E96 series (IEC 60063): 96 values per decade, 1 % tolerance parts.
E96_MANTISSAS: tuple[int, ...] = (
    100, 102, 105, 107, 110, 113, 115, 118, 121, 124, 127, 130, 133, 137, 140, 143,
    147, 150, 154, 158, 162, 165, 169, 174, 178, 182, 187, 191, 196, 200, 205, 210,
    215, 221, 226, 232, 237, 243, 249, 255, 261, 267, 274, 280, 287, 294, 301, 309,
    316, 324, 332, 340, 348, 357, 365, 374, 383, 392, 402, 412, 422, 432, 442, 453,
    464, 475, 487, 499, 511, 523, 536, 549, 562, 576, 590, 604, 619, 634, 649, 665,
    681, 698, 715, 732, 750, 768, 787, 806, 825, 845, 866, 887, 909, 931, 953, 976,
)  # fmt: skip


def e96_values(r_min_ohm: float = 1.0, r_max_ohm: float = 100e6) -> np.ndarray:
    """Every E96 resistance in [r_min_ohm, r_max_ohm], ascending, in ohms (IEC 60063)."""
    if not 0 < r_min_ohm <= r_max_ohm:
        raise ValueError(f"need 0 < r_min_ohm <= r_max_ohm (got {r_min_ohm}, {r_max_ohm})")
    mant = np.array(E96_MANTISSAS, dtype=np.float64)
    lo = int(np.floor(np.log10(r_min_ohm))) - 3
    hi = int(np.ceil(np.log10(r_max_ohm)))
    vals = np.concatenate([_decimal(mant, np.full(mant.shape, d)) for d in range(lo, hi + 1)])
    return vals[(vals >= r_min_ohm * (1 - 1e-12)) & (vals <= r_max_ohm * (1 + 1e-12))]


def _decimal(mant: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """mant * 10**exponent, as the double nearest the decimal (1.02, not 1.0200000000000002)."""
    exponent = np.asarray(exponent, dtype=np.float64)
    return np.where(exponent >= 0, mant * 10.0 ** np.abs(exponent), mant / 10.0 ** np.abs(exponent))


def round_to_e96(r_ohm: float | np.ndarray) -> tuple[Any, Any]:
    """The nearest E96 value (any decade) to each resistance, and its relative error.

    "Nearest" is nearest in ratio (log distance), the measure tolerances use.
    Returns `(r_e96_ohm, rel_error)` with `rel_error = (r_e96 - r) / r`; the error
    is at most about 1.5 % (half the widest E96 step, 133 to 137). A scalar gives two floats,
    an array two arrays of its shape. Raises ValueError for a resistance that is
    not positive and finite.
    """
    r = np.asarray(r_ohm, dtype=np.float64)
    if r.size and not (np.all(np.isfinite(r)) and np.all(r > 0)):
        raise ValueError("resistances must be positive and finite to round to E96")
    # Candidate mantissas, with the next decade's 100 so 990 rounds up to 1000.
    table = np.log10(np.array((*E96_MANTISSAS, 1000), dtype=np.float64))
    decade = np.floor(np.log10(r)) - 2.0
    log_mant = np.log10(r) - decade  # in [2, 3)
    idx = np.clip(np.searchsorted(table, log_mant), 1, len(table) - 1)
    lower, upper = table[idx - 1], table[idx]
    pick = np.where(log_mant - lower <= upper - log_mant, lower, upper)
    mant = np.round(10.0**pick)  # exact integers 100..1000
    r_e96 = _decimal(mant, decade)
    rel = (r_e96 - r) / r
    if r.ndim == 0:
        return float(r_e96), float(rel)
    return r_e96, rel


#: The name the compiler's passes use for `round_to_e96`.
nearest_e96 = round_to_e96


class CmosTarget(Target):
    """`cmos`: resistor cells and op-amp transimpedance summers, digitized by an ADC."""

    name: Literal["cmos"] = Field("cmos", description="The registry name.")
    cell_kind: Literal["resistor"] = Field("resistor", description="What one cell is.")
    DERIVED_FIELDS: ClassVar[dict[str, str]] = {
        "g_max_s": "(levels - 1)/r_unit_ohm; override r_unit_ohm or bits_per_cell instead",
        "g_min_s": "0: level 0 is no resistor",
    }
    OPAMP_SUMMER: ClassVar[bool] = True

    bits_per_cell: int = bits_per_cell_field(
        4, 8, "4 bits: 15 resistor values r_unit/k, each within about 1 % after E96 rounding."
    )
    r_unit_ohm: float = Field(
        100e3,
        gt=0.0,
        le=1e9,
        description=(
            "Resistance of level 1; level k is r_unit_ohm/k before E96 rounding. 100 kOhm "
            "(an E96 value) keeps the top level, 6.67 kOhm, within an op-amp's drive (anncc default)."
        ),
    )
    r_feedback_ohm: float = Field(
        9.09e3,
        gt=0.0,
        le=1e9,
        description=(
            "Summer feedback resistor R_f: V_out = -R_f * I_column. 9.09 kOhm (E96) maps 495 unit "
            "currents of 1 uA onto the 4.5 V rail, so a full 32-row column of 15-level cells "
            "(480) fits (anncc default)."
        ),
    )
    opamp_offset_sigma_v: float = Field(
        1e-3,
        ge=0.0,
        le=0.1,
        description=(
            "Sigma of the op-amp input offset voltage across parts, fixed per op-amp. 1 mV, "
            "typical of general-purpose CMOS op-amps (precision parts: 10-100 uV)."
        ),
    )
    opamp_rail_low_v: float = Field(
        -4.5,
        ge=-50.0,
        le=50.0,
        description="Lowest output voltage: a +-5 V supply less 0.5 V output headroom (anncc default).",
    )
    opamp_rail_high_v: float = Field(
        4.5,
        ge=-50.0,
        le=50.0,
        description="Highest output voltage: a +-5 V supply less 0.5 V output headroom (anncc default).",
    )
    opamp_power_w: float = Field(
        16e-3,
        gt=0.0,
        le=10.0,
        description=(
            "Power of one op-amp summer while reading, for `estimate`: the quiescent 1.6 mA per "
            "amplifier (typical) of a 10 MHz-GBW CMOS op-amp across the +-5 V supply, 16 mW (Texas "
            "Instruments OPAx172 datasheet, SBOS618: 36 V, 10 MHz, rail-to-rail output). The "
            "feedback current (at most 0.5 mA into R_f at the rails) is not added."
        ),
    )

    d2d_sigma_rel: float = d2d_field(
        0.01 / 3.0,
        f"Resistor tolerance: +-1 % E96 parts ({IEC_60063}) read as +-3 sigma, sigma = 0.33 %.",
    )
    v_read_v: float = v_read_field(
        0.1, "0.1 V per active input: a unit current of 1 uA through r_unit_ohm (anncc default)."
    )
    t_read_s: float = t_read_field(
        1e-6,
        "1 us: about ten time constants of a 10 MHz-GBW summer at noise gain ~10 (anncc default).",
    )
    array_rows: int = array_rows_field(32, "32 inputs per summer (anncc default).")
    array_cols: int = array_cols_field(32, "32 summers per array (anncc default).")
    max_array_rows: int = max_array_rows_field(
        256, "Fan-in limit: the noise gain 1 + R_f*sum(G) multiplies the offset (anncc limit)."
    )
    max_array_cols: int = max_array_cols_field(256, "anncc limit.")
    adc_bits: int = adc_bits_field(8, "8 bits, the top of the usual 6-8 bit range.")

    feature_size_m: float = feature_size_field(
        180e-9, "180 nm, a mixed-signal node (anncc default)."
    )
    cell_area_f2: float = cell_area_field(
        500.0,
        "anncc estimate: 100 kOhm of 1 kOhm/sq high-resistance poly is 100 squares of 2F x 2F, "
        "plus contacts.",
    )

    @property
    def g_min_s(self) -> float:
        """Level 0 is no resistor: 0 S."""
        return 0.0

    @property
    def g_max_s(self) -> float:
        """Conductance of the top level, (levels - 1) / r_unit_ohm."""
        return (self.levels - 1) / self.r_unit_ohm

    @property
    def resistor_tolerance_rel(self) -> float:
        """The parts' tolerance band, 3 * d2d_sigma_rel (1 % for E96 parts)."""
        return 3.0 * self.d2d_sigma_rel

    def level_resistances_ohm(self, levels: np.ndarray) -> np.ndarray:
        """Ideal resistance per level, r_unit_ohm / level; inf (no resistor) for level 0."""
        g = self.levels_to_conductance(levels)
        with np.errstate(divide="ignore"):
            return np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), np.inf)

    def e96_level_conductances(self, levels: np.ndarray) -> np.ndarray:
        """Conductance of the E96 part chosen for each level (0 S for level 0)."""
        r = self.level_resistances_ohm(levels)
        finite = np.isfinite(r)
        out = np.zeros(r.shape, dtype=np.float64)
        if np.any(finite):
            r_e96, _ = round_to_e96(r[finite])
            out[finite] = 1.0 / r_e96
        return out

    def e96_level_error_rel(self) -> np.ndarray:
        """Relative conductance error of E96 rounding for levels 1..levels-1."""
        lv = np.arange(1, self.levels)
        return self.e96_level_conductances(lv) / self.levels_to_conductance(lv) - 1.0

    def with_conductance_range(self, g_min_s: float, g_max_s: float) -> Target:
        """The top conductance sets the unit resistor, r_unit = (levels − 1)/g_max (g_min is 0)."""
        return self.with_overrides(r_unit_ohm=(self.levels - 1) / g_max_s,
                                   **self._keep_noise_window())

    def level_error_report(self) -> dict[str, float] | None:
        """|E96 rounding error| of each level's conductance, levels 1..levels−1."""
        return {str(level): float(abs(e)) for level, e in enumerate(self.e96_level_error_rel(), start=1)}

    @property
    def opamp_energy_per_read_j(self) -> float:
        """Energy one summer spends on one read, opamp_power_w * t_read_s."""
        return self.opamp_power_w * self.t_read_s

    def _check_physics(self) -> None:
        if not self.opamp_rail_high_v > self.opamp_rail_low_v:
            raise field_error(
                "opamp_rail_high_v",
                f"must be > opamp_rail_low_v = {fmt_number(self.opamp_rail_low_v)} "
                f"(got {fmt_number(self.opamp_rail_high_v)})",
            )

    def derived(self) -> dict[str, float]:
        out = super().derived()
        out["resistor_tolerance_rel"] = self.resistor_tolerance_rel
        out["max_e96_error_rel"] = float(np.max(np.abs(self.e96_level_error_rel())))
        out["opamp_energy_per_read_j"] = self.opamp_energy_per_read_j
        return out
