"""Which validation values count as an improvement, for early stopping and for the best epoch.
Whether higher is better is the task's (cnnjax.tasks: Task.higher)."""

from __future__ import annotations

import math


def improved(higher: bool, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    """True when `value` beats `best` by more than `min_delta` (or there is no best): upward
    (value > best + min_delta) for a metric that is better `higher` (accuracy), else downward
    (value < best - min_delta; loss). A NaN value (a correlation of constant predictions)
    never improves, and any other value improves on a NaN best."""
    if math.isnan(value):
        return False
    if best is None or math.isnan(best):
        return True
    if higher:
        return value > best + min_delta
    return value < best - min_delta


def plateau_value(higher: bool, value: float) -> float:
    """The value fed to reduce-on-plateau, which treats lower as better."""
    return -value if higher else value
