"""Targets are validated data: every default has a range and a source, and every bad
override is refused with one message that names the target, the field and its range."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from anncc.errors import AnnccError, TargetError
from anncc.targets import (
    E96_MANTISSAS,
    FAULT_STUDY_RATE,
    CmosTarget,
    SotMtjTarget,
    Target,
    e96_values,
    get_target,
    list_targets,
    load_target,
    nearest_e96,
    register_target,
    resolve_target,
    round_to_e96,
    target_class,
    validate_target,
)

ALL = ["cmos", "pcm", "rram", "sot-mtj", "sot-mtj-dw"]


def test_registry_lists_the_five_technologies():
    assert list_targets() == ALL


@pytest.mark.parametrize("name", ALL)
def test_every_target_validates_with_its_defaults(name):
    t = get_target(name)
    assert isinstance(t, Target) and t.name == name
    assert t.levels == 2**t.bits_per_cell
    assert 0.0 <= t.g_min_s < t.g_max_s
    assert t.array_rows <= t.max_array_rows and t.array_cols <= t.max_array_cols
    assert t.dac_bits == 1  # bit-serial inputs by default (ISAAC)
    assert 6 <= t.adc_bits <= 8
    # Walden's model set to ISAAC's ADC: 8 ADCs, 16 mW, 1.28 GS/s each, 8 bits
    assert t.adc_fom_j_per_step * 2**8 == pytest.approx(16e-3 / 8 / 1.28e9)
    assert t.r_wire_ohm == 2.5 and t.r_contact_ohm == 50.0  # Yi Li et al. 2022
    assert t.stuck_at_low_rate == 0.0 and t.stuck_at_high_rate == 0.0


@pytest.mark.parametrize("name", ALL)
def test_every_field_has_a_source_and_every_number_a_range(name):
    cls = target_class(name)
    for field, info in cls.model_fields.items():
        assert info.description, f"{name}.{field} has no description"
        if info.annotation in (int, float):
            bounds = [
                m for m in info.metadata if any(hasattr(m, a) for a in ("gt", "ge", "lt", "le"))
            ]
            assert bounds, f"{name}.{field} has no allowed range"


@pytest.mark.parametrize("name", ALL)
def test_a_dump_validates_back_to_the_same_target(name):
    t = get_target(name)
    assert validate_target(type(t), t.model_dump()) == t
    via_json = json.loads(json.dumps(t.model_dump(mode="json")))
    assert validate_target(type(t), via_json) == t
    json.dumps(t.describe())  # report.json-ready


def test_levels_are_linear_in_conductance():
    t = get_target("rram")
    g = t.levels_to_conductance(np.arange(t.levels))
    assert g[0] == pytest.approx(t.g_min_s) and g[-1] == pytest.approx(t.g_max_s)
    np.testing.assert_allclose(np.diff(g), t.delta_g_s, rtol=1e-12)
    assert t.unit_current_a == pytest.approx(t.delta_g_s * t.v_read_v)
    with pytest.raises(ValueError, match="out of range"):
        t.levels_to_conductance(np.array([t.levels]))


def test_sot_mtj_defaults_follow_the_measured_tmr_and_the_tmr_bias_law():
    t = get_target("sot-mtj")
    assert (t.r_p_ohm, t.r_ap_ohm, t.v_switch_v) == (5e3, 13.55e3, 0.3)
    assert (t.v_read_v, t.t_read_s, t.bits_per_cell) == (0.1, 10e-9, 1)
    assert 0.03 <= t.d2d_sigma_rel <= 0.05
    assert t.tmr0 == pytest.approx(1.71)  # Alamdar et al., APL 118, 112401 (2021)
    assert "10.1063/5.0038521" in t.source_of("r_ap_ohm")
    assert t.r_ap_at_bias_ohm(0.5) / t.r_p_ohm - 1 == pytest.approx(1.71 / 2)  # half at V_h
    assert t.g_max_s == pytest.approx(1 / 5e3)
    # "off" at the read bias: R_AP(0.1 V) = R_P (1 + 1.71/(1 + 0.04))
    assert 1 / t.g_min_s == pytest.approx(5e3 * (1 + 1.71 / 1.04))
    assert t.unit_current_a == pytest.approx((t.g_max_s - t.g_min_s) * 0.1)


def test_domain_wall_mtj_defaults_to_two_bits_and_allows_three():
    t = get_target("sot-mtj-dw")
    assert t.bits_per_cell == 2 and t.levels == 4
    assert load_target("sot-mtj-dw", bits_per_cell=3).levels == 8
    with pytest.raises(
        TargetError, match=r"field 'bits_per_cell': must be >= 1 and <= 3 \(got 4\)"
    ):
        load_target("sot-mtj-dw", bits_per_cell=4)


def test_pcm_and_rram_defaults_are_aihwkit_s():
    pcm = get_target("pcm")
    assert pcm.g_max_s == 25e-6 and pcm.drift_t0_s == 20.0 and pcm.t_read_s == 250e-9
    assert pcm.prog_noise_poly_s == pytest.approx((0.26348e-6, 1.9650e-6, -1.1731e-6))
    rram = get_target("rram")
    assert rram.g_max_s == 40e-6 and sorted(rram.relaxation_poly_s) == [86400.0, 172800.0]


# -- bad overrides ---------------------------------------------------------------


def test_unknown_field_is_refused_with_the_known_ones():
    with pytest.raises(TargetError) as e:
        load_target("sot-mtj", foo=1)
    msg = str(e.value)
    assert "unknown field 'foo' for target 'sot-mtj'" in msg
    assert "known:" in msg and "r_p_ohm" in msg


def test_a_misspelt_field_gets_a_suggestion():
    with pytest.raises(TargetError, match="did you mean 'r_p_ohm'"):
        load_target("sot-mtj", r_p=3)


def test_negative_resistance_names_the_field_and_its_range():
    with pytest.raises(TargetError) as e:
        load_target("sot-mtj", r_p_ohm=-5)
    assert str(e.value) == "target 'sot-mtj' field 'r_p_ohm': must be > 0 and <= 1e+09 (got -5)"
    assert isinstance(e.value, AnnccError)


def test_zero_adc_bits_is_refused():
    with pytest.raises(TargetError, match=r"field 'adc_bits': must be >= 1 and <= 16 \(got 0\)"):
        load_target("rram", adc_bits=0)


@pytest.mark.parametrize("name", ALL)
def test_an_array_larger_than_the_technology_allows_is_refused(name):
    t = get_target(name)
    with pytest.raises(TargetError) as e:
        load_target(name, array_rows=t.max_array_rows + 1)
    assert "field 'array_rows'" in str(e.value) and str(t.max_array_rows) in str(e.value)
    with pytest.raises(TargetError, match="field 'array_cols'"):
        load_target(name, array_cols=t.max_array_cols * 2)
    assert load_target(name, array_rows=t.max_array_rows).array_rows == t.max_array_rows


def test_cross_field_physics_is_checked():
    with pytest.raises(TargetError, match=r"field 'r_ap_ohm': must be > r_p_ohm"):
        load_target("sot-mtj", r_ap_ohm=4e3)
    with pytest.raises(TargetError, match=r"field 'v_read_v': must be < v_switch_v"):
        load_target("sot-mtj", v_read_v=0.35)
    with pytest.raises(TargetError, match=r"field 'g_max_s': must be > g_min_s"):
        load_target("rram", g_min_s=50e-6)
    with pytest.raises(TargetError, match=r"field 'opamp_rail_high_v'"):
        load_target("cmos", opamp_rail_high_v=-5.0)


def test_derived_fields_cannot_be_overridden():
    with pytest.raises(TargetError, match=r"field 'g_max_s' is derived \(1/r_p_ohm"):
        load_target("sot-mtj", g_max_s=1e-3)


def test_type_errors_name_the_field():
    with pytest.raises(TargetError, match=r"field 'adc_bits': must be a valid integer"):
        load_target("pcm", adc_bits="many")
    with pytest.raises(TargetError, match=r"field 'drift_nu_mean_fit': has too few items"):
        load_target("pcm", drift_nu_mean_fit=[1, 2, 3])


def test_all_errors_of_one_load_are_reported_together():
    with pytest.raises(TargetError) as e:
        load_target("sot-mtj", r_p_ohm=-1, adc_bits=0)
    assert "'r_p_ohm'" in str(e.value) and "'adc_bits'" in str(e.value)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError) as e:
        get_target("ns-ramm")
    assert "unknown target 'ns-ramm'" in str(e.value)
    assert "known: cmos, pcm, rram, sot-mtj, sot-mtj-dw" in str(e.value)


# -- overrides from files ---------------------------------------------------------


def test_yaml_overrides_apply_and_keywords_win(tmp_path):
    f = tmp_path / "mtj.yaml"
    f.write_text("r_p_ohm: 6000\nadc_bits: 6\nd2d_sigma_rel: 0.03\n")
    t = load_target("sot-mtj", f, adc_bits=8)
    assert (t.r_p_ohm, t.adc_bits, t.d2d_sigma_rel) == (6000.0, 8, 0.03)
    assert t.g_max_s == pytest.approx(1 / 6000)


def test_toml_overrides_apply_including_a_target_table_and_its_name(tmp_path):
    f = tmp_path / "pcm.toml"
    f.write_text('[target]\nname = "pcm"\ng_max_s = 20e-6\ndrift_t0_s = 10\n')
    t = load_target(None, f)
    assert t.name == "pcm" and t.g_max_s == 20e-6 and t.drift_t0_s == 10.0
    with pytest.raises(TargetError, match="the file is for target 'pcm'"):
        load_target("rram", f)


def test_rram_relaxation_fits_override_from_yaml(tmp_path):
    f = tmp_path / "rram.yml"
    f.write_text("relaxation_poly_s:\n  3600: [1.0e-6, 0.0]\n")
    t = load_target("rram", f)
    assert t.relaxation_poly_s == {3600.0: (1e-6, 0.0)}


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("r_p_ohm: -5\n")
    with pytest.raises(TargetError) as e:
        load_target("sot-mtj", f)
    assert str(e.value).startswith(str(f) + ": target 'sot-mtj' field 'r_p_ohm'")


def test_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(TargetError, match="not found"):
        load_target("rram", tmp_path / "missing.yaml")
    bad = tmp_path / "bad.toml"
    bad.write_text("adc_bits = = 3\n")
    with pytest.raises(TargetError, match="cannot parse"):
        load_target("rram", bad)
    ini = tmp_path / "t.ini"
    ini.write_text("x")
    with pytest.raises(TargetError, match="unsupported target file type"):
        load_target("rram", ini)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(TargetError, match="mapping"):
        load_target("rram", lst)


def test_with_overrides_revalidates_and_targets_are_immutable():
    t = get_target("rram")
    assert t.with_overrides(adc_bits=6).adc_bits == 6
    with pytest.raises(TargetError, match="adc_bits"):
        t.with_overrides(adc_bits=0)
    with pytest.raises(ValidationError, match="frozen"):
        t.adc_bits = 3  # type: ignore[misc]
    f = t.with_fault_study_rates()
    assert f.stuck_at_low_rate == f.stuck_at_high_rate == FAULT_STUDY_RATE == 0.01


def test_resolve_target_accepts_names_and_instances():
    t = get_target("pcm")
    assert resolve_target(t) is t and resolve_target("pcm") == t


def test_a_new_technology_registers_as_data():
    from typing import Literal

    class FakeTarget(SotMtjTarget):
        name: Literal["fake-mtj"] = "fake-mtj"  # type: ignore[assignment]

    register_target(FakeTarget)
    try:
        assert "fake-mtj" in list_targets()
        assert get_target("fake-mtj").r_p_ohm == 5e3
    finally:
        from anncc.targets import TARGETS

        del TARGETS["fake-mtj"]


# -- costs -------------------------------------------------------------------------


def test_cost_coefficients_follow_their_formulas():
    t = get_target("rram")
    assert t.adc_energy_per_conversion_j == pytest.approx(t.adc_fom_j_per_step * 2**t.adc_bits)
    assert t.with_overrides(dac_bits=3).dac_energy_per_conversion_j == pytest.approx(
        7 * t.dac_unit_energy_j
    )
    assert t.cell_area_m2 == pytest.approx(t.cell_area_f2 * t.feature_size_m**2)
    assert t.cell_read_energy_j(t.g_max_s) == pytest.approx(t.v_read_v**2 * t.g_max_s * t.t_read_s)
    assert t.adc_latency_s == pytest.approx(1 / t.adc_sample_rate_hz)


# -- E96 ---------------------------------------------------------------------------


def test_e96_is_96_values_per_decade_on_the_geometric_grid():
    assert len(E96_MANTISSAS) == 96
    assert all(a < b for a, b in itertools.pairwise(E96_MANTISSAS))
    for i, m in enumerate(E96_MANTISSAS):
        assert abs(m / (100 * 10 ** (i / 96)) - 1) < 0.005
    vals = e96_values(10.0, 1e6)
    assert len(vals) == 96 * 5 + 1 and vals[0] == 10.0 and vals[-1] == 1e6
    assert 1.02 in e96_values(1.0, 10.0) and 4.99e6 in e96_values()


def test_round_to_e96_picks_the_nearest_value_in_any_decade():
    r, err = round_to_e96(1000 / 7)
    assert isinstance(r, float) and r == 143.0 and err == pytest.approx(143 / (1000 / 7) - 1)
    assert round_to_e96(99.5)[0] == 100.0  # rounds up into the next decade
    assert round_to_e96(0.0123)[0] == pytest.approx(0.0124)
    assert round_to_e96(5e6)[0] == 4.99e6
    rs = np.geomspace(0.5, 5e7, 20001)
    r_e96, rel = round_to_e96(rs)
    assert r_e96.shape == rs.shape and np.max(np.abs(rel)) < 0.0151  # half of 133 -> 137
    np.testing.assert_allclose(rel, r_e96 / rs - 1, atol=1e-12)
    assert nearest_e96 is round_to_e96
    with pytest.raises(ValueError):
        round_to_e96(np.array([1.0, 0.0]))


def test_cmos_levels_map_to_e96_resistors_within_their_rounding_error():
    t = get_target("cmos")
    assert isinstance(t, CmosTarget) and t.g_min_s == 0.0
    assert t.g_max_s == pytest.approx((t.levels - 1) / t.r_unit_ohm)
    lv = np.arange(t.levels)
    r = t.level_resistances_ohm(lv)
    assert math.isinf(r[0]) and r[1] == pytest.approx(t.r_unit_ohm)
    g = t.e96_level_conductances(lv)
    assert g[0] == 0.0 and g[1] == pytest.approx(1 / 100e3)
    assert np.max(np.abs(t.e96_level_error_rel())) < 0.013
    assert t.resistor_tolerance_rel == pytest.approx(0.01)


@pytest.mark.parametrize("name", ALL)
def test_each_target_has_a_rationale_page_naming_every_field(name):
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "targets" / f"{name}.md"
    text = page.read_text(encoding="utf-8")
    missing = [f for f in target_class(name).model_fields if f"`{f}`" not in text]
    assert not missing, f"docs/targets/{name}.md does not describe {missing}"
