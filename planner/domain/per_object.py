"""Values worked out once per object, held by the object's identity and dropped with it.

For what planning derives from large immutable objects several times over (the spread bounds of a
200,000-VM problem, the usage of every host of a cluster as it runs): such objects are too costly
to hash, and keeping the value on the object would put a derived value of one package on another's
type.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class PerObject(Generic[Key, Value]):
    def __init__(self, compute: Callable[[Key], Value]) -> None:
        self._compute = compute
        self._values: dict[int, Value] = {}

    def __call__(self, owner: Key) -> Value:
        key = id(owner)
        if key not in self._values:
            self._values[key] = self._compute(owner)
            # Dropped when the owner is, before its id can be reused by another object.
            weakref.finalize(owner, self._values.pop, key, None)
        return self._values[key]

    def __len__(self) -> int:
        """How many objects' values are held."""
        return len(self._values)
