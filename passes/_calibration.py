"""Calibration as data: what `quantize` knows about a layer's activations, and the PTQ choices.

The driver runs the model on the calibration inputs (`anncc.calibration`, which
imports the runtime) and leaves, per analog layer, a `LayerCalibration` in the
weight store. `quantize` reads it back and never runs the model itself, so
`passes/` does not import `runtime/` (DESIGN.md's layering).

What is recorded per layer (keys `calibration/<index>/<layer>/<field>`):
- `in` and `out`: a `RangeStats` of the layer's input and of its (fused,
  post-ReLU) output: whether any value is negative, the largest magnitude and
  a histogram of |x| over `[0, max_abs]`;
- `in_mean`, `in_sq`: the mean and mean square of each row of the layer's
  `[K, N]` matrix input (a convolution's unfolded columns), for bias
  correction and for output-weighted clipping.

The PTQ decisions, pure numpy and each testable on its own:
- `choose_range`: an activation clip from the histogram by `minmax`,
  `percentile` or `mse` (expected squared error of rounding inside the clip
  plus clipping outside, the criterion of Banner et al., "Post training 4-bit
  quantization of convolutional networks for rapid-deployment", NeurIPS 2019,
  arXiv:1810.05723, evaluated on the histogram instead of a fitted density);
- `search_weight_clip`: a per-channel clip ratio minimizing the squared
  quantization error of the weights, each row weighted by its input's mean
  square (so the error is the layer's expected output error for independent
  inputs); min-max is the ratio 1.0, always among the candidates;
- `bias_correction`: the bias change that cancels the mean output shift the
  weight rounding causes on the calibration set (Nagel et al., "Data-free
  quantization through weight equalization and bias correction", ICCV 2019,
  arXiv:1906.04721, empirical variant);
- `gptq_round`: data-driven rounding of the weights at fixed scales, each row
  rounded in turn and its error spread over the rows not yet rounded through
  the inverse Hessian of the layer's output error (Frantar et al., "GPTQ:
  Accurate post-training quantization for generative pre-trained
  transformers", ICLR 2023, arXiv:2210.17323; the "optimal brain compression"
  update without its lazy batching). It needs the second moment `in_xx` of the
  layer's inputs, recorded only when asked for (`rounding=gptq`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anncc.errors import AnnccError

#: Bins of the |x| histogram recorded per activation.
HIST_BINS = 2048
#: Activation range criteria `choose_range` knows.
RANGE_METHODS = ("minmax", "percentile", "mse")
#: The smallest activation range quantize accepts: its scale must stay a normal float32.
MIN_RANGE = 1e-30
STORE_PREFIX = "calibration/"


@dataclass
class RangeStats:
    """One activation tensor over the calibration set: sign, peak and |x| histogram."""

    signed: bool
    max_abs: float
    hist: np.ndarray  # [HIST_BINS] counts of |x| over [0, max_abs]
    count: int

    @staticmethod
    def of(x: np.ndarray, bins: int = HIST_BINS) -> RangeStats:
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.size and not np.isfinite(x).all():
            raise AnnccError("calibration: an activation is not finite (inf or nan)")
        a = np.abs(x)
        peak = float(a.max()) if a.size else 0.0
        hist = np.histogram(a, bins=bins, range=(0.0, peak if peak > 0 else 1.0))[0]
        return RangeStats(bool((x < 0).any()), peak, hist.astype(np.float64), int(x.size))

    def to_array(self) -> np.ndarray:
        return np.concatenate([[float(self.signed), self.max_abs, float(self.count)], self.hist])

    @staticmethod
    def from_array(a: np.ndarray) -> RangeStats:
        a = np.asarray(a, dtype=np.float64)
        return RangeStats(bool(a[0]), float(a[1]), a[3:].copy(), int(a[2]))


@dataclass
class LayerCalibration:
    """What calibration measured for one analog layer (see the module docstring)."""

    inp: RangeStats
    out: RangeStats
    in_mean: np.ndarray  # [K]
    in_sq: np.ndarray  # [K]
    #: E[x xᵀ] per convolution group, [groups, K/groups, K/groups]; only for `rounding=gptq`
    in_xx: np.ndarray | None = None

    FIELDS = ("in", "out", "in_mean", "in_sq", "in_xx")

    def save(self, store, index: int, name: str) -> None:
        base = layer_key(index, name)
        store.add(f"{base}/in", self.inp.to_array())
        store.add(f"{base}/out", self.out.to_array())
        store.add(f"{base}/in_mean", np.asarray(self.in_mean, dtype=np.float64))
        store.add(f"{base}/in_sq", np.asarray(self.in_sq, dtype=np.float64))
        if self.in_xx is not None:
            store.add(f"{base}/in_xx", np.asarray(self.in_xx, dtype=np.float64))

    @staticmethod
    def load(store, index: int, name: str) -> LayerCalibration | None:
        base = layer_key(index, name)
        if f"{base}/in" not in store:
            return None
        return LayerCalibration(RangeStats.from_array(store.get(f"{base}/in")),
                                RangeStats.from_array(store.get(f"{base}/out")),
                                np.asarray(store.get(f"{base}/in_mean"), dtype=np.float64),
                                np.asarray(store.get(f"{base}/in_sq"), dtype=np.float64),
                                np.asarray(store.get(f"{base}/in_xx"), dtype=np.float64)
                                if f"{base}/in_xx" in store else None)


def layer_key(index: int, name: str) -> str:
    return f"{STORE_PREFIX}{index}/{name}"


# ----------------------------------------------------------------------------- activation ranges
def qmax(bits: int, signed: bool) -> int:
    """The largest integer code: `2^(bits−1) − 1` signed, `2^bits − 1` unsigned."""
    return (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1


def choose_range(stats: RangeStats, bits: int, method: str = "mse", percentile: float = 99.99,
                 layer: str = "?", what: str = "input") -> float:
    """The clip (largest represented magnitude) of an activation, by `method`.

    Raises naming the layer when the calibrated range is zero or too small to
    quantize (every value would become the integer 0).
    """
    if method not in RANGE_METHODS:
        raise AnnccError(f"quantize: unknown activation range method '{method}'",
                         hint=f"one of {', '.join(RANGE_METHODS)}")
    if not stats.max_abs > MIN_RANGE:
        raise AnnccError(
            f"quantize: layer '{layer}': the calibrated {what} range is degenerate "
            f"(max |x| = {stats.max_abs:.3g} over {stats.count} values); its integers would all be 0",
            hint="calibrate with inputs that exercise the layer, or check its weights")
    if method == "minmax":
        return stats.max_abs
    hist = stats.hist
    width = stats.max_abs / len(hist)
    centers = (np.arange(len(hist)) + 0.5) * width
    if method == "percentile":
        cdf = np.cumsum(hist) / max(hist.sum(), 1.0)
        i = int(np.searchsorted(cdf, percentile / 100.0))
        return float(min((i + 1) * width, stats.max_abs))
    q = qmax(bits, stats.signed)
    clips = np.linspace(0.05, 1.0, 96) * stats.max_abs
    errs = [_expected_error(hist, centers, c, c / q) for c in clips]
    return float(clips[int(np.argmin(errs))])


def _expected_error(hist: np.ndarray, centers: np.ndarray, clip: float, step: float) -> float:
    """Σ counts·error: uniform rounding error step²/12 inside the clip, squared excess outside."""
    inside = centers <= clip
    return float(hist[inside].sum() * step * step / 12.0
                 + (hist[~inside] * (centers[~inside] - clip) ** 2).sum())


# ----------------------------------------------------------------------------- weights
def quantize_with_scale(m: np.ndarray, scale: np.ndarray, w_bits: int) -> np.ndarray:
    """Round `m [K, N]` to symmetric `w_bits` integers with per-column `scale [N]`."""
    q = qmax(w_bits, True)
    return np.clip(np.rint(m / scale), -q, q)


def minmax_scales(m: np.ndarray, w_bits: int, per_channel: bool) -> np.ndarray:
    """Per-column scales `max|w| / q_max` (one shared value when not `per_channel`)."""
    peak = np.abs(m).max(axis=0) if per_channel else np.full(m.shape[1], np.abs(m).max())
    return np.where(peak > 0, peak / qmax(w_bits, True), 1.0).astype(np.float64)


def weight_error(m: np.ndarray, scale: np.ndarray, w_bits: int,
                 row_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-column Σ_k h_k (w − s·q(w/s))² (h = 1 without `row_weight`; `h_kj` when it is 2-D).

    `quantize_with_scale`'s arithmetic in one buffer (the clip search calls this 32 times
    per layer; a 28M-weight model spent 30 s in the temporaries): the same values.
    """
    t = np.divide(m, scale)
    np.rint(t, out=t)
    q = qmax(w_bits, True)
    np.clip(t, -q, q, out=t)
    t *= scale
    np.subtract(m, t, out=t)
    np.square(t, out=t)
    if row_weight is not None:  # per row [K], or per row and column [K, N]
        t *= row_weight if row_weight.ndim == 2 else row_weight[:, None]
    return t.sum(axis=0)


