"""Hardware-aware fine-tuning: the cell level with device physics as a differentiable function.

    y = analog_forward(model, x, seed=0, **options)            # grad flows to x
    g = tile_conductances(model, seed=0)                         # {tile: G [rows, cols] (S)}
    for t in g.values(): t.requires_grad_(True)
    y = analog_forward(model, x, seed=0, conductances=g)         # ... and to every G

The values are those of `Model.run(x, level="cell", analog=True, seed=...)`
(the same devices, reads and integer arithmetic); only the gradients are
defined where the hardware has none, by straight-through estimators
(Bengio et al. 2013; aihwkit's and CrossSim's hardware-aware training do the same):

- every rounding (input quantization, ADC, requantization) passes the
  gradient through unchanged, clamps pass it only inside their range;
- the bit-serial input planes and the per-plane ADC pass the gradient of the
  collapsed linear map: d acc / d x = W with `W = α Σ_k 2^(k·b) (C⁺_k − C⁻_k)`,
  the signed combined count matrix of the programmed (noisy) devices — so a
  network learns around the devices it will run on;
- w.r.t. conductances the count matrix `C = (G − G_ref)/ΔG` is differentiated
  exactly; IR drop (a sparse solve) enters as a constant offset `G_eff − G`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from anncc.ir.ann import ints_of
from anncc.ir.contract import requantize
from anncc.ir.xbar import int_info, int_range
from anncc.runtime.analog import (
    AnalogOptions,
    analog_tile,
    array_target,
    build_array_model,
    operand_tensor,
    program_tile,
    read_generator,
    target_of_op,
)
from anncc.runtime.cell_kernels import tile_inputs
from anncc.runtime.interpreter import ExecContext, Kernel, run_module

Tensor = torch.Tensor


def round_ste(x: Tensor) -> Tensor:
    """round(x) in value (half to even, as torch.round), identity in gradient."""
    return x + (torch.round(x) - x).detach()


def floor_ste(x: Tensor) -> Tensor:
    """floor(x) in value, identity in gradient."""
    return x + (torch.floor(x) - x).detach()


# ------------------------------------------------------------------ float twins of the kernels


def _quantize(op, args, ctx):
    info = int_info(op.result.type)
    assert info is not None
    lo, hi = int_range(*info)
    return round_ste(args[0].double() / op.scale.value.data).clamp(lo, hi)


def _dequantize(op, args, ctx):
    return (args[0].double() * op.scale.value.data).to(ctx.dtype)


def _unfold(op, args, ctx):
    x = args[0].double()
    k, s, p, d = (ints_of(a) for a in (op.kernel, op.stride, op.padding, op.dilation))
    if len(k) == 1:
        x, k, s, p, d = x.unsqueeze(2), [1, *k], [1, *s], [0, *p], [1, *d]
    return F.unfold(x, k, dilation=d, padding=p, stride=s).transpose(1, 2)


def _xbar_mvm(op, args, ctx):
    x, w = args
    r0, c0, rows, cols = op.bounds()
    return x[..., r0:r0 + rows].double() @ w[r0:r0 + rows, c0:c0 + cols].double()


def _requant(op, args, ctx):
    """`contract.requantize` in value; gradient of the real rescale `(acc + bias)·M/2^S` inside the clamp."""
    acc, bias, mult, shift = args
    zp, lo, hi = op.zero_point.value.data, op.lo.value.data, op.hi.value.data
    value = requantize(acc.detach().double(), bias.double(), mult.double(), shift, zp, lo, hi)
    real = ((acc.double() + bias.double()) * mult.double() / torch.pow(2.0, shift.double()) + zp)
    real = real.clamp(lo, hi)
    return real + (value - real).detach()


def _cell_mvm(op, args, ctx):
    """The analog read with straight-through gradients (module docstring)."""
    x, _w, levels, colmap, rowmap, faults = args
    f = op.params()
    target = target_of_op(op, ctx)
    options = {k: v for k, v in ctx.options.items() if k != "conductances"}
    opts = AnalogOptions.resolve(options, array_target(target, f.g_min_s, f.g_max_s))
    g = ctx.options.get("conductances", {}).get(f.tile)
    key = ("analog-array", f.tile, ctx.seed, opts.key, id(target))
    model = ctx.cache.get(key) if g is None else None
    if model is None:
        model = build_array_model(op, levels, colmap, rowmap, faults, target, ctx.seed, opts,
                                  conductances=g)
        if g is None:
            ctx.cache[key] = model
    xt, lead = tile_inputs(op, x)
    if xt.is_floating_point():
        xt = xt.to(model.dtype)
    gen = read_generator(ctx, f.tile) if opts.has_read_randomness else None
    if model.combined is not None:  # exact and linear: differentiable as it stands
        acc = analog_tile(xt, model, f, gen, ideal_adc=opts.ideal_adc, differentiable=True)
    else:
        acc = analog_tile(xt.detach(), model, f, gen, ideal_adc=opts.ideal_adc,
                          differentiable=True)
        if xt.requires_grad:  # the planes' and ADC's straight-through: the collapsed map
            w_lin = (model.counts[0] @ model.shift_add).detach()
            acc = acc + (xt @ w_lin - (xt @ w_lin).detach())
    return round_ste(acc.double()).reshape(*lead, f.cols)


DIFFERENTIABLE_KERNELS: dict[str, Kernel] = {
    "xbar.quantize": _quantize,
    "xbar.dequantize": _dequantize,
    "xbar.unfold": _unfold,
    "xbar.mvm": _xbar_mvm,
    "xbar.requant": _requant,
    "cell.mvm": _cell_mvm,
}


# --------------------------------------------------------------------------- the public functions


def run_differentiable(module, store, inputs: list[Tensor], ctx: ExecContext) -> list[Tensor]:
    """Interpret `module` with the float twins of the integer kernels (gradients enabled)."""
    return run_module(module, store, inputs, ctx, kernels=DIFFERENTIABLE_KERNELS)[0]


def analog_forward(model, x: Tensor, seed: int = 0,
                   conductances: Mapping[str, Tensor] | None = None, **options: Any) -> Tensor:
    """The cell level of `model` on `x` with device physics, differentiable (module docstring).

    `x` may require grad; `conductances` maps tile names to conductance
    tensors [array_rows, array_cols] (siemens) that replace the programmed
    devices and may require grad. `options` are the analog options of
    `anncc.runtime.analog.AnalogOptions`.
    """
    ctx = ExecContext(store=model.store, analog=True, seed=seed, options=dict(options))
    ctx.options.setdefault("target", model.target())
    if conductances is not None:
        ctx.options["conductances"] = dict(conductances)
    with torch.enable_grad():
        return run_differentiable(model.ir("cell"), model.store, [x], ctx)[0]


def tile_conductances(model, seed: int = 0, **options: Any) -> dict[str, Tensor]:
    """The programmed conductances of every array of the cell level, as fresh leaf tensors.

    The same devices `analog_forward(..., seed=seed, **options)` reads
    (`anncc.runtime.analog.programmed_conductances`).
    """
    from anncc.ir.cell import MvmOp

    target = model.target()
    ctx = ExecContext(store=model.store, seed=seed)
    out: dict[str, Tensor] = {}
    for op in model.ir("cell").walk():
        if isinstance(op, MvmOp):
            f = op.params()
            opts = AnalogOptions.resolve(options, array_target(target, f.g_min_s, f.g_max_s))
            prog = program_tile(op, operand_tensor(op.levels, ctx),
                                operand_tensor(op.faults, ctx), target,
                                seed, opts)
            out[f.tile] = prog.g_s.detach().clone()
    return out


__all__ = [
    "DIFFERENTIABLE_KERNELS",
    "analog_forward",
    "floor_ste",
    "round_ste",
    "run_differentiable",
    "tile_conductances",
]
