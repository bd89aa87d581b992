"""Naive Inception modules against 1x1-reduced (v1), 5x5-factorised (v2) and v3 modules."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "1x1 reductions make Inception modules several times cheaper in parameters and "
    "multiply-accumulates than the naive module at similar accuracy, and factorising "
    "convolutions (5x5 as two 3x3, 3x3 as 1x3 then 3x1) cuts the cost further."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison(
        "1x1 reductions keep the naive module's accuracy (within 1 point)", "inception_v1",
        "inception_naive", claim="similar", margin=0.01,
    ),
    Comparison(
        "factorising 5x5 as two 3x3 keeps v1's accuracy (within 1 point)", "inception_v2",
        "inception_v1", claim="similar", margin=0.01,
    ),
    Comparison(
        "factorising 3x3 as 1x3 + 3x1 keeps v1's accuracy (within 1 point)", "inception_v3",
        "inception_v1", claim="similar", margin=0.01,
    ),
)


BLOCKS = {
    "naive": "naive: 1x1 | 3x3 | 5x5 | pool",
    "v1": "v1: 1x1 reductions",
    "v2": "v2: 5x5 as two 3x3",
    "v3": "v3: 3x3 as 1x3 + 3x1",
}


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = common.gpu_cifar_copy("inception") + """
The grid is `inception_net` with two stages of `64` and `128` channels, trained for `10` epochs
on `5000` of that copy's training images.

1x1 reductions make the module much cheaper: the v1 network has
{{ratio num_params inception_v1 inception_naive}} of the naive one's parameters and
{{ratio macs inception_v1 inception_naive}} of its multiply-accumulates, and it is *more*
accurate, not just as accurate ({{points 1}}), with a lower training loss: "similar accuracy" is
a no in the better direction.

Factorising 5x5 as two 3x3 (v2) does not cut the cost at these widths: the 5x5 branch maps `r`
to `2r` channels (`50r²` weights per position), and of v2's two 3x3 the second runs at the
output width (`18r² + 36r² = 54r²`), so v2 costs
{{ratio num_params inception_v2 inception_v1}} times v1's parameters. Whether it keeps v1's
accuracy within a point is {{verdict 2}} ({{points 2}}). Factorising 3x3 as 1x3 + 3x1 (v3) does
cut the cost, to {{ratio num_params inception_v3 inception_v1}} of v1's parameters, but at this
short budget it loses accuracy ({{points 3}}): its mean, {{pct test_accuracy inception_v3}}, is
close to the naive module's, {{pct test_accuracy inception_naive}}.
"""


def get_sweep(quick: bool) -> Sweep:
    # inception_net with stages of 64 and 128 channels (2 modules each); CIFAR-10 recipe on
    # 5,000 training images for 10 epochs in the full grid (the naive network's ~140M
    # multiply-accumulates per image make it the slowest model of all the sweeps on a CPU).
    budget = common.budget(quick, epochs=10, train_size=5000)
    model = {"model": "inception_net", "model_args.inception_net.widths": (64, 128)}
    runs = tuple(
        Run(
            f"inception_{block}",
            {**budget, **model, "model_args.inception_net.block": block},
            {"module": label},
        )
        for block, label in BLOCKS.items()
    )
    return Sweep(
        name="inception",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=runs,
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss"),
    )
