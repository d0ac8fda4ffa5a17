"""Which neighbourhood to draw next: the operator choice of adaptive large-neighbourhood search
(Ropke & Pisinger, 2006), scored by cost removed per second.

Where the cost lives differs between instances and during a run (overloaded machines early,
move costs and leftovers late), so a fixed mix wastes rounds on neighbourhoods that stopped
paying. Each option keeps a smoothed gain per second; an option is drawn with probability
proportional to it, with a floor so that none is starved and a stalled one can come back.
"""

from __future__ import annotations

import numpy as np

FLOOR = 0.05  # each option's least probability
SMOOTHING = 0.05  # weight of the newest reward: about the last 20 draws of an option count


class AdaptiveChoice:
    def __init__(self, options: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rate = np.full(options, np.nan)  # smoothed gain per second; nan = never drawn

    def pick(self) -> int:
        untried = np.flatnonzero(np.isnan(self.rate))
        if len(untried):
            return int(untried[self.rng.integers(len(untried))])
        return int(self.rng.choice(len(self.rate), p=self.probabilities()))

    def probabilities(self) -> np.ndarray:
        count = len(self.rate)
        total = float(np.nansum(self.rate))
        if total <= 0:
            return np.full(count, 1.0 / count)
        return FLOOR + (1 - count * FLOOR) * np.nan_to_num(self.rate) / total

    def reward(self, option: int, gain: int, seconds: float) -> None:
        rate = max(gain, 0) / max(seconds, 1e-3)
        old = self.rate[option]
        self.rate[option] = rate if np.isnan(old) else (1 - SMOOTHING) * old + SMOOTHING * rate
