"""Multi-level phase-change memory, with IBM aihwkit's `PCMLikeNoiseModel` statistics.

The model (Nandakumar et al., ICECS 2019; Joshi et al., Nat. Commun. 11, 2473
(2020)) was fitted on about a million PCM devices and has three parts:

- programming noise: Gaussian, sigma(g) a 2nd-order polynomial in g/g_max;
- drift: g(t) = g_prog * ((t + t0)/t0)**(-nu), t counted from the end of
  programming, nu drawn per device with a mean and spread that depend on g;
- 1/f read noise accumulated up to the read: sigma = g * Q_s *
  sqrt(ln((t + t_read)/(2 t_read))), Q_s = min(0.0088 / (g/g_max)**0.65, 0.2);

and global drift compensation scales each array's outputs back.

Rationale and sources: docs/targets/pcm.md.
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
    t_read_field,
    v_read_field,
)

AIHWKIT_PCM = "IBM aihwkit PCMLikeNoiseModel (Nandakumar et al., ICECS 2019)"
JOSHI_2020 = (
    "V. Joshi et al., 'Accurate deep neural network inference using computational phase-change "
    "memory', Nat. Commun. 11, 2473 (2020), DOI 10.1038/s41467-020-16108-9"
)
HERMES_2023 = "M. Le Gallo et al., Nature Electronics 6, 680 (2023): 64 cores of 256x256 PCM, 14 nm"


class PcmTarget(Target):
    """`pcm`: a multi-level PCM cell (1T1R, mushroom type) with drift and 1/f noise."""

    name: Literal["pcm"] = Field("pcm", description="The registry name.")
    cell_kind: Literal["pcm"] = Field("pcm", description="What one cell is.")
    TUNABLE_G_MAX: ClassVar[bool] = True
    #: Drift times `anncc eval` reports by default: 1 s, 1 day, 1 year.
    DEFAULT_DRIFT_TIMES_S: ClassVar[tuple[float, ...]] = (1.0, 86400.0, 3.15e7)
    bits_per_cell: int = bits_per_cell_field(
        2, 4, "2 bits default; the programming noise (~1 uS at 25 uS) blurs more than 16 levels."
    )

    g_min_s: float = Field(
        0.1e-6,
        ge=0.0,
        le=1e-2,
        description=(
            "Conductance of level 0 (amorphous RESET state). aihwkit maps weight 0 to 0 uS; a "
            "RESET cell still conducts ~0.1 uS (10 MOhm), which also keeps netlist resistors finite."
        ),
    )
    g_max_s: float = Field(
        25e-6, gt=0.0, le=1e-2, description=f"Conductance of the top level. 25 uS: {AIHWKIT_PCM}."
    )

    prog_noise_poly_s: tuple[float, ...] = Field(
        (0.26348e-6, 1.9650e-6, -1.1731e-6),
        min_length=1,
        max_length=8,
        description=(
            "Programming noise: sigma(g) = sum_i c_i (g/g_max)**i in siemens, at poly_g_max_ref_s. "
            f"{AIHWKIT_PCM}, prog_coeff = [0.26348, 1.9650, -1.1731] uS."
        ),
    )
    poly_g_max_ref_s: float = Field(
        25e-6,
        gt=0.0,
        le=1e-2,
        description=(
            "g_max at which prog_noise_poly_s was fitted; sigma scales by g_max_s/poly_g_max_ref_s. "
            f"25 uS: {AIHWKIT_PCM}."
        ),
    )

    drift_t0_s: float = Field(
        20.0,
        gt=0.0,
        le=1e6,
        description=(
            "Time of the first read after programming, the drift reference: "
            f"g(t) = g_prog ((t + t0)/t0)**(-nu). 20 s: {AIHWKIT_PCM} (t_0)."
        ),
    )
    drift_nu_mean_fit: tuple[float, float, float, float] = Field(
        (-0.0155, 0.0244, 0.049, 0.1),
        description=(
            "Mean drift exponent: mu_nu = clamp(a*ln(g/g_max) + b, lo, hi), as (a, b, lo, hi). "
            f"{AIHWKIT_PCM}."
        ),
    )
    drift_nu_sigma_fit: tuple[float, float, float, float] = Field(
        (-0.0125, -0.0059, 0.008, 0.045),
        description=(
            "Device-to-device spread of the drift exponent: sigma_nu = clamp(a*ln(g/g_max) + b, "
            f"lo, hi), as (a, b, lo, hi); nu = |mu + sigma*xi| per device. {AIHWKIT_PCM}."
        ),
    )
    drift_scale: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        description="Multiplier of every drawn nu (1 = as fitted, 0 = no drift); aihwkit's drift_scale.",
    )
    drift_compensation: bool = Field(
        True,
        description=(
            "Global drift compensation: scale each array's outputs by the ratio of a reference "
            f"read right after programming to the same read at inference ({JOSHI_2020}; aihwkit "
            "GlobalDriftCompensation)."
        ),
    )

    r_access_ohm: float = r_access_field(
        1e3,
        "1 kOhm: anncc estimate, not verified against a published measurement: a 14 nm access "
        "transistor wide enough for a ~100 uA RESET current is of order 1 kOhm in its linear "
        "region. 2.5 % of a 25 uS cell's 40 kOhm.",
    )

    read_noise_q_coeff: float = Field(
        0.0088,
        ge=0.0,
        le=1.0,
        description=f"1/f noise: Q_s = min(c / max((g/g_max)**e, 1e-3), Q_max); c = 0.0088. {AIHWKIT_PCM}.",
    )
    read_noise_q_exponent: float = Field(
        0.65, ge=0.0, le=5.0, description=f"1/f noise: the exponent e of Q_s; 0.65. {AIHWKIT_PCM}."
    )
    read_noise_q_max: float = Field(
        0.2, gt=0.0, le=1.0, description=f"1/f noise: the ceiling Q_max of Q_s; 0.2. {AIHWKIT_PCM}."
    )
    read_noise_scale: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        description="Multiplier of the 1/f read noise (1 = as fitted); aihwkit's read_noise_scale.",
    )

    t_read_s: float = t_read_field(
        250e-9, f"250 ns, the read duration in the 1/f fit ({AIHWKIT_PCM}, t_read)."
    )
    v_read_v: float = v_read_field(
        0.2,
        "0.2 V, below the ~0.5-1 V threshold-switching voltage of the amorphous state (anncc default).",
    )
    array_rows: int = array_rows_field(256, f"256x256, the core of {HERMES_2023}.")
    array_cols: int = array_cols_field(256, f"256x256, the core of {HERMES_2023}.")
    max_array_rows: int = max_array_rows_field(1024, "anncc limit, as rram.")
    max_array_cols: int = max_array_cols_field(1024, "anncc limit, as rram.")
    adc_bits: int = adc_bits_field(8, "8 bits, the top of the usual 6-8 bit range.")

    feature_size_m: float = feature_size_field(14e-9, f"14 nm, the node of {HERMES_2023}.")
    cell_area_f2: float = cell_area_field(
        50.0, "anncc estimate for a 1T1R mushroom PCM cell sized for its RESET current."
    )

    def _check_physics(self) -> None:
        for field, fit in (
            ("drift_nu_mean_fit", self.drift_nu_mean_fit),
            ("drift_nu_sigma_fit", self.drift_nu_sigma_fit),
        ):
            lo, hi = fit[2], fit[3]
            if not 0.0 <= lo <= hi:
                raise field_error(
                    field,
                    f"clamp bounds must satisfy 0 <= lo <= hi (got lo={fmt_number(lo)}, "
                    f"hi={fmt_number(hi)})",
                )