def search_weight_clip(m: np.ndarray, w_bits: int, per_channel: bool = True,
                       row_weight: np.ndarray | None = None,
                       ratios: np.ndarray | None = None) -> np.ndarray:
    """Per-column scales whose clip `ratio·max|w|` minimizes `weight_error` (ratio 1 is min-max)."""
    base = minmax_scales(m, w_bits, per_channel)
    ratios = np.linspace(0.25, 1.0, 31) if ratios is None else np.asarray(ratios)
    best_scale, best_err = base.copy(), weight_error(m, base, w_bits, row_weight)
    for r in ratios:
        s = base * r
        e = weight_error(m, s, w_bits, row_weight)
        if not per_channel:
            e = np.full_like(e, e.sum())
        better = e < best_err
        best_scale[better], best_err[better] = s[better], e[better]
    return best_scale


def bias_correction(m: np.ndarray, m_hat: np.ndarray, in_mean: np.ndarray) -> np.ndarray:
    """The per-column bias change `E[x]·(M − M̂)` that restores the mean output of `x·M + b`."""
    return np.asarray(in_mean, dtype=np.float64) @ (m - m_hat)


#: Rounding methods of the weights `quantize` knows.
ROUNDINGS = ("nearest", "gptq")
#: GPTQ's damping: this fraction of the mean diagonal of the Hessian is added to it (as in the paper).
GPTQ_DAMP = 0.01
#: The largest Hessian side (rows of one convolution group) calibration records for GPTQ.
GPTQ_MAX_ROWS = 4096


