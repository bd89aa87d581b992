"""The degradation problem: deeper plain networks train worse; residual ones do not."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Deeper plain networks reach a higher training error than shallower ones (the degradation "
    "problem, He et al. 2016, figure 6), while residual networks of the same depth and "
    "parameter count do not: their training error falls with depth."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison(
        "plain-56 trains worse than plain-20", "plain56", "plain20",
        figure="final_train_accuracy", claim="lower",
    ),
    Comparison(
        "ResNet-56 trains better than ResNet-20", "resnet56", "resnet20",
        figure="final_train_accuracy",
    ),
    Comparison(
        "ResNet-56 trains better than plain-56", "resnet56", "plain56",
        figure="final_train_accuracy",
    ),
)


DEPTHS = (20, 32, 56)


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = common.gpu_cifar_copy("depth") + """
Training accuracy is the running mean over the last epoch in train mode (random crops and flips
on), as the loop reports it. The degradation problem appears clearly: the plain network's
training accuracy falls with depth, from {{pct final_train_accuracy plain20}} (plain-20) through
{{pct final_train_accuracy plain32}} (plain-32) to {{pct final_train_accuracy plain56}}
(plain-56; {{points 1}}), and ResNet-56, with the same {{count num_params resnet56}} parameters
as plain-56, trains far better ({{points 3}}). The other half of the paper's figure, a residual
network's training error falling with depth, is not seen at this budget: the seeds do not
separate ResNet-56 from ResNet-20 ({{points 2}}), and fifteen epochs on a training subset are
far from the paper's long schedule.
"""


def get_sweep(quick: bool) -> Sweep:
    # He et al.'s CIFAR recipe shortened: momentum 0.9, peak lr 0.1 (cosine, 1 epoch warm-up),
    # L2 1e-4, crop + flip, batch 128; 10,000 training images in the full grid.
    shared = {
        **common.budget(quick, epochs=15, train_size=10_000),
        "optimizer.learning_rate": 0.1,
        "loss.l2": 1e-4,
    }
    runs = []
    for depth in DEPTHS[:1] if quick else DEPTHS:
        for kind, prefix in (("residual", "resnet"), ("plain", "plain")):
            labels = {"network": kind, "depth": str(depth)}
            runs.append(Run(f"{prefix}{depth}", {**shared, "model": f"{prefix}{depth}"}, labels))
    return Sweep(
        name="depth",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("final_train_accuracy", "final_train_loss", "test_accuracy"),
        curves=("train_loss", "val_accuracy"),
    )
