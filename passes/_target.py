"""The device technology a module is compiled for, recorded on the module itself.

The module carries `anncc.target = "sot-mtj"` and, when the user overrode
fields, `anncc.target_overrides = "{json}"`, so the IR alone says which devices
its arrays are made of and every pass and the runtime agree on them.
"""

from __future__ import annotations

import json
from typing import Any

from anncc.ir._xdsl import ModuleOp, StringAttr

TARGET_ATTR = "anncc.target"
OVERRIDES_ATTR = "anncc.target_overrides"
DEFAULT_TARGET = "sot-mtj"


def set_target(module: ModuleOp, name: str, overrides: dict[str, Any] | None = None) -> None:
    module.attributes[TARGET_ATTR] = StringAttr(name)
    if overrides:
        module.attributes[OVERRIDES_ATTR] = StringAttr(json.dumps(overrides, sort_keys=True))
    elif OVERRIDES_ATTR in module.attributes:
        del module.attributes[OVERRIDES_ATTR]


def target_of(module: ModuleOp, name: str = ""):
    """The validated Target for `module` (`name` wins over the module's attribute)."""
    from anncc.targets import load_target

    attr = module.attributes.get(TARGET_ATTR)
    module_name = attr.data if isinstance(attr, StringAttr) else None
    overrides: dict[str, Any] = {}
    ov = module.attributes.get(OVERRIDES_ATTR)
    if isinstance(ov, StringAttr) and (not name or name == module_name):
        overrides = json.loads(ov.data)
    return load_target(name or module_name or DEFAULT_TARGET, **overrides)
