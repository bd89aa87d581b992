"""One fixed random permutation of MNIST's pixels: a CNN against an MLP."""

from experiments.configs import mnist
from experiments.sweeps.grid import Run, Sweep
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


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
Random crops are off in every run (`crop_padding=0`): a shift of a shuffled image is not a shift
of the digit. Both verdicts agree with the claim, but the CNN's cost is smaller than "much of
its accuracy" suggests: LeNet-5 falls from {{pct test_accuracy lenet5_original}} to
{{pct test_accuracy lenet5_shuffled}} ({{points 1}}), still a working classifier, while the MLP
is unaffected ({{pct test_accuracy mlp_original}} against {{pct test_accuracy mlp_shuffled}};
{{points 2}}). What the shuffle removes is the CNN's advantage: on original pixels LeNet-5
ends above the MLP with {{ratio num_params lenet5_original mlp_original}} times its parameters,
on shuffled pixels it ends below it, and its training loss is higher and spreads widely over
seeds ({{mean final_train_loss lenet5_shuffled}}).
"""


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
        notes=NOTES,
        comparisons=COMPARISONS,
        base=mnist.get_config,
        runs=tuple(runs),
        num_seeds=2 if quick else 3,
    )
