"""An executable model: the module at each level and its weight store.

    m = anncc.runtime.load("build/")          # what `anncc ... -o build/` wrote
    m.run(x, level="cell", analog=True, seed=0)
    m.trace(x)                                # per-layer float vs xbar vs cell
    m.evaluate(inputs, labels, trials=20)

`run` interprets the level's IR (see `anncc.runtime.interpreter`); every level
takes float inputs and returns float outputs, so levels compare directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError
from anncc.gcpause import paused_gc
from anncc.ir._xdsl import ModuleOp, StringAttr
from anncc.ir.store import WeightStore

LEVELS = ("ann", "xbar", "cell")
#: The weight store's name in a build directory (`.npz` before safetensors; still read).
WEIGHTS_FILE = "weights.safetensors"


def as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


@dataclass
class Model:
    """The IR of every level compiled so far, sharing one weight store."""

    levels: dict[str, ModuleOp]
    store: WeightStore
    _targets: dict[str, Any] = field(default_factory=dict)
    #: per level, the name of every SSA value in the text the last `save` wrote (`%fc0_q`)
    saved_names: dict[str, dict] = field(default_factory=dict, repr=False, compare=False)

    def ir(self, level: str = "cell") -> ModuleOp:
        if level not in self.levels:
            raise AnnccError(f"no '{level}' level in this model (have: {', '.join(self.levels)})")
        return self.levels[level]

    @property
    def final_level(self) -> str:
        return [lv for lv in LEVELS if lv in self.levels][-1]

    def target(self):
        """The validated target the cell level was compiled for (None before the cell level)."""
        if "cell" not in self.levels:
            return None
        if "cell" not in self._targets:
            from anncc.passes._target import target_of

            self._targets["cell"] = target_of(self.levels["cell"])
        return self._targets["cell"]

    def run(self, x: Any, level: str | None = None, analog: bool = False, seed: int = 0,
            chip: Any = None, **options: Any) -> torch.Tensor:
        """Outputs of `level` (default the last) for inputs `x` (any batch size).

        `chip` (from `program`) reads that chip's devices (analog cell level);
        else `analog=True` programs a new chip from `seed` for this call.
        """
        if chip is not None:
            if options or (level or self.final_level) != "cell":
                raise AnnccError("run(chip=...) reads the cell level; give options to program()")
            outs, _ = self._run(x, "cell", True, chip.seed, False, {}, chip.ctx)
            return outs[0]
        outs, _ = self._run(x, level or self.final_level, analog, seed, False, options)
        return outs[0]

    def program(self, seed: int = 0, **options: Any) -> Any:
        """One simulated chip (`anncc.runtime.chip.Chip`): every array programmed now, read by
        `run(x, level="cell", chip=chip)` as often as wanted (same devices, new read noise)."""
        from anncc.runtime.chip import new_chip

        return new_chip(self, seed, **options)

    def context(self, analog: bool = False, seed: int = 0, **options: Any):
        """One simulated chip: an ExecContext whose programmed arrays persist across runs."""
        from anncc.runtime.interpreter import ExecContext

        ctx = ExecContext(store=self.store, analog=analog, seed=seed, options=dict(options))
        if analog:
            ctx.options.setdefault("target", self.target())
        return ctx

    def _run(self, x, level, analog, seed, trace, options, ctx=None):
        from anncc.runtime.interpreter import run_module

        ctx = ctx or self.context(analog, seed, **options)
        with torch.no_grad():
            return run_module(self.ir(level), self.store, [as_tensor(x)], ctx, trace=trace)

    def trace(self, x: Any, analog: bool = False, seed: int = 0, **options: Any
              ) -> dict[str, dict[str, torch.Tensor]]:
        """Every named value at every level, as floats: `{level: {name: tensor}}`.

        Integer values are reported as they are; the per-layer comparison lives in
        `anncc.runtime.trace.compare_levels`.
        """
        out: dict[str, dict[str, torch.Tensor]] = {}
        for level in self.levels:
            _, rec = self._run(x, level, analog and level == "cell", seed, True, options)
            out[level] = rec
        return out

    def accuracy(self, inputs: Any, labels: Any, level: str | None = None, analog: bool = False,
                 seed: int = 0, batch_size: int = 512, **options: Any) -> float:
        """Top-1 accuracy of one run over a labelled set (one chip: every batch on the same devices)."""
        x, y = as_tensor(inputs), torch.as_tensor(np.asarray(labels))
        level = level or self.final_level
        ctx = self.context(analog, seed, **options)
        correct = 0
        for i in range(0, len(x), batch_size):
            outs, _ = self._run(x[i:i + batch_size], level, analog, seed, False, options, ctx)
            correct += int((outs[0].argmax(-1) == y[i:i + batch_size]).sum())
        return correct / max(1, len(x))

    def evaluate(self, inputs: Any, labels: Any, trials: int = 10, level: str | None = None,
                 analog: bool = True, seed: int = 0, workers: int = 1, **options: Any
                 ) -> dict[str, Any]:
        """Monte-Carlo accuracy: one trial per seed (new devices each), mean, std, 95 % interval."""
        from anncc.runtime.montecarlo import monte_carlo

        return monte_carlo(self, inputs, labels, trials=trials, level=level or self.final_level,
                           analog=analog, seed=seed, workers=workers, **options)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> Path:
        """Write `ir/<level>.mlir`, `model.mlir` (the final level's: a hard link to its
        `ir/` file where the file system has them, else a copy) and one `weights.safetensors`."""
        from anncc.files import atomic_link, atomic_write_text
        from anncc.ir.module_io import print_with_names

        d = Path(directory)
        keys = sorted({k for m in self.levels.values() for k in referenced_keys(m)})
        self.store.subset(keys).save(d / WEIGHTS_FILE, pack=True)  # integer codes bit-packed
        texts = {}
        for level, m in self.levels.items():  # each level printed once
            texts[level], self.saved_names[level] = print_with_names(m)
        for level, text in texts.items():
            atomic_write_text(d / "ir" / f"{level}.mlir", text)
        atomic_link(d / "ir" / f"{self.final_level}.mlir", d / "model.mlir")
        atomic_write_text(d / "manifest.json", json.dumps(
            {"levels": list(self.levels), "final": self.final_level, "weights": WEIGHTS_FILE},
            indent=2, sort_keys=True) + "\n")
        return d


def referenced_keys(module: ModuleOp) -> set[str]:
    from anncc.ir.ann import WeightOp

    return {o.key.data for o in module.walk() if isinstance(o, WeightOp)}


@paused_gc()  # parsing makes hundreds of thousands of ops: no full collections meanwhile
def load(directory: str | Path) -> Model:
    """Open a model written by `Model.save` / `anncc -o DIR` (weights memory-mapped).

    The build directory is untrusted input: `manifest.json` is validated
    (`anncc.inputs.read_manifest`), every path it names must stay inside the
    directory, level files must be UTF-8 IR, and the store holds plain arrays only.
    """
    from anncc.inputs import read_manifest, read_text_file
    from anncc.ir import parse_module

    _, weights, files = read_manifest(directory)
    store = WeightStore.load(weights)
    levels = {}
    for level, path in files.items():
        levels[level] = parse_module(read_text_file(path, f"level '{level}' IR"), str(path))
    from anncc.runtime.chip import register_build_dir

    register_build_dir(store, Path(directory))  # analog runs cache IR-drop effective weights in cache/irdrop
    return Model(levels, store)


def module_json_attr(module: ModuleOp, name: str) -> Any:
    """A JSON-valued module attribute written by a pass (`anncc.estimate`, ...), or None."""
    a = module.attributes.get(name)
    return json.loads(a.data) if isinstance(a, StringAttr) else None


