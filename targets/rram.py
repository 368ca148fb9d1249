"""Multi-level RRAM, with the programming noise and relaxation fitted to Wan et al. 2022.

The noise model is IBM aihwkit's `ReRamWan2022NoiseModel`: the spread of the
conductance around its target, fitted as a 4th-order polynomial in g/g_max (in
siemens, at a reference g_max of 40 uS) at three times after programming: 1 s (the
programming noise), 1 day and 2 days (relaxation). `anncc.runtime.devices`
interpolates the spread between the fitted times in log(t).

Rationale and sources: docs/targets/rram.md.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from anncc.targets._base import (
    Target,
    adc_bits_field,
    array_cols_field,
    array_rows_field,
    bits_per_cell_field,
    cell_area_field,
    feature_size_field,
    field_error,
    fmt_number,
    max_array_cols_field,
    max_array_rows_field,
    r_access_field,
    read_noise_gmax_field,
    t_read_field,
    v_read_field,
)

WAN_2022 = (
    "W. Wan et al., 'A compute-in-memory chip based on resistive random-access memory', "
    "Nature 608, 504 (2022), DOI 10.1038/s41586-022-04992-8 (NeuRRAM: 48 cores of 256x256 "
    "1T1R, 130 nm)"
)
AIHWKIT_WAN = "IBM aihwkit ReRamWan2022NoiseModel (fit to the data of Wan et al. 2022)"
YI_LI = (
    "claim not verified (it was attributed to Yi Li et al., Nature Electronics 2022, without a "
    "title or DOI, and no such paper was found); 1024 is an anncc limit"
)

# sigma(g) = sum_i c_i * (g/g_max)**i, siemens, at g_max = 40 uS (aihwkit's coefficients, uS).
WAN_SIGMA_1S = (0.348e-6, 16.030e-6, -43.853e-6, 45.393e-6, -16.815e-6)
WAN_SIGMA_1DAY = (0.701e-6, 22.086e-6, -50.773e-6, 47.095e-6, -16.458e-6)
WAN_SIGMA_2DAY = (0.782e-6, 20.274e-6, -43.507e-6, 37.062e-6, -11.934e-6)


class RramTarget(Target):
    """`rram`: a multi-level filamentary RRAM cell (1T1R), programmed with write-verify."""

    name: Literal["rram"] = Field("rram", description="The registry name.")
    cell_kind: Literal["rram"] = Field("rram", description="What one cell is.")
    TUNABLE_G_MAX: ClassVar[bool] = True
    bits_per_cell: int = bits_per_cell_field(
        2, 4, "2 bits default; write-verify reaches 16 distinguishable levels within 0-40 uS."
    )

    g_min_s: float = Field(
        1e-6,
        ge=0.0,
        le=1e-2,
        description=(
            "Conductance of level 0 (high-resistance state). aihwkit maps weight 0 to 0 uS; a "
            "formed filament always conducts, so anncc keeps 1 uS (1 MOhm), which also keeps "
            "every netlist resistor finite."
        ),
    )
    g_max_s: float = Field(
        40e-6,
        gt=0.0,
        le=1e-2,
        description=f"Conductance of the top level. 40 uS: {AIHWKIT_WAN}; {WAN_2022}.",
    )

    prog_noise_poly_s: tuple[float, ...] = Field(
        WAN_SIGMA_1S,
        min_length=1,
        max_length=8,
        description=(
            "Programming noise: sigma(g) = sum_i c_i (g/g_max)**i in siemens, 1 s after "
            f"write-verify, at poly_g_max_ref_s. {AIHWKIT_WAN}, the 1 s fit."
        ),
    )
    prog_noise_time_s: float = Field(
        1.0,
        gt=0.0,
        le=1e3,
        description="Time after programming at which prog_noise_poly_s was measured: 1 s (Wan 2022).",
    )
    relaxation_poly_s: dict[float, tuple[float, ...]] = Field(
        default_factory=lambda: {86400.0: WAN_SIGMA_1DAY, 172800.0: WAN_SIGMA_2DAY},
        description=(
            "Relaxation: the total spread sigma_t(g) (same polynomial form) at later times t in "
            f"seconds; here 1 day and 2 days. {AIHWKIT_WAN}. Interpolated in log(t) between fits, "
            "held at the last fit beyond it."
        ),
    )
    poly_g_max_ref_s: float = Field(
        40e-6,
        gt=0.0,
        le=1e-2,
        description=(
            "g_max at which the polynomials were fitted; sigma scales by g_max_s/poly_g_max_ref_s "
            f"(aihwkit's coeff_g_max_reference). 40 uS: {AIHWKIT_WAN}."
        ),
    )

    r_access_ohm: float = r_access_field(
        2e3,
        "2 kOhm: anncc estimate, not verified against a published measurement: a 130 nm NMOS "
        "(the node of Wan et al. 2022) sized to carry a ~100-200 uA SET/forming current is "
        "roughly 1-3 kOhm in its linear region at a 0.2 V read. 5 % of a 40 uS cell's 25 kOhm.",
    )
    read_noise_sigma_gmax_rel: float = read_noise_gmax_field(
        0.01,
        "About 1 % of g_max short-term read noise, as aihwkit's ReRAM noise models advise "
        "(forward.w_noise = 0.01, additive constant); the Wan 2022 fit has no 1/f term.",
    )

    array_rows: int = array_rows_field(256, f"256x256, the core of {WAN_2022}.")
    array_cols: int = array_cols_field(256, f"256x256, the core of {WAN_2022}.")
    max_array_rows: int = max_array_rows_field(1024, f"706x706 has been operated: {YI_LI}.")
    max_array_cols: int = max_array_cols_field(1024, f"706x706 has been operated: {YI_LI}.")
    adc_bits: int = adc_bits_field(
        8, "8 bits, the top of the usual 6-8 bit range; 256 rows of 2-bit cells need a shift."
    )
    v_read_v: float = v_read_field(
        0.2, "0.2 V, well below the ~1 V set/reset thresholds of HfOx RRAM (anncc default)."
    )
    t_read_s: float = t_read_field(100e-9, "100 ns, ISAAC's crossbar read (Shafiee 2016).")

    feature_size_m: float = feature_size_field(130e-9, f"130 nm, the CMOS node of {WAN_2022}.")
    cell_area_f2: float = cell_area_field(
        50.0,
        "anncc estimate for a 1T1R cell whose access transistor carries the forming/set current.",
    )

    def _check_physics(self) -> None:
        for t_s in self.relaxation_poly_s:
            if not t_s > self.prog_noise_time_s:
                raise field_error(
                    "relaxation_poly_s",
                    f"fit times must be > prog_noise_time_s = {fmt_number(self.prog_noise_time_s)} "
                    f"(got {fmt_number(t_s)})",
                )
