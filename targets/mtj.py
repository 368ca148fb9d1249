"""Magnetic tunnel junction targets: binary SOT-MTJ and multi-level domain-wall MTJ.

An MTJ's conductance is set by the relative orientation of its free layer: parallel
(R_P, high conductance) or antiparallel (R_AP). The tunnelling magnetoresistance
falls with bias (Zhang et al., IEEE TED 59(3), 819 (2012), the Beihang compact model):

    TMR(V) = TMR0 / (1 + (V / V_h)**2),   R_AP(V) = R_P * (1 + TMR(V)),

so the "off" conductance a read sees is `1 / R_AP(v_read_v)`, which is what
`g_min_s` returns. A domain-wall MTJ holds a wall at one of several pinning sites;
the fraction f of the free layer in the P state sets G = f/R_P + (1-f)/R_AP, linear
in f, so its levels are linear in conductance between the same two bounds.

Rationale and sources: docs/targets/sot-mtj.md, docs/targets/sot-mtj-dw.md.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from anncc.ir.contract import tmr_at_bias
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
    r_access_field,
    read_noise_rel_field,
    t_read_field,
    v_read_field,
)

ALAMDAR_2021 = (
    "M. Alamdar et al., 'Domain wall-magnetic tunnel junction spin-orbit torque devices and "
    "circuits for in-memory computing', Appl. Phys. Lett. 118, 112401 (2021), DOI "
    "10.1063/5.0038521: SOT-switched perpendicular CoFeB/MgO junctions, measured average TMR "
    "171 % and resistance-area product RA 29 Ohm um^2"
)
ZHANG_2012 = (
    "Y. Zhang et al., 'Compact modeling of perpendicular-anisotropy CoFeB/MgO magnetic tunnel "
    "junctions', IEEE TED 59(3), 819-826 (2012) (DOI not verified)"
)
JUNG_2022 = (
    "S. Jung et al., 'A crossbar array of magnetoresistive memory devices for in-memory "
    "computing', Nature 601, 211 (2022), DOI 10.1038/s41586-021-04196-6: a 64x64 MRAM array "
    "that sums RESISTANCES (cells in series) because current summation at MRAM's low "
    "resistance costs too much power; anncc models current summation, which that paper does "
    "not demonstrate (its array size only)"
)
# R_P = RA / A: Alamdar 2021's RA over an 86 nm-diameter junction (A = 0.0058 um^2, anncc's choice).
MTJ_R_P = f"5 kOhm: RA = 29 Ohm um^2 ({ALAMDAR_2021}) over an 86 nm-diameter junction (anncc's choice)"
MTJ_ACCESS = (
    "1 kOhm: anncc estimate, not verified against a published measurement: a 28 nm read "
    "transistor of a 1T1MTJ / 2T1MTJ cell in its linear region at a 0.1 V read is of order "
    "1 kOhm; 20 % of R_P, so it compresses the window (R_P + R_a vs R_AP + R_a)"
)
MTJ_READ_NOISE = (
    "Thermal plus shot noise of a 100-200 uS junction at 0.1 V over the 1/(2 t_read) = 50 MHz "
    "bandwidth of a 10 ns read: sqrt(4kTG + 2qI)*sqrt(B) / I: 0.06 % and 0.09 % in quadrature, about 0.1 %."
)
MTJ_MAX_ARRAY = (
    "anncc limit: IR drop grows as alpha = R_wire*G*N**2 and beta = R_contact*G*N, and with an "
    "MTJ's 100-200 uS cells the exact worst-column loss is 30 % at 16x16 and 76 % at 64x64 "
    "(R_wire 2.5 Ohm, R_contact 50 Ohm, all cells parallel; docs/physics.md); 256 is an upper "
    "bound for the compiler's size search, not a recommended size. Demonstrated MRAM crossbars "
    f"are 64x64 ({JUNG_2022})."
)


class MtjTarget(Target):
    """What the MTJ targets share: R_P, R_AP and the bias dependence of the TMR."""

    DERIVED_FIELDS: ClassVar[dict[str, str]] = {
        "g_max_s": "1/r_p_ohm; override r_p_ohm instead",
        "g_min_s": "1/R_AP(v_read_v) from r_ap_ohm, r_p_ohm and tmr_v_half_v; override those",
    }
    BIAS_DEPENDENT: ClassVar[bool] = True

    r_p_ohm: float = Field(
        5e3,
        gt=0.0,
        le=1e9,
        description=f"Parallel-state (low) resistance, bias independent. {MTJ_R_P}.",
    )
    r_ap_ohm: float = Field(
        13.55e3,
        gt=0.0,
        le=1e9,
        description=(
            "Antiparallel-state (high) resistance at zero bias; TMR0 = r_ap_ohm/r_p_ohm - 1. "
            f"13.55 kOhm = R_P (1 + 1.71): the measured TMR of {ALAMDAR_2021}, taken as the "
            "zero-bias TMR."
        ),
    )
    tmr_v_half_v: float = Field(
        0.5,
        gt=0.0,
        le=10.0,
        description=(
            "Bias at which the TMR has fallen to half its zero-bias value: "
            f"TMR(V) = TMR0/(1+(V/tmr_v_half_v)**2). 0.5 V: the fit of {ZHANG_2012}."
        ),
    )
    v_switch_v: float = Field(
        0.3,
        gt=0.0,
        le=10.0,
        description=(
            "Switching (write) voltage; reads must stay below it to avoid read disturb. "
            "0.3 V: anncc assumption (not from a verified measurement): the bias at which spin-"
            "transfer torque through the junction could disturb a read."
        ),
    )

    v_read_v: float = v_read_field(
        0.1, "0.1 V: anncc choice, a low read bias that keeps most of the TMR (TMR(V) above)."
    )
    r_access_ohm: float = r_access_field(1e3, MTJ_ACCESS)
    t_read_s: float = t_read_field(
        10e-9, "10 ns: an MTJ read is a fast resistive sense (DESIGN.md section 5)."
    )
    read_noise_sigma_rel: float = read_noise_rel_field(1e-3, MTJ_READ_NOISE)

    @property
    def tmr0(self) -> float:
        """Zero-bias TMR ratio, r_ap_ohm / r_p_ohm - 1."""
        return self.r_ap_ohm / self.r_p_ohm - 1.0

    def with_conductance_range(self, g_min_s: float, g_max_s: float) -> Target:
        """R_P = 1/g_max, and R_AP(0) solved from 1/g_min = R_P + (R_AP(0) − R_P)/(1 + (V_read/V_h)²)."""
        r_p = 1.0 / g_max_s
        u2 = (self.v_read_v / self.tmr_v_half_v) ** 2
        return self.with_overrides(r_p_ohm=r_p, r_ap_ohm=r_p + (1.0 / g_min_s - r_p) * (1 + u2),
                                   **self._keep_noise_window())

    def r_ap_at_bias_ohm(self, v: float) -> float:
        """R_AP(V) = R_P * (1 + TMR(V)), TMR(V) of `anncc.ir.contract.tmr_at_bias`."""
        return self.r_p_ohm * (1.0 + tmr_at_bias(v, self.tmr0, self.tmr_v_half_v))

    @property
    def g_max_s(self) -> float:
        """Conductance of a fully parallel cell, 1 / r_p_ohm."""
        return 1.0 / self.r_p_ohm

    @property
    def g_min_s(self) -> float:
        """Conductance of a fully antiparallel cell at the read bias, 1 / R_AP(v_read_v)."""
        return 1.0 / self.r_ap_at_bias_ohm(self.v_read_v)

    def _check_physics(self) -> None:
        if not self.r_ap_ohm > self.r_p_ohm:
            raise field_error(
                "r_ap_ohm",
                f"must be > r_p_ohm = {fmt_number(self.r_p_ohm)} (got {fmt_number(self.r_ap_ohm)})",
            )
        if not self.v_read_v < self.v_switch_v:
            raise field_error(
                "v_read_v",
                f"must be < v_switch_v = {fmt_number(self.v_switch_v)} or reads would write "
                f"(got {fmt_number(self.v_read_v)})",
            )

    def derived(self) -> dict[str, float]:
        out = super().derived()
        out["tmr0"] = self.tmr0
        out["tmr_at_read"] = tmr_at_bias(self.v_read_v, self.tmr0, self.tmr_v_half_v)
        out["r_ap_at_read_ohm"] = self.r_ap_at_bias_ohm(self.v_read_v)
        return out


class SotMtjTarget(MtjTarget):
    """`sot-mtj`: a binary spin-orbit-torque MTJ, one bit per cell (P = 1, AP = 0)."""

    name: Literal["sot-mtj"] = Field("sot-mtj", description="The registry name.")
    cell_kind: Literal["binary-mtj"] = Field("binary-mtj", description="What one cell is.")
    bits_per_cell: int = bits_per_cell_field(1, 1, "A binary MTJ has two states.")

    array_rows: int = array_rows_field(64, f"64x64, as {JUNG_2022}.")
    array_cols: int = array_cols_field(64, f"64x64, as {JUNG_2022}.")
    max_array_rows: int = max_array_rows_field(256, MTJ_MAX_ARRAY)
    max_array_cols: int = max_array_cols_field(256, MTJ_MAX_ARRAY)
    adc_bits: int = adc_bits_field(
        7, "7 bits count 0..127: lossless for 64 binary rows with bit-serial inputs."
    )

    d2d_sigma_rel: float = d2d_field(
        0.04,
        "4 %, the middle of the 3-5 % sigma(R)/R of MgO MTJ arrays (DESIGN.md section 5; "
        "anncc assumption, not from a verified measurement).",
    )

    feature_size_m: float = feature_size_field(
        28e-9, "28 nm, the node of embedded MRAM offerings (anncc default; override)."
    )
    cell_area_f2: float = cell_area_field(
        120.0,
        "anncc estimate: embedded STT-MRAM 1T1MTJ bit cells are reported at roughly 50-100 F^2; "
        "an SOT cell adds a second access transistor and the write line.",
    )


class SotMtjDwTarget(MtjTarget):
    """`sot-mtj-dw`: a domain-wall MTJ with 2**bits_per_cell pinned wall positions."""

    name: Literal["sot-mtj-dw"] = Field("sot-mtj-dw", description="The registry name.")
    cell_kind: Literal["domain-wall-mtj"] = Field(
        "domain-wall-mtj", description="What one cell is."
    )
    TUNABLE_G_MAX: ClassVar[bool] = True
    bits_per_cell: int = bits_per_cell_field(
        2,
        3,
        "2 bits (4 states) default, up to 3 bits (8 states) (DESIGN.md section 5; anncc "
        "choice: pinning notches along the track, not from a verified multi-level measurement).",
    )

    r_p_ohm: float = Field(
        5e3,
        gt=0.0,
        le=1e9,
        description=(
            "Resistance with the whole free layer parallel (wall at the far end). "
            f"{MTJ_R_P}."
        ),
    )
    r_ap_ohm: float = Field(
        13.55e3,
        gt=0.0,
        le=1e9,
        description=(
            "Resistance with the whole free layer antiparallel, at zero bias. 13.55 kOhm = "
            f"R_P (1 + 1.71): the measured TMR of the domain-wall MTJs of {ALAMDAR_2021}."
        ),
    )
    dw_level_sigma_steps: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description=(
            "Programming noise: sigma of the programmed conductance in units of one level step "
            "(stochastic depinning leaves the wall slightly off its notch). anncc assumption, no "
            "public fit; set it from measured level histograms."
        ),
    )

    array_rows: int = array_rows_field(64, f"64x64, as {JUNG_2022}.")
    array_cols: int = array_cols_field(64, f"64x64, as {JUNG_2022}.")
    max_array_rows: int = max_array_rows_field(256, MTJ_MAX_ARRAY)
    max_array_cols: int = max_array_cols_field(256, MTJ_MAX_ARRAY)
    adc_bits: int = adc_bits_field(
        8, "8 bits: lossless up to 85 rows of 2-bit cells with bit-serial inputs (3*85 = 255)."
    )

    d2d_sigma_rel: float = d2d_field(
        0.04, "4 %, as sot-mtj: the junction's RA-product spread scales every level alike."
    )

    feature_size_m: float = feature_size_field(28e-9, "28 nm, as sot-mtj (anncc default).")
    cell_area_f2: float = cell_area_field(
        200.0,
        "anncc estimate: an SOT cell stretched to a track with 2**bits pinning notches.",
    )
