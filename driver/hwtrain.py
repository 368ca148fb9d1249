"""Hardware-aware fine-tuning: train a model through the errors its target chip will make.

    tuned = anncc.finetune(model, x, y, target="rram", epochs=2)     # an nn.Module
    anncc finetune model.pt2 --target rram --data train.npz -o tuned.pt2

The tuned model is an ordinary PyTorch module (a `torch.export` graph module;
the CLI saves it as `.pt2`) and compiles like any other.

**What the training forward sees.** Every analog layer (`linear`, `conv`) of
the exported graph gets, in a copy used only for training:

- its input fake-quantized to `in_bits` with a learned range (the clip is a
  parameter, PACT-style: Choi et al., "PACT: Parameterized clipping activation
  for quantized neural networks", arXiv:1805.06085), unsigned when the
  calibrated input is never negative, rounding straight-through;
- its weights clipped per output channel at a learned clip and rounded to
  symmetric `w_bits` integers (straight-through, learned step as in LSQ: Esser
  et al., "Learned step size quantization", ICLR 2020, arXiv:1902.08153);
- **the chip's weight errors, measured through the runtime**: the model is
  compiled for the target (`anncc.compile`), `chips` chips are programmed by
  the runtime's own device code (`runtime.analog.build_array_model`: the
  target's programming noise, device-to-device variation, stuck-at faults,
  drift at `drift_time_s`, and IR drop through the effective weights when the
  target's options turn it on), and each array's effective integer weights
  `counts · shift_add` are compared with the ideal ones. The differences, in
  units of one weight LSB and mapped back to each weight, are added to the
  rounded weights (times the current step), one measured chip per training
  step, chosen at random; the runtime's read-noise variance per weight (the
  same model, `read_var`) is added as fresh Gaussian noise on every step. The
  measurement is repeated at the start of every epoch from the current weights.

Approximations, stated: the errors are those of the weights as quantized at
the start of the epoch (a weight that changes level keeps its old error until
the next epoch); read noise enters as weight noise (per input value instead of
per bit plane, so it is overestimated for multi-plane inputs); the ADC's
rounding and saturation are not in the training forward (the accumulators are
exact). The compiled model chooses its own activation ranges from calibration
data; the learned input ranges shape training only. The learned weight clips
are kept: the weights are clamped to them in the output.

Seeded (shuffling, chip choice and read noise come from `seed`), checkpointed
after every epoch (`checkpoint=PATH`, `resume=True` continues from it), with a
progress bar showing loss and accuracy on a terminal.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anncc.errors import AnnccError

#: The training forward's analog layers, by their aten op, and where weight and groups sit in the args.
_WEIGHT_ARG = 1
#: Options of the runtime that the measurement switches off to get the ideal weights.
_IDEAL = {"programming_noise": False, "d2d": False, "read_noise": False, "faults": False,
          "ir_drop": False, "drift_time_s": 0.0}
CHECKPOINT_VERSION = 1


@dataclass
class FinetuneResult:
    """The tuned module (clean, compilable) and one record per epoch."""

    model: Any
    history: list[dict[str, float]] = field(default_factory=list)


def _analog_targets() -> dict[Any, str]:
    import torch

    aten = torch.ops.aten
    return {aten.linear.default: "linear", aten.conv1d.default: "conv", aten.conv2d.default: "conv"}


def _round_ste(x: Any) -> Any:
    return x + (x.round() - x).detach()


def _qmax(bits: int, signed: bool) -> int:
    from anncc.passes._calibration import qmax

    return qmax(bits, signed)


def _modules():
    """The two training-only modules (defined here so that importing this file needs no torch)."""
    import torch

    class WeightQuant(torch.nn.Module):
        """Per-channel clip (learned), symmetric rounding (straight-through) and the chip's errors."""

        def __init__(self, weight: torch.Tensor, w_bits: int, groups: int) -> None:
            super().__init__()
            peak = weight.detach().abs().reshape(weight.shape[0], -1).amax(1).clamp_min(1e-12)
            self.clip = torch.nn.Parameter(peak.clone())
            self.q = _qmax(w_bits, True)
            self.groups = groups
            self.errors: torch.Tensor | None = None  # [chips, *weight.shape], LSB units
            self.read_var: torch.Tensor | None = None  # [*weight.shape], LSB² units
            self.generator: torch.Generator | None = None

        def step(self) -> torch.Tensor:
            return (self.clip.abs() + 1e-12) / self.q

        def forward(self, w: torch.Tensor) -> torch.Tensor:
            shape = (-1,) + (1,) * (w.dim() - 1)
            clip = self.clip.abs().reshape(shape)
            s = self.step().reshape(shape)
            wc = torch.minimum(torch.maximum(w, -clip), clip)
            wq = _round_ste(wc / s) * s
            if self.training and self.errors is not None:
                i = int(torch.randint(len(self.errors), (1,), generator=self.generator))
                e = self.errors[i]
                if self.read_var is not None:
                    e = e + self.read_var.sqrt() * torch.randn(w.shape, generator=self.generator)
                wq = wq + e.to(w.dtype) * s.detach()
            return wq

    class InputQuant(torch.nn.Module):
        """`in_bits` fake quantization of a layer's input with a learned clip (PACT)."""

        def __init__(self, clip: float, signed: bool, in_bits: int) -> None:
            super().__init__()
            self.clip = torch.nn.Parameter(torch.tensor(float(max(clip, 1e-12))))
            self.signed = signed
            self.q = _qmax(in_bits, signed)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            c = self.clip.abs() + 1e-12
            lo = -c if self.signed else torch.zeros_like(c)
            xc = torch.minimum(torch.maximum(x, lo), c)
            s = c / self.q
            return _round_ste(xc / s) * s

    return WeightQuant, InputQuant


