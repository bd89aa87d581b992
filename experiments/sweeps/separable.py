"""Standard against depthwise-separable convolutions: parameters, MACs, accuracy."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.engine import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Depthwise-separable convolutions (Xception, MobileNet) cost about 1/C_out + 1/9 of the "
    "parameters and multiply-accumulates of standard 3x3 convolutions for a small loss of "
    "accuracy, so at an equal budget a wider separable network can match a standard one."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison(
        "separable convolutions lose little accuracy (within 1 point)", "separable_base",
        "standard_base", claim="similar", margin=0.01,
    ),
    Comparison(
        "a wider separable network matches the standard one", "separable_wide",
        "standard_base", claim="similar", margin=0.01,
    ),
)


WIDTHS = {"base": (32, 64, 128), "wide": (64, 128, 256)}


def get_sweep(quick: bool) -> Sweep:
    # SmallCNN with two convs per stage, batch norm and the global-average-pooling head, so
    # that the convolutions hold nearly all parameters; CIFAR-10 recipe, 10,000 images.
    budget = common.budget(quick, epochs=15, train_size=10_000)
    runs = []
    for width in ("base",) if quick else tuple(WIDTHS):
        for conv in ("standard", "separable"):
            model = common.small_cnn(widths=WIDTHS[width], convs_per_stage=2, conv=conv, head="gap")
            labels = {"convolution": conv, "widths": "-".join(map(str, WIDTHS[width]))}
            runs.append(Run(f"{conv}_{width}", {**budget, **model}, labels))
    return Sweep(
        name="separable",
        claim=CLAIM,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss"),
    )
