"""anncc-opt: the pass-authoring driver, `mlir-opt` for anncc's dialects.

    anncc-opt in.mlir -p 'quantize{w-bits=4},tile{rows=128 cols=128}'
    anncc-opt in.mlir --weights model.safetensors --weights-out tiled.safetensors -p tile
    anncc-opt invalid.mlir --split-input-file --verify-diagnostics

It is xDSL's `xDSLOptMain` (every xDSL option and built-in pass works:
`canonicalize`, `cse`, `dce`, `--print-op-generic`, `--print-between-passes`,
`--split-input-file`, `--verify-diagnostics`, ...) with anncc's dialects
(`ann`, `xbar`, `cell`) and passes, and three additions:

- the weight store: `--weights FILE` (safetensors or `.npz`; default
  `weights.safetensors`, else `weights.npz`, beside the input, when it exists)
  is attached to every parsed module before the passes run
  (`anncc.passes._store.store_of`), and `--weights-out FILE` writes it back
  (safetensors, or `.npz` when the name ends in `.npz`);
- input text is checked before parsing: UTF-8, and within `anncc.limits`
  (size, op count, tensor sizes);
- errors a user can cause are one line naming the place, `file:line:col: error:
  message`, with exit code 1 and never a traceback: malformed text, an op that
  does not verify (located at the op's first token), an unknown pass or option,
  a pass that rejects its input;
- `get_universe`, the `xdsl.universe` entry point, so the stock `xdsl-opt` also
  knows anncc's dialects and passes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from anncc import __version__
from anncc.errors import AnnccError
from anncc.ir._xdsl import (
    DiagnosticException,
    Dialect,
    ModuleOp,
    ModulePass,
    Operation,
    ParseError,
    PassFailedException,
    PassPipeline,
    Printer,
    Span,
    Universe,
    VerifyException,
    xDSLOptMain,
)
from anncc.ir.module_io import (
    LocatingParser,
    diagnostic_message,
    dialect_factories,
    locate_failure,
)
from anncc.ir.store import WeightStore
from anncc.passes import PassFactory, all_passes, parse_pipeline

__all__ = ["AnnccOptMain", "AnnccUniverse", "LocatedDiagnostic", "get_universe", "main"]

DEFAULT_WEIGHTS = "weights.safetensors"
#: Looked for beside the input, in order (builds before safetensors wrote `weights.npz`).
DEFAULT_WEIGHTS_NAMES = (DEFAULT_WEIGHTS, "weights.npz")


# --------------------------------------------------------------------------- xdsl-opt plugin


class AnnccUniverse(Universe):
    """anncc's dialects and passes for xDSL's `Multiverse` (and so the stock `xdsl-opt`).

    xDSL loads the `xdsl.universe` entry point and requires a `Universe` instance.
    This one computes its tables on first use rather than at import, so a broken
    user-pass plugin cannot break `import anncc.opt`. Calling the instance returns
    itself, so `get_universe()` also reads naturally.
    """

    def __init__(self) -> None:  # no super().__init__: the tables are lazy properties
        self._passes: dict[str, PassFactory] | None = None

    @property
    def all_dialects(self) -> dict[str, Callable[[], Dialect]]:  # type: ignore[override]
        return dialect_factories()

    @property
    def all_passes(self) -> dict[str, Callable[[], type[ModulePass]]]:  # type: ignore[override]
        if self._passes is None:
            self._passes = all_passes()
        return self._passes

    @property
    def all_targets(self) -> dict:  # type: ignore[override]
        return {}

    def __call__(self) -> AnnccUniverse:
        return self


#: The `xdsl.universe` entry point named in pyproject.toml (`anncc.opt:get_universe`).
get_universe = AnnccUniverse()


# --------------------------------------------------------------------------- located errors


class LocatedDiagnostic(VerifyException):
    """A verification error that knows the source position of the failing op."""

    def __init__(self, location: str, message: str):
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}")


# --------------------------------------------------------------------------- the driver


class AnnccOptMain(xDSLOptMain):
    """`xDSLOptMain` with anncc's dialects, passes, weight store and error reporting."""

    version_format = f"anncc-opt {__version__} (xdsl {{xdsl_version}})"

    def __init__(self, description: str = "anncc modular optimizer (xDSL opt driver)",
                 args: Sequence[str] | None = None):
        self.store: WeightStore | None = None
        self._starts: dict[Operation, Span] = {}
        self._chunk_offset = 0
        self._running: ModulePass | None = None
        self._timer = time.perf_counter()
        super().__init__(description=description, args=args)

    # -- registration -------------------------------------------------------
    def register_all_dialects(self) -> None:
        super().register_all_dialects()  # xDSL's (and, when installed, ours via the universe)
        known = set(self.ctx.registered_dialect_names)
        for name, factory in dialect_factories().items():
            if name not in known:  # running from a tree whose entry points are not installed
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()  # canonicalize, cse, dce, ...
        for name, factory in all_passes().items():
            self.register_pass(name, factory)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()
        self.available_frontends["mlir"] = self._parse_mlir

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--weights", metavar="FILE", default=None,
            help=f"weight store the passes read and write, safetensors or .npz (default: "
                 f"{DEFAULT_WEIGHTS} or weights.npz beside the input file, if it exists)")
        arg_parser.add_argument(
            "--weights-out", metavar="FILE", default=None,
            help="write the weight store after the passes ran, as safetensors (.npz if the "
                 "name ends in .npz; default: not written)")

    # -- the pipeline -------------------------------------------------------
    def setup_pipeline(self) -> None:
        """The `-p` pipeline, parsed by anncc (clear errors), run with our between-pass hook."""
        passes = parse_pipeline(self.args.passes, self.available_passes)
        self.pipeline = PassPipeline(tuple(passes), self._between_passes)

    def _between_passes(self, previous: ModulePass | None, module: ModuleOp,
                        following: ModulePass | None) -> None:
        """xDSL's callback (timing, verification, printing) with located, named errors."""
        now = time.perf_counter()
        if self.args.time_passes and previous is not None:
            print(f"Pass {previous.name} took {now - self._timer} seconds")
        if not self.args.disable_verify:
            if previous is None:
                self.verify_input(module)
            else:
                try:
                    module.verify()
                except Exception as e:  # noqa: BLE001 - reported with the pass to blame
                    problem = diagnostic_message(e)
                    raise PassFailedException(
                        f"the IR after pass '{previous.name}' does not verify: {problem}") from e
        if previous is not None and following is not None and self.args.print_between_passes:
            print(f"IR after {previous.name}:")
            Printer(stream=sys.stdout).print_op(module)
            print("\n\n\n")
        self._running = following
        if following is not None and following.name == "quantize" and self.store is not None:
            from anncc.calibration import prepare_quantize  # calibration runs in the driver

            prepare_quantize(module, self.store, getattr(following, "calib", ""),
                             hessian=getattr(following, "rounding", "nearest") == "gptq")
        self._timer = time.perf_counter()

    def verify_input(self, module: ModuleOp) -> None:
        """Verify a parsed module; a failure names the failing op's `file:line:col`.

        A verifier that crashes on malformed input (a bug, but the user's input
        triggered it) is reported the same way, never as a traceback.
        """
        try:
            module.verify()
        except Exception as e:  # noqa: BLE001 - see the docstring
            where, message = locate_failure(module, self._starts)
            if where is None:
                if isinstance(e, DiagnosticException):
                    raise
                raise VerifyException(f"verification failed: {type(e).__name__}: {e}") from e
            located = LocatedDiagnostic(where, message)
            located.__notes__ = list(getattr(e, "__notes__", []))
            raise located from None

    def apply_passes(self, prog: ModuleOp) -> None:
        """Attach the weight store, run the pipeline; a pass's AnnccError becomes a diagnostic."""
        if self.store is not None:
            from anncc.passes._store import attach_store

            attach_store(prog, self.store)
        self._running = None
        try:
            super().apply_passes(prog)
        except AnnccError as e:
            where = f"pass '{self._running.name}'" if self._running is not None else "anncc-opt"
            raise PassFailedException(f"{where}: {e}") from None

    # -- input and output ---------------------------------------------------
    def parse_chunk(self, chunk: IO[bytes], file_extension: str,
                    start_offset: int = 0) -> ModuleOp | None:
        self._chunk_offset = start_offset
        self._starts.clear()
        return super().parse_chunk(chunk, file_extension, start_offset)

    def _parse_mlir(self, stream: IO[bytes]) -> ModuleOp:
        """Parse MLIR text; every failure becomes a ParseError or a located diagnostic."""
        from anncc.files import decode_utf8
        from anncc.limits import check_ir_text

        data = stream.read()
        name = self.get_input_name()
        check_ir_text(data, name)
        text = decode_utf8(data, "the IR", name) if isinstance(data, bytes) else data
        parser = LocatingParser(self.ctx, text, self.get_input_name(), self._starts,
                                self._chunk_offset)  # may raise a ParseError at the first token
        try:
            return parser.parse_module(not self.args.no_implicit_module)
        except ParseError:
            raise
        except DiagnosticException as e:  # an attribute or type that fails its verifier
            raise LocatedDiagnostic(str(parser.here().get_location()),
                                    diagnostic_message(e)) from None
        except Exception as e:  # noqa: BLE001 - xDSL failing on malformed text in another way
            # here() carries the chunk's line offset; run() sets the same offset again
            raise ParseError(parser.here(), f"malformed IR ({type(e).__name__}: {e})") from None

    def prepare_input(self) -> tuple[list[tuple[IO[bytes], int]], str]:
        path = self.args.input_file
        if path is not None and not Path(path).is_file():
            raise AnnccError(f"input file {path} does not exist")
        try:
            return super().prepare_input()
        except ValueError as e:  # an extension with no frontend
            raise AnnccError(str(e), where=path,
                             hint="use -f mlir to read it as MLIR text") from None

    def load_store(self) -> WeightStore | None:
        """The store named by --weights, else `weights.safetensors` (or `.npz`) beside the input.

        With --weights-out and no input store, passes start from an empty store.
        """
        path: Path | None = None
        if self.args.weights is not None:
            path = Path(self.args.weights)
        elif self.args.input_file is not None:
            found = [p for n in DEFAULT_WEIGHTS_NAMES
                     if (p := Path(self.args.input_file).with_name(n)).is_file()]
            path = found[0] if found else None
        if path is not None:
            return WeightStore.load(path)
        return WeightStore() if self.args.weights_out is not None else None

    def run(self) -> None:
        self.store = self.load_store()
        super().run()
        if self.args.weights_out is not None and self.store is not None:
            from anncc.inputs import writing_output

            with writing_output(self.args.weights_out):
                self.store.save(self.args.weights_out)