def gptq_round(m: np.ndarray, scale: np.ndarray, w_bits: int, hessian: np.ndarray,
               groups: int = 1, damp: float = GPTQ_DAMP) -> np.ndarray:
    """GPTQ integers of `m [K, N]` at per-column `scale [N]` (module docstring).

    `hessian` is `E[x xᵀ]` of the layer's input rows per group, `[groups, K/g, K/g]`;
    with groups the matrix is block-diagonal (`weight_matrix`) and each block is
    rounded on its own, so the zero blocks stay zero. Minimizes (greedily, row
    by row) the output error `E‖x(M − s·Q)‖²` instead of each weight's own error.
    """
    q_top = qmax(w_bits, True)
    k, n = m.shape
    kg, og = k // groups, n // groups
    if hessian.shape != (groups, kg, kg):
        raise AnnccError(f"quantize: GPTQ Hessian of shape {hessian.shape} does not match a "
                         f"[{k}, {n}] matrix in {groups} group(s); recalibrate")
    out = np.zeros((k, n), dtype=np.float64)
    for g in range(groups):
        rows, cols = slice(g * kg, (g + 1) * kg), slice(g * og, (g + 1) * og)
        w = np.array(m[rows, cols], dtype=np.float64)
        s = np.asarray(scale[cols], dtype=np.float64)
        h = np.array(hessian[g], dtype=np.float64)
        dead = np.diag(h) <= 0
        h[dead, dead] = 1.0
        w[dead] = 0.0
        h[np.diag_indices(kg)] += damp * float(np.mean(np.diag(h)))
        # upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU): row i's update of rows > i is U[i, i+1:] / U[i, i]
        u = np.linalg.cholesky(np.linalg.inv(h)).T
        qg = np.zeros_like(w)
        for i in range(kg):
            qi = np.clip(np.rint(w[i] / s), -q_top, q_top)
            qg[i] = qi
            err = (w[i] - qi * s) / u[i, i]
            w[i + 1:] -= np.outer(u[i, i + 1:], err)
        out[rows, cols] = qg
    return out


def parse_bits_per_layer(text: str) -> dict[str, int]:
    """`'fc1=8,conv2=3'` -> {'fc1': 8, 'conv2': 3}; a clear error on a malformed entry."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, bits = part.rpartition("=")
        if not eq or not name.strip() or not bits.strip().isdigit():
            raise AnnccError(f"quantize: bad per-layer bit width '{part}'", hint="write NAME=BITS,...")
        b = int(bits)
        if not 2 <= b <= 8:
            raise AnnccError(f"quantize: layer '{name.strip()}': w-bits must be in [2, 8], got {b}")
        out[name.strip()] = b
    return out
