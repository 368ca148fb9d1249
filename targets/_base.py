"""The common part of every device technology: periphery, parasitics, variation, faults, cost.

A target is data. Every numeric field carries its unit in its name (`r_wire_ohm`,
`t_read_s`, `adc_fom_j_per_step`), an allowed range, and a description that cites
where its default comes from. Subclasses (one per technology, in this package)
add the device physics and override the defaults that differ; the shared field
factories below keep each quantity's range and meaning identical across targets.

The conductance range `g_min_s`/`g_max_s` is either given (RRAM, PCM) or derived
from resistances (MTJ: `1/R_P`, `1/R_AP(V_read)`; CMOS: `1/r_unit_ohm`); a subclass
defines it as a field or a property, and lists derived ones in `DERIVED_FIELDS` so
an override of them is refused with a message naming the field to set instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# The fault rate the fault-study presets use (DESIGN.md section 5): 1 % of cells
# stuck low and 1 % stuck high.
FAULT_STUDY_RATE = 0.01

# The 706x706 array this default was attributed to could not be found (no title or DOI):
# the wire and contact resistances are anncc defaults until a measured source replaces them.
WIRE_DEFAULT = (
    "anncc default, not from a verified measurement (an earlier citation of a 706x706 RRAM "
    "array had no title or DOI and could not be verified); set it from your process's "
    "sheet resistance: R = rho * cell_pitch / (width * thickness)"
)
MURMANN_SURVEY = "B. Murmann, ADC Performance Survey 1997-2024 (Walden FOM band 10-100 fJ/step)"
ISAAC_2016 = (
    "A. Shafiee et al., ISAAC, ISCA 2016, component table (8-bit 1.28 GS/s SAR ADC, 1-bit DACs)"
)
HOROWITZ_2014 = "M. Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm)"
ISAAC_DOI = (
    "A. Shafiee et al., 'ISAAC: A Convolutional Neural Network Accelerator with In-Situ Analog "
    "Arithmetic in Crossbars', ISCA 2016, DOI 10.1109/ISCA.2016.12"
)
WALDEN_1999 = (
    "R. H. Walden, 'Analog-to-digital converter survey and analysis', IEEE JSAC 17(4), 1999, "
    "DOI 10.1109/49.761034"
)
#: ISAAC's ADC: 8 ADCs of 8 bits per in-situ multiply-accumulate unit take 16 mW together at
#: 1.28 GS/s each, so one 8-bit conversion costs 16 mW / (8 * 1.28e9/s) = 1.5625 pJ.
ISAAC_ADC_CONVERSION_J = 16e-3 / (8 * 1.28e9)


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error about one field, for cross-field checks in model validators.

    `load_target` turns it into "target 'x' field 'f': <message>".
    """
    return PydanticCustomError(
        "anncc_field", "{field}: {message}", {"field": field, "message": message}
    )


