#!/usr/bin/env bash
# Install what anncc needs on a fresh Debian machine: the system tools (ngspice, Icarus Verilog,
# Yosys) and the Python packages (torch pinned to the CPU build 2.13.0, xdsl==0.74.0, ...).
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

missing=()
for tool in ngspice iverilog yosys; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
# PySpice runs ngspice in-process through the shared library (anncc.backends.spice.simulate)
{ ldconfig -p 2>/dev/null | grep -q "libngspice\.so" ; } || missing+=("libngspice0-dev")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: installing ${missing[*]} with apt-get"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngspice libngspice0-dev iverilog yosys >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngspice libngspice0-dev iverilog yosys >/dev/null
  else
    echo "install.sh: ${missing[*]} not found and cannot install them here (not root)." >&2
    echo "  On Debian/Ubuntu run: sudo apt-get install -y ngspice libngspice0-dev iverilog yosys" >&2
    echo "  anncc works without them; the SPICE and RTL cross-checks are then skipped." >&2
  fi
fi

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
"$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
  || "$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[test]"
