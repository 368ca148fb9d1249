"""Verilog backend: synthesizable periphery around black-box crossbar macros (DESIGN.md section 8).

`emit_rtl(cm, build/"rtl")` writes the RTL, memories, synth.ys and the cocotb
testbench; `write_vectors(cm, x, build/"rtl")` the expected integers from the
runtime; `verify.run(build)` simulates and compares. See docs/backends/verilog.md.
"""

from anncc.backends.verilog.emit import emit_rtl, write_vectors

__all__ = ["emit_rtl", "write_vectors"]
