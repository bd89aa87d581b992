"""One fixed random permutation of MNIST's pixels: a CNN against an MLP."""

from experiments.configs import mnist
from experiments.sweeps.engine import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Shuffling the pixels of every image by one fixed permutation costs a CNN much of its "
    "accuracy, because convolution and pooling assume that neighbouring pixels belong together, "
    "while an MLP, which has no notion of neighbours, is unaffected."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison("shuffled pixels cost LeNet-5 accuracy", "lenet5_shuffled", "lenet5_original",
               claim="lower"),
    Comparison(
        "shuffled pixels leave the MLP unaffected (within 0.5 points)", "mlp_shuffled",
        "mlp_original", claim="similar", margin=0.005,
    ),
)



def get_sweep(quick: bool) -> Sweep:
    common = {"epochs": 2, "dataset.train_size": 2000} if quick else {"epochs": 15}
    # No random crops: a shift of a shuffled image is not a shift of the digit.
    common["dataset.augment.crop_padding"] = 0
    runs = []
    for model, kind in (("lenet5", "CNN (LeNet-5)"), ("mlp", "MLP 784-256-128-10")):
        for shuffled in (False, True):
            name = f"{model}_{'shuffled' if shuffled else 'original'}"
            overrides = {**common, "model": model, "dataset.permute_pixels": shuffled}
            pixels = "shuffled" if shuffled else "original"
            runs.append(Run(name, overrides, {"model": kind, "pixels": pixels}))
    return Sweep(
        name="shuffled_pixels",
        claim=CLAIM,
        comparisons=COMPARISONS,
        base=mnist.get_config,
        runs=tuple(runs),
        num_seeds=2 if quick else 3,
    )
