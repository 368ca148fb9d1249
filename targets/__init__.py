"""anncc.targets: device technologies as validated parameter sets (DESIGN.md section 5).

    from anncc.targets import get_target, load_target, list_targets
    t = get_target("sot-mtj")
    t.g_min_s, t.g_max_s, t.delta_g_s, t.unit_current_a
    t.levels_to_conductance(np.array([0, 1]))
    t = load_target("pcm", "pcm.toml", adc_bits=6)      # TargetError names a bad field

Each target's defaults, their sources and what anncc models of them are in
docs/targets/<name>.md. A new technology is a `Target` subclass registered with
`register_target` (the `ns-ram` target is planned this way).
"""

from __future__ import annotations

from anncc.targets._base import FAULT_STUDY_RATE, Target
from anncc.targets._registry import (
    TARGETS,
    get_target,
    list_targets,
    load_target,
    read_overrides_file,
    register_target,
    resolve_target,
    target_class,
    validate_target,
)
from anncc.targets.cmos import E96_MANTISSAS, CmosTarget, e96_values, nearest_e96, round_to_e96
from anncc.targets.mtj import MtjTarget, SotMtjDwTarget, SotMtjTarget
from anncc.targets.pcm import PcmTarget
from anncc.targets.rram import RramTarget

for _cls in (SotMtjTarget, SotMtjDwTarget, RramTarget, PcmTarget, CmosTarget):
    register_target(_cls)

__all__ = [
    "E96_MANTISSAS",
    "FAULT_STUDY_RATE",
    "TARGETS",
    "CmosTarget",
    "MtjTarget",
    "PcmTarget",
    "RramTarget",
    "SotMtjDwTarget",
    "SotMtjTarget",
    "Target",
    "e96_values",
    "get_target",
    "list_targets",
    "load_target",
    "nearest_e96",
    "read_overrides_file",
    "register_target",
    "resolve_target",
    "round_to_e96",
    "target_class",
    "validate_target",
]
