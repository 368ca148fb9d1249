"""The integer contract of DESIGN.md section 4, and the first-order array figures: one definition.

Every kernel (runtime/), pass (passes/), estimate, trace, training path and
backend computes these quantities by calling this module; nothing else in the
source tree defines them (tests/unit/test_contract_module.py greps for copies).

The functions work on Python ints, numpy arrays and torch tensors alike
(torch is never imported here): integer inputs give exact integer results,
floating-point inputs (real-valued column counts of the analog read) the same
transfer on reals.

- Inputs: `input_planes`, `plane_weights` — `x = Σ_t weight[t]·plane[t]`.
- Weights: `slice_levels`, `slice_weights` — differential, bit-sliced cells.
- ADC: `adc_read`, `adc_shift_for` — `code = min((c + 2^(s−1)) >> s, 2^adc_bits − 1)`.
- Shift-add: `shift_add`.
- Requantization: `requantize`, `requant_multiplier`.
- Bounds: `max_abs_input`, `max_abs_weight`, `accumulator_bound`, `signed_bits`,
  `requant_product_bound`, `INT64_MAX`.
- Redundancy: `vote` (TMR, the median of three replicas).
- IR drop (first order): `irdrop_alpha_beta`, `irdrop_expected_error`.
- MTJ bias dependence: `tmr_at_bias`, `tmr_at_bias_derivative`.
- The same transfers as ngspice B-source expressions (a netlist's behavioural ADC, input
  planes and requantizer): `adc_read_expr`, `input_plane_expr`, `requantize_expr`.
"""

from __future__ import annotations

import math
from typing import Any

#: The largest int64: requantization products must stay within it.
INT64_MAX = (1 << 63) - 1


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _is_float(x: Any) -> bool:
    if isinstance(x, float):
        return True
    if _is_torch(x):
        return bool(x.is_floating_point())
    kind = getattr(getattr(x, "dtype", None), "kind", "i")
    return kind == "f"


def _floor(x: Any) -> Any:
    if _is_torch(x):
        return x.floor()
    if isinstance(x, float):
        return float(math.floor(x))
    import numpy as np

    return np.floor(x)


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    if _is_torch(x):
        return x.clamp(lo, hi)
    if isinstance(x, (int, float)):
        return min(max(x, lo), hi)
    import numpy as np

    return np.clip(x, lo, hi)


def _stack(xs: list[Any]) -> Any:
    if _is_torch(xs[0]):
        import torch

        return torch.stack(xs)
    import numpy as np

    return np.stack(xs)


# --------------------------------------------------------------------------- inputs


