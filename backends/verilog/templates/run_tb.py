"""Run the cocotb testbench of this build directory (written by anncc into build/rtl/tb/).

    python build/rtl/tb/run_tb.py [--sim icarus|verilator] [--per-layer] [--limit N]

Same as `anncc.backends.verilog.verify.run(build/)`; prints its JSON summary.
"""

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", default="icarus")
    ap.add_argument("--per-layer", action="store_true")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    from anncc.backends.verilog.verify import run

    build = Path(__file__).resolve().parents[2]
    res = run(build, per_layer=a.per_layer, simulator=a.sim, limit=a.limit)
    print(json.dumps(res, indent=1))
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