# ----------------------------------------------------------------------------- the graph

def export_module(model: Any, example: Any) -> Any:
    """`model` (nn.Module or ExportedProgram) as an exported graph module in eval mode."""
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        gm = model.module()
    elif isinstance(model, torch.nn.Module):
        batch = torch.export.Dim("batch", min=1)
        ex = torch.as_tensor(example)
        two = torch.cat([ex[:1], ex[:1]]) if len(ex) < 2 else ex[:2]
        try:
            gm = torch.export.export(model.eval(), (two,), dynamic_shapes=({0: batch},)).module()
        except Exception:  # noqa: BLE001 - a model whose batch cannot be symbolic: train at its batch
            gm = torch.export.export(model.eval(), (ex[:1],)).module()
    else:
        raise AnnccError(f"finetune: expected a torch.nn.Module or ExportedProgram, got "
                         f"{type(model).__name__}")
    for node in list(gm.graph.nodes):  # the export's input-shape guards: training runs whole batches
        if node.op == "call_module" and str(node.target).startswith("_guards"):
            gm.graph.erase_node(node)
    gm.recompile()
    ex = torch.as_tensor(example)[:1]
    try:
        with torch.no_grad():
            gm(torch.cat([ex, ex]))
    except Exception as e:  # noqa: BLE001
        raise AnnccError(f"finetune: the model does not run on a batch of 2 ({type(e).__name__}); it "
                         "was exported with a fixed batch size",
                         hint="export it with a dynamic batch dimension (torch.export.Dim)") from None
    return gm


def _analog_nodes(gm: Any) -> list[Any]:
    targets = _analog_targets()
    nodes = [n for n in gm.graph.nodes if n.op == "call_function" and n.target in targets]
    for n in nodes:
        if getattr(n.args[_WEIGHT_ARG], "op", None) != "get_attr":
            raise AnnccError(f"finetune: layer '{n.name}' has a weight that is not a parameter")
    return nodes


def _groups(node: Any) -> int:
    if _analog_targets()[node.target] == "linear":
        return 1
    return int(node.args[6]) if len(node.args) > 6 else int(node.kwargs.get("groups", 1))


def _get(gm: Any, target: str) -> Any:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _input_stats(gm: Any, nodes: list[Any], x: Any) -> list[tuple[float, bool]]:
    """(99.99th percentile of |input|, any negative) of each analog layer's input on `x`."""
    import torch

    seen: dict[str, Any] = {}
    interp = torch.fx.Interpreter(gm)
    orig = interp.run_node

    def run_node(n):
        out = orig(n)
        if n in nodes:
            seen[n.name] = interp.env[n.args[0]]
        return out

    interp.run_node = run_node  # type: ignore[method-assign]
    with torch.no_grad():
        interp.run(x)
    stats = []
    for n in nodes:
        v = seen[n.name].detach().double().reshape(-1)
        stats.append((float(torch.quantile(v.abs()[:1 << 24], 0.9999)), bool((v < 0).any())))
    return stats