def plane_weights(in_bits: int, signed: bool, dac_bits: int) -> list[int]:
    """The weight of each DAC plane of `input_planes` (integers, LSB plane first).

    `dac_bits`-bit planes of the input's unsigned bits weigh `2^(t·dac_bits)`.
    Two's complement inputs: with 1-bit planes the MSB plane weighs
    `−2^(in_bits−1)`; with wider DACs an extra 1-bit plane of the sign bits
    weighs `−2^in_bits`.
    """
    n_planes = -(-in_bits // dac_bits)
    weights = [1 << (t * dac_bits) for t in range(n_planes)]
    if signed:
        if dac_bits == 1:
            weights[-1] = -(1 << (in_bits - 1))
        else:
            weights.append(-(1 << in_bits))
    return weights


def input_planes(x: Any, in_bits: int, signed: bool, dac_bits: int) -> tuple[Any, list[float]]:
    """Split integers into DAC planes: `x = Σ_t weight[t]·plane[t]`, planes unsigned digits.

    Returns the planes stacked on a new leading axis `[P, *x.shape]` and their
    weights (`plane_weights`, as floats for use as multipliers).
    """
    xu = x & ((1 << in_bits) - 1) if signed else x
    n_planes = -(-in_bits // dac_bits)
    mask = (1 << dac_bits) - 1
    planes = [(xu >> (t * dac_bits)) & mask for t in range(n_planes)]
    if signed and dac_bits > 1:
        planes.append((xu >> (in_bits - 1)) & 1)
    return _stack(planes), [float(w) for w in plane_weights(in_bits, signed, dac_bits)]


# --------------------------------------------------------------------------- weights


def slice_weights(n_slices: int, bits_per_cell: int) -> list[int]:
    """`2^(k·b)`: the weight of bit slice k (LSB first) of a weight magnitude."""
    return [1 << (k * bits_per_cell) for k in range(n_slices)]


def n_slices_for(w_bits: int, bits_per_cell: int) -> int:
    """Slices of `bits_per_cell` bits that hold a `w_bits`-bit weight's `w_bits − 1` magnitude bits."""
    return max(1, -(-(w_bits - 1) // bits_per_cell))


def slice_levels(w: Any, n_slices: int, bits_per_cell: int) -> Any:
    """`[rows, cols, n_slices, 2]` cell levels (uint8) of an integer weight tile.

    Differential mapping `w = w⁺ − w⁻` (both ≥ 0), each magnitude sliced LSB
    first: `w^p = Σ_k 2^(k·b)·level[..., k, p]`. Numpy in, numpy out.
    """
    import numpy as np

    w = np.asarray(w).astype(np.int64)
    pos, neg = np.maximum(w, 0), np.maximum(-w, 0)
    mask = (1 << bits_per_cell) - 1
    out = np.empty(w.shape + (n_slices, 2), dtype=np.uint8)
    for k in range(n_slices):
        out[..., k, 0] = (pos >> (k * bits_per_cell)) & mask
        out[..., k, 1] = (neg >> (k * bits_per_cell)) & mask
    return out


# --------------------------------------------------------------------------- ADC


def adc_read(counts: Any, adc_bits: int, shift: int, inplace: bool = False) -> Any:
    """The ADC transfer, read back in count units: `min((c + 2^(s−1)) >> s, 2^adc_bits − 1) << s`.

    Integer counts are converted exactly (at `s = 0` the code is the count,
    clipped). Real-valued counts (an analog read) go to the nearest code,
    **halves rounded up**: `floor(c / 2^s + 1/2)`. That is the same formula as
    the integer one for every `s` — `(c + 2^(s−1)) >> s` is `floor(c/2^s + 1/2)` —
    so `s = 0` is not a special case and a real count exactly on a threshold
    goes the same way whatever the shift (half-to-even would send 0.5 to 0 but
    1.0 at `s = 1` to 2). Negative counts read 0. `inplace` (float torch
    tensors only) overwrites `counts`.
    """
    top = (1 << adc_bits) - 1
    step = 1 << shift
    if _is_float(counts):
        if inplace and _is_torch(counts):
            if not shift:  # × 1.0 changes no bit: one pass less over a large read
                return counts.add_(0.5).floor_().clamp_(0.0, float(top))
            counts.div_(float(step))
            return counts.add_(0.5).floor_().clamp_(0.0, float(top)).mul_(float(step))
        code = _clip(_floor(counts / float(step) + 0.5), 0.0, float(top))
        return code * float(step)
    half = step >> 1
    code = _clip((counts + half) >> shift, 0, top)
    return code * step if shift else code


def adc_shift_for(max_count: int, adc_bits: int) -> int:
    """The smallest shift `s` whose ADC never saturates on counts up to `max_count`.

    `max_count >> s` must fit `adc_bits` bits: 0 when the ADC is lossless, else
    the ADC loses only LSBs.
    """
    return max(0, int(max_count).bit_length() - adc_bits)


def max_column_count(levels: Any, dac_bits: int) -> int:
    """The largest count a column of `levels` [rows, cols] can produce in one read."""
    import numpy as np

    lv = np.asarray(levels).astype(np.int64)
    return int(lv.sum(axis=0).max(initial=0)) * ((1 << dac_bits) - 1)


# --------------------------------------------------------------------------- shift-add


def shift_add(col_values: Any, plane_w: list[float], n_slices: int, bits_per_cell: int,
              cols: int) -> Any:
    """`acc = Σ_t w_t Σ_k 2^(k·b)·(c⁺ − c⁻)` from `[P, M, cols·n_slices·2]` column values.

    Physical column order: `(j·n_slices + k)·2 + p`. Returns `[M, cols]` in the
    input's dtype (exact for integers; for floats while sums stay below 2^53).
    """
    v = col_values.reshape(col_values.shape[0], col_values.shape[1], cols, n_slices, 2)
    diff = v[..., 0] - v[..., 1]
    per_plane = None
    for k, sw in enumerate(slice_weights(n_slices, bits_per_cell)):
        term = diff[..., k] * sw
        per_plane = term if per_plane is None else per_plane + term
    assert per_plane is not None
    acc = None
    for t, pw in enumerate(plane_w):
        w = int(pw) if not _is_float(per_plane) else float(pw)
        term = per_plane[t] * w
        acc = term if acc is None else acc + term
    return acc


# --------------------------------------------------------------------------- requantization


def requantize(acc: Any, bias: Any, mult: Any, shift: Any, zero_point: int, lo: int,
               hi: int) -> Any:
    """`y = clamp((((acc + bias)·M + 2^(S−1)) >> S) + zp, lo, hi)` (gemmlowp), per channel.

    Integer inputs: int64 arithmetic, `>>` arithmetic (rounds half up); the
    caller guarantees `requant_product_bound` < 2^63 (tile checks it).
    Floating inputs: the same with `floor((t + 2^(S−1)) / 2^S)` in float64,
    exact while `|(acc + bias)·M| < 2^53`.
    """
    if _is_float(acc):
        total = (acc + bias) * mult
        scale = 2.0 ** shift if not _is_torch(shift) else shift.double().exp2()
        return _clip(_floor((total + scale / 2) / scale) + zero_point, lo, hi)
    if _is_torch(acc):
        import torch

        total = (acc + bias.to(torch.int64)) * mult.to(torch.int64)
        s = shift.to(torch.int64)
        rounded = (total + (torch.ones_like(s) << (s - 1))) >> s
        return (rounded + zero_point).clamp(lo, hi)
    import numpy as np

    total = (np.asarray(acc, dtype=np.int64) + np.asarray(bias, dtype=np.int64)) * np.asarray(
        mult, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    rounded = (total + (np.int64(1) << (s - 1))) >> s
    return np.clip(rounded + zero_point, lo, hi)


def requant_multiplier(real: float, max_bits: int = 31) -> tuple[int, int]:
    """`real ≈ M · 2^−S` with `M` in `[2^(max_bits−1), 2^max_bits)` (gemmlowp: 31); (0, 1) for 0.

    `max_bits` below 31 trades multiplier precision for a smaller product
    (`requant_product_bound`). Raises ValueError when `real` needs `S < 1`.
    """
    if real <= 0:
        return 0, 1
    mant, exp = math.frexp(real)
    m = round(mant * (1 << max_bits))
    s = max_bits - exp
    if m == 1 << max_bits:
        m //= 2
        s -= 1
    while s > 62:  # vanishing multipliers: fewer mantissa bits keep S in range
        m >>= 1
        s -= 1
    if s < 1:
        raise ValueError(f"requantization multiplier {real:g} is too large")
    return m, s


# --------------------------------------------------------------------------- bounds


def max_abs_input(in_bits: int, signed: bool) -> int:
    """The largest |x| of an `in_bits`-bit input: `2^(in_bits−1)` signed, `2^in_bits − 1` unsigned."""
    return 1 << (in_bits - 1) if signed else (1 << in_bits) - 1


def max_abs_weight(w_bits: int) -> int:
    """The largest |w| of a symmetric `w_bits`-bit weight: `2^(w_bits−1) − 1`."""
    return (1 << (w_bits - 1)) - 1


def accumulator_bound(fan_in: int, in_bits: int, signed: bool, w_bits: int) -> int:
    """The worst-case |Σ_i x_i·w_i| over `fan_in` products (an array's or a layer's accumulator)."""
    return fan_in * max_abs_input(in_bits, signed) * max_abs_weight(w_bits)


def signed_bits(bound: int) -> int:
    """Bits of a two's complement register that holds every value in `[−bound, bound]`."""
    return int(bound).bit_length() + 1


def requant_product_bound(acc_bound: int, bias_bound: int, mult: int, shift: int) -> int:
    """The largest |(acc + bias)·M + 2^(S−1)| of a requantization (must stay below 2^63)."""
    return (acc_bound + bias_bound) * abs(mult) + (1 << (shift - 1))


# --------------------------------------------------------------------------- redundancy


def vote(replicas: Any) -> Any:
    """Triple modular redundancy: the elementwise median of three replicas' partial sums.

    `median(a, b, c) = max(min(a, b), min(max(a, b), c))`: one replica's wrong
    value (a stuck cell) is outvoted by the two that agree.
    """
    a, b, c = replicas
    if _is_torch(a):
        import torch

        return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))
    import numpy as np

    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


# --------------------------------------------------------------------------- IR drop


def irdrop_alpha_beta(g: Any, r_wire_ohm: float, r_contact_ohm: float) -> tuple[float, float]:
    """First-order IR-drop figures (α, β) of an `N×M` array of conductances `g` (S).

    `α = R_wire·Ḡ·(N² + M²)/2` (wire drop), `β = R_contact·Ḡ·(N + M)/2` (contact
    drop), `Ḡ` the mean cell conductance over the whole physical array — the
    `α = R_wire·Ḡ·N²`, `β = R_contact·Ḡ·N` of DESIGN.md section 7 for a square
    array (the row wire carries M cells, the column wire N).
    """
    import numpy as np

    arr = np.asarray(g, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"irdrop_alpha_beta needs a non-empty [N, M] array, got shape {arr.shape}")
    n, m = arr.shape
    g_mean = float(arr.mean())
    return (r_wire_ohm * g_mean * (n * n + m * m) / 2.0, r_contact_ohm * g_mean * (n + m) / 2.0)


def irdrop_expected_error(alpha: float, beta: float) -> float:
    """First-order relative column-current loss from IR drop: `α/2 + 2β`.

    Row and column contacts each carry a whole line's current (β each); the
    distributed wire drop along a uniformly loaded line averages to about α/4
    per line, two lines per cell. It overestimates once it nears 1.
    """
    return alpha / 2.0 + 2.0 * beta


# --------------------------------------------------------------------------- MTJ


def tmr_at_bias(v: Any, tmr0: float, v_half_v: float) -> Any:
    """TMR(V) = TMR0 / (1 + (V/V_h)²).

    Source: Zhang et al., IEEE TED 59(3), 819 (2012) (the half-bias model the
    MTJ targets cite).
    """
    return tmr0 / (1.0 + (v / v_half_v) ** 2)


def tmr_at_bias_derivative(v: Any, tmr0: float, v_half_v: float) -> Any:
    """dTMR/dV of `tmr_at_bias`: `−2·TMR0·(V/V_h) / (V_h·(1 + (V/V_h)²)²)`."""
    u = v / v_half_v
    return -tmr0 * 2.0 * u / (v_half_v * (1.0 + u ** 2) ** 2)


# --------------------------------------------------------------------------- as SPICE expressions


def _spice_float(x: float) -> str:
    return repr(float(x))


def adc_read_expr(count: str, adc_bits: int, shift: int) -> str:
    """`adc_read` on a real count, as the text of an ngspice B-source expression of `count`.

    `min(max(floor(c/2^s + 1/2), 0), 2^adc_bits − 1)·2^s`: the real-count transfer
    of `adc_read` (halves up, negative counts read 0), read back in count units.
    """
    step = _spice_float(1 << shift)
    top = _spice_float((1 << adc_bits) - 1)
    return f"min(max(floor(({count})/{step} + 0.5), 0), {top})*{step}"


def input_plane_expr(code: str, plane: int, dac_bits: int) -> str:
    """Digit `plane` of `input_planes` for an unsigned integer `code`, as an ngspice expression.

    `floor(x/2^(t·b)) − 2^b·floor(x/2^((t+1)·b))`, i.e. `(x >> t·b) & (2^b − 1)`
    for `x ≥ 0` (unsigned inputs only: the sign plane of signed ones is not written).
    """
    lo = _spice_float(1 << (plane * dac_bits))
    hi = _spice_float(1 << ((plane + 1) * dac_bits))
    return f"(floor(({code})/{lo}) - {_spice_float(1 << dac_bits)}*floor(({code})/{hi}))"


def requantize_expr(acc: str, bias: int, mult: int, shift: int, zero_point: int, lo: int,
                    hi: int) -> str:
    """`requantize` of a real (integer-valued) `acc` as an ngspice expression: one channel.

    The floating form of `requantize`, `clamp(floor(((acc + bias)·M + 2^(S−1))/2^S) + zp,
    lo, hi)`, exact in double precision while `|(acc + bias)·M| < 2^53`.
    """
    scale = 1 << int(shift)
    total = f"((({acc}) + {_spice_float(int(bias))})*{_spice_float(int(mult))})"
    rounded = f"floor(({total} + {_spice_float(scale / 2)})/{_spice_float(scale)})"
    return f"min(max({rounded} + {int(zero_point)}, {int(lo)}), {int(hi)})"


__all__ = [
    "INT64_MAX", "accumulator_bound", "adc_read", "adc_read_expr", "adc_shift_for",
    "input_plane_expr", "input_planes",
    "irdrop_alpha_beta", "irdrop_expected_error", "max_abs_input", "max_abs_weight",
    "max_column_count", "n_slices_for", "plane_weights", "requant_multiplier",
    "requant_product_bound", "requantize", "requantize_expr", "shift_add", "signed_bits",
    "slice_levels", "slice_weights", "tmr_at_bias", "tmr_at_bias_derivative", "vote",
]
