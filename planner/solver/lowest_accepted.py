"""The lowest-scored candidate a check accepts, without sorting the candidates.

Where the first candidate mostly passes, an argmin, striking the ones refused, costs one pass over
the scores; sorting every candidate per VM was most of a drain's repair at 5,000 hosts and of a
consolidation's host emptying at 1,000.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NOT_A_CANDIDATE = np.iinfo(np.int64).max


def lowest_accepted(scores: np.ndarray, accepts: Callable[[int], bool]) -> int | None:
    """The position of the lowest score (the lowest position among ties) that `accepts`, striking
    refused ones in `scores` (an array the caller owns: int64 with NOT_A_CANDIDATE marking none, or
    float with infinity); None when nothing is accepted."""
    struck = np.inf if scores.dtype.kind == "f" else NOT_A_CANDIDATE
    for _ in range(len(scores)):
        best = int(np.argmin(scores))
        if scores[best] == struck:
            return None
        if accepts(best):
            return best
        scores[best] = struck
    return None
