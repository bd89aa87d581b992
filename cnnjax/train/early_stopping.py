"""Which validation values count as an improvement, for early stopping and for the best epoch."""

from __future__ import annotations

HIGHER_IS_BETTER = {"val_accuracy": True, "val_loss": False}


def improved(metric: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    """True when `value` of `metric` beats `best` by more than `min_delta` (or there is no best).

    Accuracy improves upward (value > best + min_delta), loss downward (value < best - min_delta).
    """
    if best is None:
        return True
    if HIGHER_IS_BETTER[metric]:
        return value > best + min_delta
    return value < best - min_delta


def plateau_value(metric: str, value: float) -> float:
    """The value fed to reduce-on-plateau, which treats lower as better."""
    return -value if HIGHER_IS_BETTER[metric] else value
