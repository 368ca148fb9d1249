"""Shape helpers shared by the dialects' verifiers.

The batch dimension is dynamic (`?`) in every activation type: users export
with a batch of 1, and anncc runs any batch size, so the batch is never baked
into the IR. Here a dynamic dimension is `None`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from anncc.ir._xdsl import DYNAMIC_INDEX, Attribute, IntegerType, TensorType, VerifyException


def dims(t: Attribute) -> list[int | None]:
    """The shape of a tensor type, with `None` for a dynamic dimension."""
    if not isinstance(t, TensorType):
        raise VerifyException(f"expected a tensor type, got {t}")
    return [None if d == DYNAMIC_INDEX else int(d) for d in t.get_shape()]


def tensor(shape: Sequence[int | None], element: Attribute) -> TensorType:
    """A tensor type; `None` in `shape` becomes a dynamic dimension (one shared instance per
    shape and element type: types are immutable, and building one is slow)."""
    return _tensor(tuple(DYNAMIC_INDEX if d is None else int(d) for d in shape), element)


@functools.lru_cache(maxsize=8192)
def _tensor(shape: tuple[int, ...], element: Attribute) -> TensorType:
    return TensorType(element, list(shape))


def dims_match(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Same rank, and equal wherever both dimensions are static."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def fmt(shape: Sequence[int | None]) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def expect(cond: bool, op: str, message: str | Callable[[], str]) -> None:
    """Raise a VerifyException `op: message` when `cond` is false.

    Pass the message as a lambda when it prints types or shapes: verifiers run on
    every op of large modules, and formatting attributes costs far more than the check.
    """
    if not cond:
        raise VerifyException(f"{op}: {message() if callable(message) else message}")


def int_width(t: Attribute) -> int | None:
    """The bit width of an integer tensor's element type, or None for float tensors."""
    if isinstance(t, TensorType) and isinstance(t.element_type, IntegerType):
        return t.element_type.width.data
    return None


def numel(shape: Sequence[int | None]) -> int | None:
    n = 1
    for d in shape:
        if d is None:
            return None
        n *= d
    return n
