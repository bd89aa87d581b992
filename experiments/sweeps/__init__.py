"""The sweeps: each module defines `get_sweep(quick: bool) -> engine.Sweep`."""

from experiments.sweeps import lenet, shuffled_pixels

SWEEPS = {
    "lenet": lenet,
    "shuffled_pixels": shuffled_pixels,
}