def instrument(gm: Any, x_calib: Any, w_bits: int, in_bits: int) -> tuple[Any, list[Any], list[str]]:
    """A copy of `gm` whose analog layers quantize input and weight (module docstring).

    Returns (the instrumented module, its weight quantizers, the weights' parameter names).
    """
    WeightQuant, InputQuant = _modules()
    inst = copy.deepcopy(gm)
    nodes = _analog_nodes(inst)
    stats = _input_stats(inst, nodes, x_calib)
    wqs, names = [], []
    for i, (n, (clip, signed)) in enumerate(zip(nodes, stats)):
        wnode = n.args[_WEIGHT_ARG]
        wq = WeightQuant(_get(inst, wnode.target), w_bits, _groups(n))
        iq = InputQuant(clip, signed, in_bits)
        inst.add_submodule(f"_anncc_wq{i}", wq)
        inst.add_submodule(f"_anncc_iq{i}", iq)
        with inst.graph.inserting_before(n):
            xin = inst.graph.call_module(f"_anncc_iq{i}", (n.args[0],))
            win = inst.graph.call_module(f"_anncc_wq{i}", (wnode,))
        args = list(n.args)
        args[0], args[_WEIGHT_ARG] = xin, win
        n.args = tuple(args)
        wqs.append(wq)
        names.append(wnode.target)
    inst.graph.lint()
    inst.recompile()
    return inst, wqs, names


def bake(clean: Any, inst: Any, wqs: list[Any], names: list[str]) -> Any:
    """`clean` with the trained parameters of `inst`, each weight clamped to its learned clip."""
    import torch

    out = copy.deepcopy(clean)
    state = {k: v for k, v in inst.state_dict().items() if not k.startswith("_anncc_")}
    with torch.no_grad():
        for wq, name in zip(wqs, names):
            w = state[name]
            clip = wq.clip.detach().abs().reshape((-1,) + (1,) * (w.dim() - 1))
            state[name] = torch.minimum(torch.maximum(w, -clip), clip)
    out.load_state_dict(state, strict=False)
    return out


# ----------------------------------------------------------------------------- the chip's errors

def _matrix_to_weight(m: Any, shape: tuple[int, ...], groups: int) -> Any:
    """Inverse of `passes._util.weight_matrix`: a `[K, N]` layer matrix as a torch weight `shape`."""
    if len(shape) == 2:
        return m.T.reshape(shape)
    out_ch, cg = shape[0], shape[1]
    kk = int(np.prod(shape[2:]))
    og = out_ch // groups
    blocks = [m[g * cg * kk:(g + 1) * cg * kk, g * og:(g + 1) * og].T.reshape(og, cg, *shape[2:])
              for g in range(groups)]
    import torch

    return torch.cat(blocks, 0)


def _layer_name_map(cm: Any) -> dict[str, str]:
    """anncc layer name -> the store key of its weight (the torch parameter name before folding)."""
    from anncc.passes.quantize import analog_layers

    out = {}
    for _, name, op in analog_layers(cm.ir("ann")):
        owner = op.weight.owner
        key = owner.key.data if hasattr(owner, "key") else name
        out[name] = key
    return out


