"""The sweeps: each module defines `get_sweep(quick: bool) -> engine.Sweep`."""

from experiments.sweeps import (
    activations,
    attention,
    augment,
    batch_size,
    depth,
    fitting,
    head,
    highway,
    inception,
    lenet,
    normalisation,
    optimizers,
    pooling,
    regularisation,
    separable,
    shuffled_pixels,
    transfer,
)

SWEEPS = {
    module.__name__.rsplit(".", 1)[-1]: module
    for module in (
        regularisation,
        optimizers,
        fitting,
        depth,
        lenet,
        shuffled_pixels,
        pooling,
        separable,
        inception,
        attention,
        normalisation,
        head,
        batch_size,
        activations,
        augment,
        transfer,
        highway,
    )
}
