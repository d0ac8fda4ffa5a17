"""What no host may reach while the spread greedy relieves a peak: a per-mille cap per resource."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Caps(NamedTuple):
    """CPU ‰ and memory ‰ (indexable as caps[0], caps[1]), and one cap per extra named resource in
    Problem.resources order. `extra` None: each extra resource's current peak (or threshold), so a
    move relieving CPU or memory never raises another peak."""

    cpu: int
    memory: int
    extra: np.ndarray | None = None


def extra_caps_of(caps: tuple[int, ...]) -> np.ndarray | None:
    """The extra resources' caps of `caps` (None for a plain (CPU, memory) pair)."""
    return caps.extra if isinstance(caps, Caps) else None
