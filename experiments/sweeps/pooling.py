"""Max pooling against average pooling against a learned strided convolution."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Max pooling beats average pooling for down-sampling inside a classification CNN, and a "
    "learned stride-2 convolution (the all-convolutional net) matches max pooling at the cost "
    "of more parameters and multiply-accumulates."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison("max pooling beats average pooling", "pool_max", "pool_avg"),
    Comparison(
        "a stride-2 convolution matches max pooling", "pool_conv", "pool_max",
        claim="similar", margin=0.01,
    ),
)


POOLS = {"max": "max pool 2x2/2", "avg": "average pool 2x2/2", "conv": "3x3 conv, stride 2"}


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
This is a reduced grid: the command trains for fewer epochs on fewer images than the sweep's
full budget (`epochs=15`, `train_size=10000`), on a CPU that other work shared.

Max pooling ends above average pooling on average ({{pct test_accuracy pool_max}} against
{{pct test_accuracy pool_avg}}), but the three seeds do not separate them ({{points 1}}), and
their best validation accuracies are closer still ({{pct best_val_accuracy pool_max}} against
{{pct best_val_accuracy pool_avg}}): this part of the claim is not shown. The learned stride-2
convolution costs more ({{ratio num_params pool_conv pool_max}} times the parameters,
{{count num_params pool_conv}} against {{count num_params pool_max}}, and
{{ratio macs pool_conv pool_max}} times the multiply-accumulates) and is clearly *worse*
({{pct test_accuracy pool_conv}}; {{points 2}}), with the highest training loss
({{mean final_train_loss pool_conv}} against {{mean final_train_loss pool_max}}): in this short
training the extra convolution has not learned a down-sampling as good as a fixed max. The
all-convolutional net matched max pooling with longer training and more data (Springenberg et
al. 2015), which this budget does not give it.
"""


def get_sweep(quick: bool) -> Sweep:
    # SmallCNN 32-64-128 with two 3x3 convs per stage, batch norm, dense head; CIFAR-10 recipe
    # (crop + flip, momentum, L2 5e-4) on 10,000 training images in the full grid.
    budget = common.budget(quick, epochs=15, train_size=10_000)
    runs = tuple(
        Run(
            f"pool_{pool}",
            {**budget, **common.small_cnn(convs_per_stage=2, pool=pool)},
            {"down-sampling": label},
        )
        for pool, label in POOLS.items()
    )
    return Sweep(
        name="pooling",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=runs,
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss"),
    )