def fmt_number(value: Any) -> str:
    """A number as a user would type it back: ints as is, floats in `%g`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:g}"


# ----------------------------------------------------------------------------
# Field factories: one range and one meaning per quantity, the default and its
# source per target.
# ----------------------------------------------------------------------------


def bits_per_cell_field(default: int, max_bits: int, source: str) -> Any:
    return Field(
        default,
        ge=1,
        le=max_bits,
        description=f"Bits stored per cell (levels = 2**bits_per_cell). {source}",
    )


def array_rows_field(default: int, source: str) -> Any:
    return Field(
        default, ge=1, le=4096, description=f"Rows (word lines) per physical array. {source}"
    )


def array_cols_field(default: int, source: str) -> Any:
    return Field(
        default, ge=1, le=4096, description=f"Columns (bit lines) per physical array. {source}"
    )


def max_array_rows_field(default: int, source: str) -> Any:
    return Field(
        default,
        ge=1,
        le=4096,
        description=f"Largest number of rows the technology allows in one array. {source}",
    )


def max_array_cols_field(default: int, source: str) -> Any:
    return Field(
        default,
        ge=1,
        le=4096,
        description=f"Largest number of columns the technology allows in one array. {source}",
    )


def adc_bits_field(default: int, source: str) -> Any:
    return Field(default, ge=1, le=16, description=f"ADC resolution in bits. {source}")


def v_read_field(default: float, source: str) -> Any:
    return Field(
        default,
        gt=0.0,
        le=5.0,
        description=(
            "Read voltage of an active input line (1-bit DAC high level; the full scale of a "
            f"multi-bit DAC). {source}"
        ),
    )


def t_read_field(default: float, source: str) -> Any:
    return Field(
        default,
        gt=0.0,
        le=1e-3,
        description=f"Duration of one array read (one input plane). {source}",
    )


def d2d_field(default: float, source: str) -> Any:
    return Field(
        default,
        ge=0.0,
        le=0.5,
        description=(
            "Device-to-device variation: sigma of the relative resistance spread, applied as a "
            f"log-normal factor exp(sigma*xi) fixed per device. {source}"
        ),
    )


def read_noise_rel_field(default: float, source: str) -> Any:
    return Field(
        default,
        ge=0.0,
        le=0.5,
        description=(
            "Cycle-to-cycle read noise, sigma relative to the cell's own conductance, drawn "
            f"anew on every read. {source}"
        ),
    )


def read_noise_gmax_field(default: float, source: str) -> Any:
    return Field(
        default,
        ge=0.0,
        le=0.5,
        description=(
            "Cycle-to-cycle read noise, additive sigma relative to g_max_s, drawn anew on every "
            f"read. {source}"
        ),
    )


def r_access_field(default: float, source: str) -> Any:
    return Field(
        default,
        ge=0.0,
        le=1e7,
        description=(
            "Series resistance of each cell's access device (the on-resistance of a 1T1R / "
            "1T1MTJ cell's transistor in its linear region at the read bias), in series with "
            "the cell in the array mesh (`anncc.runtime.mesh.ArrayMesh`, the IR-drop solvers "
            f"and the SPICE netlists); 0 = no access device. {source}"
        ),
    )


def feature_size_field(default: float, source: str) -> Any:
    return Field(
        default, gt=0.0, le=1e-6, description=f"Technology feature size F in metres. {source}"
    )


def cell_area_field(default: float, source: str) -> Any:
    return Field(default, gt=0.0, le=1e5, description=f"Area of one cell in F^2. {source}")


class Target(BaseModel):
    """One device technology: its cells, its array geometry, its periphery and its costs.

    Subclasses set `name` and `cell_kind` (a `Literal`), the conductance range
    (`g_min_s`, `g_max_s`, fields or properties), and their physics fields.
    Instances are immutable; `with_overrides(**fields)` re-validates a copy.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Derived quantities a user may not set directly: name -> how it is derived.
    DERIVED_FIELDS: ClassVar[dict[str, str]] = {}

    # -- capabilities: what the technology can do. Passes and the runtime ask the
    # target object these (never its name), so a subclass registered under a new
    # name behaves as its parent.
    #: `allocate-resistance` may program a lower top conductance per array (multi-level cells).
    TUNABLE_G_MAX: ClassVar[bool] = False
    #: Inference times (s) at which `anncc eval` shows conductance drift by default.
    DEFAULT_DRIFT_TIMES_S: ClassVar[tuple[float, ...]] = ()
    #: A cell's conductance depends on its bias (MTJ TMR(V)): the read needs Newton steps.
    BIAS_DEPENDENT: ClassVar[bool] = False
    #: Columns are summed by op-amp transimpedance stages (offset, rails) instead of a sense amp.
    OPAMP_SUMMER: ClassVar[bool] = False

    name: str = Field(description="The target's registry name, e.g. 'sot-mtj'.")
    cell_kind: str = Field(description="What one cell is: 'binary-mtj', 'rram', 'pcm', ...")

    bits_per_cell: int = bits_per_cell_field(1, 8, "")

    # -- array geometry ------------------------------------------------------
    array_rows: int = array_rows_field(128, "ISAAC (Shafiee 2016) uses 128x128 crossbars.")
    array_cols: int = array_cols_field(128, "ISAAC (Shafiee 2016) uses 128x128 crossbars.")
    max_array_rows: int = max_array_rows_field(1024, "")
    max_array_cols: int = max_array_cols_field(1024, "")

    # -- periphery ------------------------------------------------------------
    dac_bits: int = Field(
        1,
        ge=1,
        le=12,
        description=(
            "DAC resolution; 1 = bit-serial inputs, one input plane per read (ISAAC, Shafiee "
            "2016). aihwkit's default forward pass uses 7-8 bit DACs (1/126 input resolution)."
        ),
    )
    adc_bits: int = adc_bits_field(8, f"6-8 bits is the usual range ({ISAAC_2016}).")
    adc_fom_j_per_step: float = Field(
        ISAAC_ADC_CONVERSION_J / 2**8,
        gt=0.0,
        le=1e-12,
        description=(
            "ADC energy per conversion step, Walden's model: E_conv = FOM * 2**adc_bits, ENOB "
            f"taken as adc_bits ({WALDEN_1999}; the figure of merit B. Murmann's ADC Performance "
            "Survey tabulates). 6.1 fJ per nominal step makes an 8-bit conversion cost ISAAC's "
            f"1.5625 pJ (8 ADCs, 16 mW, 1.28 GS/s each; {ISAAC_DOI}), the ADC whose area and rate "
            "these fields also take; with an ENOB of 6-7 bits the same energy is a Walden FOM of "
            "12-24 fJ/step."
        ),
    )
    adc_sample_rate_hz: float = Field(
        1.28e9,
        gt=0.0,
        le=1e11,
        description=f"ADC conversions per second, for latency. {ISAAC_2016}.",
    )
    adc_area_m2: float = Field(
        1.2e-9,
        gt=0.0,
        le=1e-4,
        description=f"Area of one ADC: 0.0012 mm^2 per 8-bit ADC as tabulated in {ISAAC_2016}.",
    )
    adc_columns_per_adc: int = Field(
        128,
        ge=1,
        le=4096,
        description=(
            "Columns that share one ADC, converted one after another through per-column "
            "sample-and-hold: ISAAC has one ADC per 128x128 crossbar, 128 columns at 1.28 GS/s "
            f"in its 100 ns read ({ISAAC_DOI}). 1 = one ADC per column. An array has "
            "ceil(array_cols / adc_columns_per_adc) ADCs; `estimate` charges their area and the "
            "time-multiplexed conversions' latency."
        ),
    )
    sample_hold_energy_j: float = Field(
        10e-6 / 1024 * 100e-9,
        ge=0.0,
        le=1e-9,
        description=(
            "Energy of one column sample-and-hold per read: ISAAC's 8x128 S+H circuits take 10 uW "
            f"together over its 100 ns read, about 1 fJ each ({ISAAC_DOI})."
        ),
    )
    sample_hold_area_m2: float = Field(
        0.00004e-6 / 1024,
        ge=0.0,
        le=1e-6,
        description=(
            "Area of one column sample-and-hold: ISAAC's 8x128 S+H circuits take 0.00004 mm^2 "
            f"together ({ISAAC_DOI})."
        ),
    )
    adc_noise_sigma_lsb: float = Field(
        0.0,
        ge=0.0,
        le=8.0,
        description=(
            "Input-referred ADC noise (comparator and kT/C), sigma in LSB of the ADC. 0 = ideal "
            "quantizer; set it from a measured ENOB: sigma = sqrt(2**(2*(N-ENOB)) - 1)/sqrt(12)."
        ),
    )
    dac_unit_energy_j: float = Field(
        0.39e-12,
        gt=0.0,
        le=1e-9,
        description=(
            "Energy of one 1-bit DAC (word-line driver) conversion: ISAAC's 1024 1-bit DACs take "
            f"4 mW at a 100 ns read, 0.39 pJ each ({ISAAC_2016}). A b-bit DAC costs "
            "(2**b - 1) units."
        ),
    )
    dac_area_m2: float = Field(
        1.7e-13,
        gt=0.0,
        le=1e-6,
        description=f"Area of one 1-bit DAC: 0.00017 mm^2 per 1024 DACs ({ISAAC_2016}).",
    )
    v_read_v: float = v_read_field(0.2, "Below the set/reset threshold of resistive memories.")
    t_read_s: float = t_read_field(100e-9, f"ISAAC's 100 ns crossbar read ({ISAAC_2016}).")

    # -- parasitics -----------------------------------------------------------
    r_wire_ohm: float = Field(
        2.5,
        ge=0.0,
        le=1e4,
        description=f"Word/bit-line wire resistance per cell pitch (one segment). {WIRE_DEFAULT}.",
    )
    r_contact_ohm: float = Field(
        50.0,
        ge=0.0,
        le=1e6,
        description=(
            "Contact resistance between a line driver/sense node and the array. "
            f"{WIRE_DEFAULT}."
        ),
    )

    irdrop_budget: float = Field(
        0.05,
        gt=0.0,
        le=1.0,
        description=(
            "Largest exact worst-column IR-drop error (relative loss of column current, all used "
            "rows driven, the layer's densest array) that `tile`/`allocate-resistance` accept when "
            "sizing arrays and choosing g_max (`--irdrop-budget`). 5 %: about a third of the "
            "relative step of a 4-bit weight's largest magnitude (1/7 = 14 %), so a column's sum "
            "moves by under half a weight LSB; anncc rationale, see docs/physics.md for the "
            "accuracies measured against it."
        ),
    )

    r_access_ohm: float = r_access_field(0.0, "Default 0: no access device.")

    # -- variation and noise ------------------------------------------------------
    d2d_sigma_rel: float = d2d_field(0.0, "")
    prog_noise_scale: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        description=(
            "Multiplier of the technology's programming-noise model (1 = as fitted, 0 = off); "
            "aihwkit's prog_noise_scale."
        ),
    )
    read_noise_sigma_rel: float = read_noise_rel_field(0.0, "")
    read_noise_sigma_gmax_rel: float = read_noise_gmax_field(0.0, "")
    noise_window_s: tuple[float, float] | None = Field(
        None,
        description=(
            "(g_min, g_max) in siemens of the device window the noise models were measured on: "
            "every noise model evaluates its sigma in absolute conductance against this window. "
            "None = the target's own (g_min_s, g_max_s). `with_conductance_range` keeps the "
            "device's window here, so an array whose g_max the compiler lowers keeps the "
            "device's noise in siemens (a narrower window has larger relative noise)."
        ),
    )

    # -- faults ------------------------------------------------------------------
    stuck_at_low_rate: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description=(
            "Fraction of cells stuck at g_min (stuck-at-0). Default 0; fault studies use "
            f"{FAULT_STUDY_RATE:.0%} each way (DESIGN.md section 5), see with_fault_study_rates()."
        ),
    )
    stuck_at_high_rate: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description=(
            "Fraction of cells stuck at g_max (stuck-at-1). Default 0; fault studies use "
            f"{FAULT_STUDY_RATE:.0%} each way (DESIGN.md section 5)."
        ),
    )

    # -- energy and area coefficients for `estimate` ---------------------------------
    feature_size_m: float = feature_size_field(28e-9, "")
    cell_area_f2: float = cell_area_field(50.0, "")
    digital_add_energy_j: float = Field(
        0.1e-12,
        gt=0.0,
        le=1e-9,
        description=f"Energy of one 32-bit integer add (shift-add, accumulate): 0.1 pJ, {HOROWITZ_2014}.",
    )
    digital_mult_energy_j: float = Field(
        3.1e-12,
        gt=0.0,
        le=1e-9,
        description=f"Energy of one 32-bit integer multiply (requantize): 3.1 pJ, {HOROWITZ_2014}.",
    )

    if TYPE_CHECKING:  # defined by each subclass, as a field or a derived property

        @property
        def g_min_s(self) -> float: ...

        @property
        def g_max_s(self) -> float: ...

    # ------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------

    @model_validator(mode="after")
    def _validate(self) -> Target:
        self._check_physics()
        if self.array_rows > self.max_array_rows:
            raise field_error(
                "array_rows",
                f"must be <= max_array_rows = {self.max_array_rows} for this technology "
                f"(got {self.array_rows})",
            )
        if self.array_cols > self.max_array_cols:
            raise field_error(
                "array_cols",
                f"must be <= max_array_cols = {self.max_array_cols} for this technology "
                f"(got {self.array_cols})",
            )
        if self.stuck_at_low_rate + self.stuck_at_high_rate > 1.0:
            raise field_error(
                "stuck_at_high_rate",
                "stuck_at_low_rate + stuck_at_high_rate must be <= 1 "
                f"(got {fmt_number(self.stuck_at_low_rate + self.stuck_at_high_rate)})",
            )
        if self.noise_window_s is not None and not 0.0 <= self.noise_window_s[0] < self.noise_window_s[1]:
            raise field_error(
                "noise_window_s",
                f"must satisfy 0 <= g_min < g_max (got {self.noise_window_s})",
            )
        if not self.g_max_s > self.g_min_s:
            raise field_error(
                "g_max_s",
                f"must be > g_min_s = {fmt_number(self.g_min_s)} (got {fmt_number(self.g_max_s)})",
            )
        return self

    def _check_physics(self) -> None:
        """Cross-field checks of a technology's own fields (overridden per target).

        Runs before the common checks; raise `field_error(field, message)`.
        The common part has no technology physics, so it checks nothing here.
        """

    # ------------------------------------------------------------------------
    # derived quantities the compiler needs
    # ------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        """Number of conductance levels per cell, 2**bits_per_cell."""
        return 2**self.bits_per_cell

    @property
    def delta_g_s(self) -> float:
        """The unit conductance step: (g_max - g_min) / (levels - 1)."""
        return (self.g_max_s - self.g_min_s) / (self.levels - 1)

    @property
    def noise_g_min_s(self) -> float:
        """Bottom of the device window the noise models refer to (`noise_window_s`)."""
        return self.g_min_s if self.noise_window_s is None else float(self.noise_window_s[0])

    @property
    def noise_g_max_s(self) -> float:
        """Top of the device window the noise models refer to (`noise_window_s`)."""
        return self.g_max_s if self.noise_window_s is None else float(self.noise_window_s[1])

    @property
    def noise_delta_g_s(self) -> float:
        """The device window's level step, (noise_g_max_s - noise_g_min_s) / (levels - 1)."""
        return (self.noise_g_max_s - self.noise_g_min_s) / (self.levels - 1)

    def _keep_noise_window(self) -> dict[str, Any]:
        """The override that pins the noise models to this target's device window."""
        return {"noise_window_s": (self.noise_g_min_s, self.noise_g_max_s)}

    @property
    def v_lsb_v(self) -> float:
        """Input voltage of one DAC LSB: v_read_v / (2**dac_bits - 1) (= v_read_v bit-serially)."""
        return self.v_read_v / (2**self.dac_bits - 1)

    @property
    def unit_current_a(self) -> float:
        """Column current of one count (one level step at one input LSB): delta_g_s * v_lsb_v.

        With bit-serial inputs this is `delta_g_s * v_read_v` (DESIGN.md section 4).
        """
        return self.delta_g_s * self.v_lsb_v

    def levels_to_conductance(self, levels: np.ndarray) -> np.ndarray:
        """Ideal conductance of each integer level: G = g_min + level * delta_g (siemens).

        Raises ValueError for a level outside [0, levels - 1] or a non-integer level.
        """
        arr = np.asarray(levels)
        is_int = np.issubdtype(arr.dtype, np.integer)
        if arr.size and not is_int and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"levels must be integers (target '{self.name}')")
        if arr.size and (arr.min() < 0 or arr.max() > self.levels - 1):
            raise ValueError(
                f"level out of range [0, {self.levels - 1}] for target '{self.name}' "
                f"(got {arr.min()}..{arr.max()})"
            )
        return self.g_min_s + arr.astype(np.float64) * self.delta_g_s

    # -- cost coefficients, per event -------------------------------------------

    @property
    def adc_energy_per_conversion_j(self) -> float:
        """Walden: E = FOM * 2**ENOB, ENOB taken as adc_bits (Murmann survey)."""
        return self.adc_fom_j_per_step * 2.0**self.adc_bits

    @property
    def dac_energy_per_conversion_j(self) -> float:
        """A b-bit DAC switches up to 2**b - 1 unit elements: (2**b - 1) * dac_unit_energy_j."""
        return self.dac_unit_energy_j * (2**self.dac_bits - 1)

    @property
    def adc_latency_s(self) -> float:
        """Time of one conversion, 1 / adc_sample_rate_hz."""
        return 1.0 / self.adc_sample_rate_hz

    def adcs_per_array(self, array_cols: int | None = None) -> int:
        """ADCs of one array: ceil(array_cols / adc_columns_per_adc) (at least one)."""
        cols = self.array_cols if array_cols is None else array_cols
        return max(1, -(-cols // self.adc_columns_per_adc))

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell, cell_area_f2 * feature_size_m**2."""
        return self.cell_area_f2 * self.feature_size_m**2

    def cell_read_energy_j(self, g_s: float | np.ndarray | None = None) -> float | np.ndarray:
        """Energy one cell dissipates in one read: V_read**2 * G * t_read.

        `g_s` defaults to the mid-range conductance (g_min + g_max) / 2.
        """
        g = (self.g_min_s + self.g_max_s) / 2.0 if g_s is None else g_s
        return self.v_read_v**2 * g * self.t_read_s

    # -- copies and descriptions --------------------------------------------------

    def with_overrides(self, **fields: Any) -> Target:
        """A re-validated copy with `fields` changed; TargetError names a bad field."""
        from anncc.targets._registry import validate_target

        data = self.model_dump()
        data.update(fields)
        return validate_target(type(self), data)

    def with_conductance_range(self, g_min_s: float, g_max_s: float) -> Target:
        """A copy whose level-0 and top conductances are `g_min_s`, `g_max_s` (one array's range).

        Targets whose range is derived from other fields override this. The copy keeps
        this target's device window for its noise models (`noise_window_s`): the noise
        of a device is in siemens and does not shrink with the range the compiler uses.
        """
        if "g_max_s" in self.DERIVED_FIELDS or "g_min_s" in self.DERIVED_FIELDS:
            from anncc.errors import TargetError

            raise TargetError(f"cannot set the conductance range of target '{self.name}' to "
                              f"[{g_min_s:g}, {g_max_s:g}] S")
        return self.with_overrides(g_min_s=g_min_s, g_max_s=g_max_s, **self._keep_noise_window())

    def level_error_report(self) -> dict[str, float] | None:
        """Relative conductance error per level that programming introduces (None: no such error)."""
        return None

    def with_fault_study_rates(self, rate: float = FAULT_STUDY_RATE) -> Target:
        """A copy with `rate` of the cells stuck low and `rate` stuck high (default 1 % each)."""
        return self.with_overrides(stuck_at_low_rate=rate, stuck_at_high_rate=rate)

    @classmethod
    def source_of(cls, field: str) -> str:
        """The description (meaning and source) of one field."""
        info = cls.model_fields.get(field)
        if info is None:
            raise KeyError(field)
        return info.description or ""

    def derived(self) -> dict[str, float]:
        """The derived quantities (for reports): conductance range, steps, per-event costs."""
        return {
            "levels": float(self.levels),
            "g_min_s": self.g_min_s,
            "g_max_s": self.g_max_s,
            "delta_g_s": self.delta_g_s,
            "unit_current_a": self.unit_current_a,
            "adc_energy_per_conversion_j": self.adc_energy_per_conversion_j,
            "dac_energy_per_conversion_j": self.dac_energy_per_conversion_j,
            "cell_area_m2": self.cell_area_m2,
            "adcs_per_array": float(self.adcs_per_array()),
        }

    def describe(self) -> dict[str, Any]:
        """Every field's value and the derived quantities, JSON-ready (report.json)."""
        return {"fields": self.model_dump(mode="json"), "derived": self.derived()}
