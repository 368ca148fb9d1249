"""What an fx node of an ExportedProgram imports to, besides an SSA value.

The importer maps every node to one of:
- an `SSAValue`: an activation, a tensor whose axis 0 is the (dynamic) batch;
- a `Constant`: a tensor known at compile time (a parameter, a buffer, a lifted
  constant, or the result of an op evaluated on those), turned into an
  `ann.weight` only where an ann op consumes it;
- a Python value (an int, a float, a list of ints), e.g. a shape argument;
- a tuple of these, for an op with several results;
- `Permuted`: an activation with its batch axis moved by a permutation (a
  sequence-first transformer's `x.transpose(0, 1)`), kept lazy: only another
  permutation that brings the batch back to axis 0 may use it;
- `Unavailable`: a result anncc does not compute (max-pool indices), an error
  only when something uses it;
- `POISON`: the node depends on an unsupported node; it is not reported again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(eq=False)
class Constant:
    """A tensor known at compile time, with the store key it would be saved under.

    `key` is the state-dict name for parameters and buffers (`layer1.0.conv1.weight`)
    and the fx node name for folded tensors. `transpose_of` records that this is
    the transpose of another constant (a decomposed `linear` transposes its weight
    before `addmm`), so the layer can reference the original weight.
    """

    tensor: torch.Tensor
    key: str
    from_state: bool = False
    transpose_of: Constant | None = None
    origin: str | None = None  # the state key this is a view of (`class_token` for its expand)

    @property
    def shape(self) -> list[int]:
        return list(self.tensor.shape)


@dataclass(frozen=True, eq=False)
class Permuted:
    """`source.permute(perm)` with `perm[0] != 0`: the batch is off axis 0, so no op is emitted."""

    source: Any
    perm: tuple[int, ...]

    def moved(self) -> str:
        return (f"permutation {list(self.perm)} moves the batch axis "
                "(only a permutation that moves it back may follow)")


@dataclass(frozen=True)
class Unavailable:
    """A result that anncc does not compute; using it is unsupported."""

    what: str


class _Poison:
    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()


class Unsupported(Exception):
    """Raised by a builder: this node, with these arguments, has no ann mapping."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