def measure_chip_errors(model: Any, x_calib: Any, target: str, w_bits: int, in_bits: int, chips: int,
                        seed: int, names: list[str], shapes: list[tuple[int, ...]], groups: list[int],
                        **options: Any) -> tuple[list[Any], list[Any]]:
    """Per analog weight: `[chips, *shape]` effective-weight errors and `[*shape]` read variance (LSB).

    Compiles `model` for `target`, programs `chips` chips with the runtime and
    compares each array's effective integer weights with the ideal ones.
    """
    import torch

    import anncc
    from anncc.ir.cell import MvmOp
    from anncc.runtime.analog import AnalogOptions, array_target, build_array_model, operand_tensor
    from anncc.runtime.interpreter import ExecContext

    cm = anncc.compile(model, (torch.as_tensor(x_calib[:1]),), target=target, calib=x_calib, w_bits=w_bits,
                       in_bits=in_bits)
    keys = _layer_name_map(cm)
    index = {}
    for i, pname in enumerate(names):
        for layer, key in keys.items():
            if key == pname or key.startswith(pname + ".") or layer == pname.rsplit(".", 1)[0]:
                index.setdefault(layer, i)
    mats = {layer: (int(np.prod(shapes[i][1:])) if len(shapes[i]) > 2 else shapes[i][1], shapes[i][0])
            for layer, i in index.items()}
    for layer, (k, n) in mats.items():  # grouped convolutions: K is per group times groups
        i = index[layer]
        mats[layer] = (k * groups[i], n)
    err = {layer: torch.zeros((chips, *mats[layer]), dtype=torch.float64) for layer in index}
    rvar = {layer: torch.zeros(mats[layer], dtype=torch.float64) for layer in index}
    tgt = cm.target()
    ctx = ExecContext(store=cm.store, seed=seed)
    seen: set[tuple[str, int, int]] = set()
    for op in cm.ir("cell").walk():
        if not isinstance(op, MvmOp):
            continue
        f = op.params()
        if f.layer not in err or (f.layer, f.row_offset, f.col_offset) in seen:
            continue  # unknown layer, or a TMR replica of an array already measured
        seen.add((f.layer, f.row_offset, f.col_offset))
        at = array_target(tgt, f.g_min_s, f.g_max_s)
        lv, cmap, rmap, flt = (operand_tensor(v, ctx) for v in (op.levels, op.colmap, op.rowmap, op.faults))
        ideal = build_array_model(op, lv, cmap, rmap, flt, tgt, seed, AnalogOptions.resolve(
            {**options, **_IDEAL}, at))
        w0 = (ideal.counts[0] @ ideal.shift_add).double()
        rows, cols = slice(f.row_offset, f.row_offset + f.rows), slice(f.col_offset, f.col_offset + f.cols)
        opts = AnalogOptions.resolve(options, at)
        for c in range(chips):
            m = build_array_model(op, lv, cmap, rmap, flt, tgt, seed + 1000 * (c + 1), opts)
            err[f.layer][c, rows, cols] = (m.counts[0] @ m.shift_add).double() - w0
            if c == 0 and m.read_var is not None:
                sa = m.shift_add.double()
                v = m.read_var.double()
                cells = v[:, :1].expand(-1, sa.shape[0]) if m.read_var_uniform else v[:, :-1]
                rvar[f.layer][rows, cols] = cells @ (sa * sa)
    errors, read_var = [None] * len(names), [None] * len(names)
    for layer, i in index.items():
        errors[i] = torch.stack([_matrix_to_weight(e, shapes[i], groups[i]) for e in err[layer]]).float()
        read_var[i] = _matrix_to_weight(rvar[layer], shapes[i], groups[i]).float()
    return errors, read_var


# ----------------------------------------------------------------------------- training

