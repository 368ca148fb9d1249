"""`anncc`: the command line.

    anncc model.pt2 --target sot-mtj -o build/     compile (the main job)
    anncc -o build/                                 compile the embedded example (digits CNN)
    anncc eval build/ --trials 20                   Monte-Carlo accuracy under non-idealities
    anncc targets [NAME]                            list targets / show one target's fields
    anncc verify build/ [--rtl] [--spice]           RTL and SPICE against the golden vectors

Every failure a user can cause prints one line `anncc: error: ...` and exits
non-zero; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from anncc.errors import AnnccError

EXAMPLES = ("digits-cnn", "digits-mlp")
SUBCOMMANDS = ("eval", "targets", "verify")


def _compile_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anncc",
        description="Compile a PyTorch model onto analog in-memory-computing crossbars. "
                    "Subcommands: 'anncc eval BUILD', 'anncc targets', 'anncc verify BUILD', "
                    "'anncc finetune MODEL'.",
        epilog="With no MODEL, compiles the embedded example (a digits CNN trained in seconds).")
    p.add_argument("model", nargs="?", help="a .pt2 file (torch.export.save), a state dict "
                   "(with --factory), or a pickled module (with --trust-pickle)")
    p.add_argument("-o", "--output", default="build", help="build directory (default: build)")
    p.add_argument("--target", default="sot-mtj", help="device technology (see 'anncc targets')")
    p.add_argument("--target-file", help="YAML or TOML file overriding target fields")
    p.add_argument("--example", choices=EXAMPLES, help="compile an embedded example model")
    p.add_argument("--w-bits", type=int, default=4, help="weight bits, sign included (default 4)")
    p.add_argument("--in-bits", type=int, default=8, help="activation bits (default 8)")
    p.add_argument("--input-shape", help="input shape such as 1x1x8x8 (for state dicts)")
    p.add_argument("--factory", help="package.module:function building the model for a state dict")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a pickled module (unpickling runs code from the file)")
    p.add_argument("--calib", help=".npy, or .npz with an array 'x', of calibration inputs (at least "
                   "32; default: the example inputs, with a warning)")
    p.add_argument("--w-bits-per-layer", default="",
                   help="weight bits for named layers, e.g. 'conv1=8,fc=6' (others: --w-bits)")
    p.add_argument("--rounding", choices=("nearest", "gptq"), default="nearest",
                   help="weight rounding: nearest, or gptq (data-driven, arXiv:2210.17323; needs --calib)")
    p.add_argument("--w-bits-auto", action="store_true",
                   help="choose per-layer weight bits from measured sensitivity under --cell-budget")
    p.add_argument("--cell-budget", type=float, default=1.0,
                   help="with --w-bits-auto: cells allowed, as a fraction (<= 1) of the cells at --w-bits "
                        "or an absolute count (default 1.0)")
    p.add_argument("--pipeline", help="replace the default pass pipeline, e.g. "
                   "'fold-batchnorm,quantize{w-bits=4},tile,allocate-resistance,estimate'")
    p.add_argument("--spare-rows", type=int, default=0)
    p.add_argument("--spare-cols", type=int, default=0)
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="stuck-at fault rate per cell, half low, half high (default 0)")
    p.add_argument("--fault-map", default="", help=".npz of per-array fault maps")
    p.add_argument("--redundancy", choices=("spares", "tmr"), default="spares")
    p.add_argument("--tmr-layers", default="", help="layers to triplicate with --redundancy tmr")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--irdrop-budget", type=float, default=0.0, metavar="FRACTION",
                   help="largest exact worst-column IR-drop error of an array, e.g. 0.05 "
                        "(default: the target's irdrop_budget)")
    p.add_argument("--strict", action="store_true",
                   help="an array over the IR-drop budget is an error, not a warning")
    p.add_argument("--eval-data", help=".npz with arrays x and y to measure accuracy at every level")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected failure")
    p.add_argument("--golden-vectors", type=int, default=16, metavar="N",
                   help="golden vectors to record in BUILD/golden/ (default 16; 0: none)")
    p.add_argument("--golden-tiles", choices=("sample", "all"), default="sample",
                   help="per-array golden files for every array, or (default) for every array of a "
                        "model with at most 64 and a sample covering every layer above that")
    p.add_argument("--calibrate-columns", type=int, default=0, metavar="CHIPS",
                   help="fit per-column gain/offset on CHIPS simulated chips (IR drop on) and fold "
                        "them into the requant constants (docs/calibration.md; default 0: off)")
    return p


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anncc eval",
                                description="Monte-Carlo accuracy of a build under device non-idealities.")
    p.add_argument("build", help="a build directory written by anncc")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--data", help=".npz with x and y (default: held-out digits for digits models)")
    p.add_argument("--level", choices=("ann", "xbar", "cell"), default="cell")
    p.add_argument("--ideal", action="store_true", help="ideal devices (no physics)")
    p.add_argument("--drift", default="", help="PCM drift times, e.g. '1,86400,3.15e7' seconds")
    p.add_argument("--no-compensation", action="store_true", help="disable global drift compensation")
    p.add_argument("--ir-drop", action="store_true", default=True,
                   help="include IR drop through each array's effective weights (the default)")
    p.add_argument("--no-ir-drop", dest="ir_drop", action="store_false",
                   help="leave IR drop out (ideal wires and contacts)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected failure")
    from anncc.evaluate import add_scale_out_arguments

    add_scale_out_arguments(p)
    from anncc.compensation import add_compensation_arguments

    add_compensation_arguments(p)
    return p


def _targets_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anncc targets", description="List device targets or show one.")
    p.add_argument("name", nargs="?")
    return p


def _one_line_warnings() -> None:
    """Show warnings as `anncc: warning: ...` (one line, no source excerpt)."""
    import warnings

    warnings.formatwarning = lambda message, *args, **kwargs: f"anncc: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("ANNCC_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    from anncc.inputs import parse_args

    _one_line_warnings()
    try:
        if argv and argv[0] == "eval":
            return cmd_eval(parse_args(_eval_parser(), argv[1:]))
        if argv and argv[0] == "targets":
            return cmd_targets(parse_args(_targets_parser(), argv[1:]))
        if argv and argv[0] == "finetune":
            from anncc.hwtrain import cmd_finetune, finetune_parser

            return cmd_finetune(parse_args(finetune_parser(), argv[1:]))
        if argv and argv[0] == "verify":
            from anncc.verify import cmd_verify, verify_parser

            return cmd_verify(parse_args(verify_parser(), argv[1:]))
        return cmd_compile(parse_args(_compile_parser(), argv))
    except AnnccError as e:
        print(f"anncc: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("anncc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last resort: one line, unless --debug
        if debug:
            raise
        from anncc.inputs import unexpected_error_line

        print(f"anncc: error: {unexpected_error_line(e)}", file=sys.stderr)
        return 2


def _example(name: str):
    from anncc.examples import digits

    model = digits.train_cnn() if name == "digits-cnn" else digits.train_mlp()
    _, _, x_test, y_test = digits.load_digits_split(flat=name == "digits-mlp")
    return model, x_test[:1], (x_test, y_test)


def cmd_compile(args: argparse.Namespace) -> int:
    from anncc import inputs
    from anncc.pipeline import CompileOptions, compile_module

    _check_options(args)
    eval_data = None
    if args.model is None or args.example:
        name = args.example or "digits-cnn"
        if not args.quiet:
            print(f"anncc: compiling the embedded example '{name}' (scikit-learn digits)")
        model, example, eval_data = _example(name)
        calib = _calibration_set(name)
        module, store = _import(model, example)
    else:
        from anncc.frontend import load_model

        shape = inputs.parse_input_shape(args.input_shape) if args.input_shape else None
        loaded = load_model(args.model, trust_pickle=args.trust_pickle, factory=args.factory,
                            input_shape=shape)
        inputs.check_finite_parameters(loaded.program, args.model)
        example = loaded.example_inputs
        calib = None
        module, store = _import(loaded.program, example)
    in_shape = inputs.example_shape(example)
    if args.eval_data:
        eval_data = inputs.read_eval_data(args.eval_data, in_shape, inputs.model_io_shapes(module)[1])
    if args.calib:
        calib = inputs.read_calibration(args.calib, in_shape)
    if args.fault_map:
        inputs.check_fault_map(args.fault_map)
    opts = CompileOptions(
        target=args.target, target_file=args.target_file, w_bits=args.w_bits, in_bits=args.in_bits,
        w_bits_per_layer=args.w_bits_per_layer, rounding=args.rounding,
        w_bits_auto=args.w_bits_auto, cell_budget=args.cell_budget,
        calib=calib, spare_rows=args.spare_rows, spare_cols=args.spare_cols,
        fault_rate=args.fault_rate, fault_map=args.fault_map, seed=args.seed,
        redundancy=args.redundancy, tmr_layers=args.tmr_layers, pipeline=args.pipeline,
        progress=not args.quiet, irdrop_budget=args.irdrop_budget, strict=args.strict)
    if opts.w_bits_auto:
        from anncc.bitalloc import apply_auto_bits

        apply_auto_bits(model if (args.model is None or args.example) else loaded.program, module, opts,
                        example)
    cm = compile_module(module, store, opts, example)
    if args.calibrate_columns:  # per-column calibration in the requant (anncc.compensation)
        from anncc.compensation import calibrate_compiled

        calibrate_compiled(cm, calib if calib is not None else example, args.calibrate_columns,
                           quiet=args.quiet)
    accuracy = _level_accuracies(cm, eval_data) if eval_data is not None else None
    if accuracy is not None and opts.fault_rate > 0:
        from anncc.studies import fault_study

        source = model if (args.model is None or args.example) else loaded.program
        accuracy.update(fault_study(lambda: _import(source, example), opts, example, eval_data))
    from anncc.build import emit_build

    with inputs.writing_output(args.output):
        out = emit_build(cm, Path(args.output), accuracy=accuracy or None,
                         golden_vectors=args.golden_vectors,
                         golden_inputs=eval_data[0] if eval_data is not None else None,
                         golden_tiles=args.golden_tiles)
    if not args.quiet:
        _print_summary(cm, out, accuracy)
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Reject bad options before the (slow) model loading."""
    from anncc.inputs import check_compile_options
    from anncc.targets import load_target

    check_compile_options(args)
    if args.golden_vectors < 0:
        raise AnnccError(f"--golden-vectors must be >= 0, got {args.golden_vectors}")
    load_target(args.target, args.target_file)