# --------------------------------------------------------------------------- entry point


def render_parse_error(e: ParseError) -> str:
    """`file:line:col: error: message`, then the source line and a caret under the place."""
    context = e.span.print_with_context(e.msg).splitlines()
    text = f"{e.span.get_location()}: error: {e.msg}"
    if len(context) >= 3:
        text += "\n" + context[1] + "\n" + context[2]
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """The `anncc-opt` console script; returns the exit status (0, or 1 on any user error).

    `--debug` (or ANNCC_DEBUG=1) shows the traceback of a failure no check caught;
    without it that failure is one line too, with exit status 2.
    """
    import os

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("ANNCC_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        return _main(args)
    except Exception as e:  # noqa: BLE001 - the last resort: one line, unless --debug
        if debug:
            raise
        from anncc.inputs import unexpected_error_line

        print(f"anncc-opt: error: {unexpected_error_line(e)}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str]) -> int:
    try:
        AnnccOptMain(args=argv).run()
    except AnnccError as e:
        print(f"anncc-opt: error: {e}", file=sys.stderr)
        return e.exit_code
    except ParseError as e:
        print(render_parse_error(e), file=sys.stderr)
        return 1
    except LocatedDiagnostic as e:
        print(f"{e.location}: error: {e.message}", file=sys.stderr)
        return 1
    except DiagnosticException as e:
        print(f"anncc-opt: error: {diagnostic_message(e)}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"anncc-opt: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