def finetune(model: Any, x: Any, y: Any, target: str = "sot-mtj", epochs: int = 2, lr: float = 1e-4,
             batch_size: int = 64, w_bits: int = 4, in_bits: int = 8, seed: int = 0, chips: int = 4,
             calib: int = 256, checkpoint: str | Path | None = None, resume: bool = False,
             progress: bool | None = None, **options: Any) -> FinetuneResult:
    """Hardware-aware fine-tuning of `model` on `(x, y)` for `target` (module docstring).

    `options` are the runtime's analog options (`AnalogOptions`, e.g.
    `drift_time_s=86400`, `ir_drop=True`) used when measuring the chips.
    Returns the tuned, compilable module and the per-epoch loss and accuracy.
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y)).long()
    if len(x) == 0 or len(x) != len(y):
        raise AnnccError(f"finetune: need as many labels as inputs, got {len(x)} inputs and {len(y)} labels")
    if epochs < 1 or batch_size < 1 or chips < 1 or not lr > 0:
        raise AnnccError("finetune: epochs, batch size and chips must be at least 1 and lr positive")
    torch.manual_seed(seed)
    xc = x[:calib]
    clean = export_module(model, x[:1])
    inst, wqs, names = instrument(clean, xc, w_bits, in_bits)
    shapes = [tuple(_get(inst, n).shape) for n in names]
    groups = [wq.groups for wq in wqs]
    gen = torch.Generator().manual_seed(seed)
    for wq in wqs:
        wq.generator = gen
    opt = torch.optim.Adam(inst.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    if resume and ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        if state.get("version") != CHECKPOINT_VERSION or state.get("names") != names:
            raise AnnccError(f"finetune: checkpoint {ckpt} is from another model or version")
        inst.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        history, start = state["history"], state["epoch"]
    show = sys.stderr.isatty() if progress is None else progress
    for epoch in range(start, epochs):
        baked = bake(clean, inst, wqs, names)
        errors, read_var = measure_chip_errors(baked, xc.numpy(), target, w_bits, in_bits, chips,
                                               seed + epoch, names, shapes, groups, **options)
        for wq, e, v in zip(wqs, errors, read_var):
            wq.errors, wq.read_var = e, (v if v is not None and bool((v > 0).any()) else None)
        inst.train()
        order = torch.randperm(len(y), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        bar = _bar(range(0, len(y), batch_size), show, f"finetune epoch {epoch + 1}/{epochs}")
        for i in bar:
            idx = order[i:i + batch_size]
            opt.zero_grad()
            out = inst(x[idx])
            loss = F.cross_entropy(out, y[idx])
            loss.backward()
            opt.step()
            total += len(idx)
            correct += int((out.argmax(-1) == y[idx]).sum())
            loss_sum += float(loss) * len(idx)
            if show:
                bar.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{100 * correct / total:.1f}%")
        inst.eval()
        history.append({"epoch": epoch + 1, "loss": loss_sum / total, "accuracy": correct / total})
        if ckpt is not None:
            tmp = ckpt.with_name(ckpt.name + ".tmp")
            torch.save({"version": CHECKPOINT_VERSION, "names": names, "epoch": epoch + 1,
                        "model": inst.state_dict(), "optimizer": opt.state_dict(),
                        "generator": gen.get_state(), "history": history}, tmp)
            tmp.replace(ckpt)
    return FinetuneResult(bake(clean, inst, wqs, names).eval(), history)


def _bar(it: Any, show: bool, desc: str) -> Any:
    if not show:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, file=sys.stderr, leave=True)


# ----------------------------------------------------------------------------- CLI

def finetune_parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="anncc finetune", description="Hardware-aware fine-tuning: train "
                                "MODEL through its target chip's measured errors; write a .pt2.")
    p.add_argument("model", help="a .pt2 file (torch.export.save)")
    p.add_argument("--target", default="sot-mtj")
    p.add_argument("--data", required=True, help=".npz with arrays x (inputs) and y (class indices)")
    p.add_argument("-o", "--output", required=True, help="the tuned model (.pt2)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--w-bits", type=int, default=4)
    p.add_argument("--in-bits", type=int, default=8)
    p.add_argument("--chips", type=int, default=4, help="chips measured per epoch (default 4)")
    p.add_argument("--drift-time", type=float, default=0.0, help="seconds after programming (PCM, RRAM)")
    p.add_argument("--ir-drop", action="store_true", help="measure the chips with IR drop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="checkpoint file written after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def cmd_finetune(args: Any) -> int:
    import torch

    from anncc import inputs
    from anncc.frontend import load_model

    if not str(args.output).endswith(".pt2"):
        raise AnnccError(f"finetune: the output must be a .pt2 file, got '{args.output}'")
    if args.resume and not args.checkpoint:
        raise AnnccError("finetune: --resume needs --checkpoint FILE")
    loaded = load_model(args.model)
    inputs.check_finite_parameters(loaded.program, args.model)
    example = loaded.example_inputs
    x, y = inputs.read_eval_data(args.data, inputs.example_shape(example), None)
    options: dict[str, Any] = {}
    if args.drift_time:
        options["drift_time_s"] = args.drift_time
    if args.ir_drop:
        options["ir_drop"] = True
    result = finetune(loaded.program, x, y, target=args.target, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, w_bits=args.w_bits, in_bits=args.in_bits,
                      seed=args.seed, chips=args.chips, checkpoint=args.checkpoint, resume=args.resume,
                      progress=None if not args.quiet else False, **options)
    ex = torch.as_tensor(example[0] if isinstance(example, (tuple, list)) else example)[:1]
    with inputs.writing_output(args.output):  # exported at batch 1, as `anncc` compiles .pt2 files
        torch.export.save(torch.export.export(result.model, (ex,)), args.output)
    if not args.quiet:
        last = result.history[-1] if result.history else {}
        print(f"anncc: wrote {args.output} ({len(result.history)} epochs; last training loss "
              f"{last.get('loss', float('nan')):.4f}, accuracy {100 * last.get('accuracy', 0):.1f} %)")
    return 0
