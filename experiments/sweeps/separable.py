"""Standard against depthwise-separable convolutions: parameters, MACs, accuracy."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
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


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
This is a reduced grid: the command trains for fewer epochs on fewer images than the sweep's
full budget (`epochs=15`, `train_size=10000`). `separable_wide` was stopped once, trained again
from scratch and paused while benchmarks ran, so the total training time overstates the grid.

The cost half of the claim holds: with the base widths the separable network has
{{ratio num_params separable_base standard_base}} times the standard one's parameters
({{count num_params separable_base}} against {{count num_params standard_base}}) and
{{ratio macs separable_base standard_base}} times its multiply-accumulates, close to
`1/C_out + 1/9`. The accuracy half does not hold at this budget (the verdict table): the
separable network scores {{pct test_accuracy separable_base}} against
{{pct test_accuracy standard_base}} ({{points 1}}), and doubling its widths, at
{{ratio num_params separable_wide standard_base}} times the standard network's parameters, still
leaves it behind at {{pct test_accuracy separable_wide}} ({{points 2}}). The separable networks
end with the highest training losses ({{mean final_train_loss separable_base}} and
{{mean final_train_loss separable_wide}} against {{mean final_train_loss standard_base}}), so in
this short training they under-fit rather than over-fit; MobileNet and Xception trained far
longer. Fewer multiply-accumulates did not mean faster training on the project's CPU, whose
depthwise convolutions run far below its matmul rate.
"""


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
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss"),
    )
