"""FlowNetSimple (experiments/flow.py): optical flow of CIFAR-10 image pairs made by warping
with known smooth random flow fields (cnnjax.data.flow), against the zero-flow baseline.

`--config=experiments/configs/flow.py:quick` selects scikit-learn's 8x8 digits (no download),
a tiny network and a few steps (seconds)."""

import ml_collections

# What the runner's results test (experiments/results/README.md lists it).
CLAIM = (
    "A CNN reading two stacked frames learns dense optical flow end to end (FlowNetSimple, "
    "Dosovitskiy et al. 2015), far better than assuming no motion."
)


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.results_dir = "experiments/results/flow"  # results.md, results.json, PNGs
    c.workdir = "runs/flow"  # one file per finished training: a rerun skips it
    c.dataset = "cifar10"  # images to warp (any cnnjax.data set with sides divisible by 8)
    c.data_dir = ""  # '' -> $CNNJAX_DATA_DIR, the default places
    c.exact_counts = True  # files must hold the official releases' record counts
    c.sigma = 2.0  # pixels: std of the coarse lattice's displacements
    c.grid = 4  # lattice points per side, interpolated bicubically to the image size
    c.test_pairs = 1000  # fixed pairs from the first test images (key data_seed + 1)
    c.data_seed = 0  # training pairs: drawn afresh each step from key (data_seed, step)
    c.model_args = ml_collections.ConfigDict(dict(widths=(32, 64, 128)))
    c.seeds = 2  # trainings (network initialisations), seeds 0 .. seeds-1
    c.train_steps = 2000
    c.batch_size = 32  # pairs per step
    c.eval_every = 500  # steps between test evaluations
    c.learning_rate = 1e-3  # Adam, cosine-decayed to 0 over train_steps
    c.num_pictures = 4  # test pairs shown with true and predicted flow
    if variant == "quick":
        c.update(
            dict(
                results_dir="/tmp/cnnjax_flow_quick",
                workdir="/tmp/cnnjax_flow_quick/runs",
                dataset="digits",
                sigma=1.0,
                test_pairs=64,
                seeds=1,
                train_steps=20,
                batch_size=16,
                eval_every=10,
                num_pictures=2,
            )
        )
        c.model_args.widths = (4, 8, 8)
    elif variant:
        raise ValueError(f"flow config: unknown variant {variant!r}; valid: 'quick'")
    return c