def _import(model, example):
    from anncc.frontend import import_model

    return import_model(model, example)


def _calibration_set(name: str):
    from anncc.examples import digits

    x_train, _, _, _ = digits.load_digits_split(flat=name == "digits-mlp")
    return x_train[:256]


def _level_accuracies(cm, data) -> dict[str, Any]:
    x, y = data
    return {f"{lv} ({'float' if lv == 'ann' else 'integer' if lv == 'xbar' else 'ideal devices'})":
            cm.accuracy(x, y, level=lv) for lv in cm.levels}


def _print_summary(cm, out: Path, accuracy) -> None:
    from anncc.runtime.model import module_json_attr

    est = module_json_attr(cm.ir(cm.final_level), "anncc.estimate") or {}
    tot = est.get("per_inference", {})
    parts = ["model.mlir", "weights.safetensors", "ir/", "report.md", "report.html"]
    parts += [f"{d}/" for d in ("spice", "golden", "rtl") if (Path(out) / d).is_dir()]
    print(f"anncc: wrote {out}/ ({', '.join(parts)})")
    if (Path(out) / "golden").is_dir():
        print(f"  check it: anncc verify {out} --rtl --spice")
    if tot:
        print(f"  arrays {int(tot['arrays'])}, cells {int(tot['cells'])}, utilization "
              f"{100 * tot['utilization']:.1f} %, energy/inference {tot['energy_j'] * 1e9:.3g} nJ, "
              f"latency {tot['latency_s'] * 1e6:.3g} µs, area {tot['area_m2'] * 1e6:.3g} mm²")
    for k, v in (accuracy or {}).items():
        print(f"  accuracy {k}: {100 * v:.2f} %")


def cmd_eval(args: argparse.Namespace) -> int:
    from anncc import inputs
    from anncc.evaluate import eval_command
    from anncc.runtime import load

    inputs.check_eval_options(args)
    model = load(args.build)
    if args.data:
        in_shape, n_classes = inputs.model_io_shapes(model.ir(next(iter(model.levels))))
        inputs.read_eval_data(args.data, in_shape, n_classes)
    result = eval_command(model, args)
    if args.compensation:  # IR-drop pre-compensation and column calibration (anncc.compensation)
        from anncc.compensation import compensation_command

        result["compensation"] = compensation_command(model, args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=float))
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from anncc.targets import get_target, list_targets

    if args.name:
        t = get_target(args.name)
        for name, value in t.model_dump().items():
            print(f"{name:28s} {value!r:>14}   {type(t).source_of(name)[:90]}")
        return 0
    for name in list_targets():
        t = get_target(name)
        print(f"{name:12s} {t.cell_kind:14s} {t.bits_per_cell} bit/cell  "
              f"{t.array_rows}x{t.array_cols} arrays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
