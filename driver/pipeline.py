"""The compiler pipeline: model -> ann -> (passes) -> xbar -> cell, and the compiled model.

    cm = anncc.compile(model, example_inputs, target="sot-mtj", w_bits=4, in_bits=8)
    cm.run(x, level="xbar"); cm.emit("build/")

The default pass pipeline (DESIGN.md section 6):
`fold-batchnorm, quantize, tile, allocate-resistance, [insert-redundancy,]
estimate`. `pipeline=` replaces it with a user's text
(`"quantize{w-bits=4},tile"`). The module is copied before each conversion
(`tile`, `allocate-resistance`, any `<src>-to-<dst>` pass) and verified after
it, so every level stays executable and comparable; copying and verifying after
every pass would dominate the compile time of large models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anncc.gcpause import paused_gc
from anncc.ir._xdsl import Context, ModuleOp, ModulePass
from anncc.ir.store import WeightStore
from anncc.runtime.model import Model


@dataclass
class CompileOptions:
    """Everything `compile` takes besides the model; defaults work for the examples."""

    target: str = "sot-mtj"
    target_file: str | None = None
    target_overrides: dict[str, Any] = field(default_factory=dict)
    w_bits: int = 4
    in_bits: int = 8
    per_channel: bool = True
    calib: Any = None
    #: post-training quantization choices (passes/quantize.py, docs/quantization.md)
    w_bits_per_layer: str = ""
    weight_clip: str = "mse"
    act_range: str = "mse"
    bias_correct: bool = False  # measured: docs/quantization.md
    rounding: str = "nearest"
    #: sensitivity-driven per-layer widths under a cell budget (anncc.bitalloc)
    w_bits_auto: bool = False
    cell_budget: float = 1.0
    spare_rows: int = 0
    spare_cols: int = 0
    use_spares: bool = True
    fault_rate: float = 0.0
    fault_map: str = ""
    seed: int = 0
    redundancy: str = "spares"
    tmr_layers: str = ""
    pipeline: str | None = None
    progress: bool = False
    #: IR-drop budget of array sizing (0 = the target's `irdrop_budget`); `strict`: a missed
    #: budget is an error instead of a warning (passes/_irdrop_sizing.py)
    irdrop_budget: float = 0.0
    strict: bool = False

    def wants_redundancy(self) -> bool:
        return bool(self.spare_rows or self.spare_cols or self.fault_rate or self.fault_map
                    or self.redundancy == "tmr")

    def default_pipeline(self) -> list[ModulePass]:
        from anncc.passes import get_pass

        passes: list[ModulePass] = [
            get_pass("fold-batchnorm")(),
            get_pass("quantize")(w_bits=self.w_bits, in_bits=self.in_bits,
                                 per_channel=self.per_channel, w_bits_per_layer=self.w_bits_per_layer,
                                 weight_clip=self.weight_clip, act_range=self.act_range,
                                 bias_correct=self.bias_correct, rounding=self.rounding),
            get_pass("tile")(spare_rows=self.spare_rows, spare_cols=self.spare_cols,
                             irdrop_budget=self.irdrop_budget),
            get_pass("allocate-resistance")(irdrop_budget=self.irdrop_budget, strict=self.strict),
        ]
        if self.wants_redundancy():
            spares = (self.spare_rows, self.spare_cols) if self.use_spares else (0, 0)
            passes.append(get_pass("insert-redundancy")(
                spare_rows=spares[0], spare_cols=spares[1],
                fault_rate=self.fault_rate, fault_map=self.fault_map, seed=self.seed,
                scheme=self.redundancy, layers=self.tmr_layers))
        passes.append(get_pass("estimate")())
        return passes


@dataclass
class CompiledModel(Model):
    """A `Model` plus what compilation knows: options, timings, the resolved target."""

    options: CompileOptions = field(default_factory=CompileOptions)
    timings: dict[str, float] = field(default_factory=dict)
    example_inputs: Any = None

    def emit(self, directory: str | Path, accuracy: dict[str, Any] | None = None) -> Path:
        """Write the build directory (DESIGN.md section 9); `accuracy` goes into the report."""
        from anncc.build import emit_build

        return emit_build(self, Path(directory), accuracy=accuracy)


def resolve_target(opts: CompileOptions):
    from anncc.targets import load_target

    return load_target(opts.target, opts.target_file, **opts.target_overrides)


@paused_gc()
def compile_model(model: Any, example_inputs: Any = None, target: str = "sot-mtj",
                  **kwargs: Any) -> CompiledModel:
    """Compile a PyTorch model (module, ExportedProgram or path) for a target."""
    opts = CompileOptions(target=target, **kwargs)
    timings: dict[str, float] = {}
    from anncc.frontend import import_model

    module, store = import_model(model, example_inputs, timings=timings)  # export + import
    if example_inputs is None:
        from anncc.frontend import example_inputs_of

        example_inputs = example_inputs_of(model)
    if opts.w_bits_auto:
        from anncc.bitalloc import apply_auto_bits

        apply_auto_bits(model, module, opts, example_inputs)
    return compile_module(module, store, opts, example_inputs, timings)


@paused_gc()
def compile_module(module: ModuleOp, store: WeightStore, opts: CompileOptions,
                   example_inputs: Any = None, timings: dict[str, float] | None = None
                   ) -> CompiledModel:
    """Run the pass pipeline on an imported `ann` module."""
    from anncc.inputs import check_finite_store
    from anncc.ir import verify_module
    from anncc.passes._store import attach_store
    from anncc.passes._target import set_target
    from anncc.passes.quantize import CALIBRATION_KEY

    timings = dict(timings or {})
    check_finite_store(store)  # before calibration joins it: NaN weights fail in quantize otherwise
    t_setup = time.perf_counter()
    tgt = resolve_target(opts)
    overrides = dict(opts.target_overrides)
    if opts.target_file:
        overrides = _file_overrides(opts.target_file) | overrides
    set_target(module, tgt.name, overrides)
    calib = opts.calib if opts.calib is not None else example_inputs
    if calib is not None:
        store.add(CALIBRATION_KEY, np.asarray(_to_numpy(calib), dtype=np.float32))
    attach_store(module, store)
    passes = _pipeline(opts)
    levels: dict[str, ModuleOp] = {}
    ctx = Context()
    _add_time(timings, "setup", t_setup)
    for p in _progress(passes, opts.progress):
        if is_conversion(p):
            # keep the level this conversion leaves behind, executable on its own
            t = time.perf_counter()
            levels[current_level(module)] = _snapshot(module, store)
            _add_time(timings, "snapshot levels", t)
        t = time.perf_counter()
        if p.name == "quantize":  # calibration runs here and reaches quantize as data
            _calibrate(module, store, p, "the example inputs" if opts.calib is None else "the calib inputs")
        if p.name == "estimate":  # input-bit activity on the calibration inputs reaches it as data
            _measure_activity(levels, module, store, tgt)
            _add_time(timings, "input activity", t)
            t = time.perf_counter()
        p.apply(ctx, module)
        _add_time(timings, p.name, t)
        if is_conversion(p):  # verify at level boundaries (DESIGN.md section 3)
            t = time.perf_counter()
            verify_module(module, f"after pass '{p.name}'")
            _add_time(timings, "verify", t)
    if not _verified_already(passes):
        t = time.perf_counter()
        verify_module(module, "after the pipeline")
        _add_time(timings, "verify", t)
    levels[current_level(module)] = module
    for m in levels.values():
        attach_store(m, store)
    return CompiledModel(levels=levels, store=store, options=opts, timings=timings,
                         example_inputs=example_inputs)


def _add_time(timings: dict[str, float], stage: str, since: float) -> None:
    """Add the time since `since` to `stage`: `cm.timings` adds up to the whole compile time."""
    timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - since


def _calibrate(module: ModuleOp, store: WeightStore, p: ModulePass, source: str) -> None:
    from anncc.calibration import prepare_quantize

    prepare_quantize(module, store, getattr(p, "calib", ""), source,
                     hessian=getattr(p, "rounding", "nearest") == "gptq")


def _measure_activity(levels: dict[str, ModuleOp], module: ModuleOp, store: WeightStore, tgt: Any) -> None:
    """Input-bit activity of each analog layer on the calibration inputs (`anncc.activity`)."""
    from anncc.activity import attach_measured_activity
    from anncc.passes.quantize import CALIBRATION_KEY

    if CALIBRATION_KEY in store:
        attach_measured_activity(levels, module, store, store.get(CALIBRATION_KEY), tgt.dac_bits)


def _snapshot(module: ModuleOp, store: WeightStore) -> ModuleOp:
    """A copy of `module` to keep as a level; at `ann` level with the float (uncorrected) biases."""
    from anncc.passes._store import attach_store
    from anncc.passes.quantize import restore_float_bias

    copy = module.clone()
    if current_level(copy) == "ann":
        attach_store(copy, store)
        restore_float_bias(copy)
    return copy


def _pipeline(opts: CompileOptions) -> list[ModulePass]:
    if opts.pipeline:
        from anncc.passes import parse_pipeline

        return list(parse_pipeline(opts.pipeline))
    return opts.default_pipeline()


CONVERSION_PASSES = ("tile", "allocate-resistance")
# passes that only read the IR and set module attributes (verifying after them again is wasted)
ANALYSIS_PASSES = ("estimate",)


def _verified_already(passes: list[ModulePass]) -> bool:
    """The module was verified after the last pass that changes ops (a conversion), and only
    analysis passes ran since: the final verification (seconds for 18k-array models) is skipped."""
    for p in reversed(passes):
        if p.name in ANALYSIS_PASSES:
            continue
        return is_conversion(p)
    return False


def is_conversion(p: ModulePass) -> bool:
    """A pass that lowers to the next level (the pipeline snapshots the level before it)."""
    return p.name in CONVERSION_PASSES or "-to-" in p.name


def current_level(module: ModuleOp) -> str:
    """The lowest level whose ops the module holds: `cell`, `xbar` or `ann`."""
    names = {o.name.split(".", 1)[0] for o in module.walk()}
    return "cell" if "cell" in names else "xbar" if "xbar" in names else "ann"


def _progress(passes: list[ModulePass], enabled: bool):
    """The passes, under a progress bar naming the running pass when `enabled`."""
    if not enabled:
        return iter(passes)
    from tqdm import tqdm

    return _named_progress(tqdm(passes, desc="compiling", unit="pass", leave=False, disable=None))


def _named_progress(bar):
    for p in bar:
        bar.set_postfix_str(p.name)
        yield p


def _to_numpy(x: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
            return x[0].detach().cpu().numpy()
    except ImportError:
        pass
    return np.asarray(x)


def _file_overrides(path: str) -> dict[str, Any]:
    from anncc.targets import read_overrides_file

    return read_overrides_file(path)


