"""The sweeps: each module defines `get_sweep(quick: bool) -> grid.Sweep`.

The machinery beside them, one job a module: grid (what a sweep is: its runs, baselines and
budget), engine (running the grid, resumable), figures (a run's per-seed figures), verdicts
(comparisons judged by one rule), aggregate (results.json and plots), page (results.md rendered
from results.json) and overview (the results README's computed parts); common holds what several
sweeps share.
"""

from experiments.sweeps import (
    activations,
    attention,
    augment,
    batch_size,
    depth,
    fitting,
    flow,
    gan,
    genomic,
    head,
    highway,
    inception,
    lenet,
    normalisation,
    optimizers,
    pooling,
    regularisation,
    segmentation,
    separable,
    shuffled_pixels,
    superres,
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
        segmentation,
        superres,
        flow,
        genomic,
        gan,
    )
}
