"""ResNet-20 with and without channel / spatial attention: parameter overhead and accuracy."""

from experiments.configs import cifar10
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Squeeze-and-excitation, CBAM and ECA attention raise a ResNet's accuracy for a parameter "
    "overhead of about 1% (SE, CBAM) or a few dozen parameters (ECA)."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison("SE raises accuracy", "resnet20_se", "resnet20_none"),
    Comparison("CBAM raises accuracy", "resnet20_cbam", "resnet20_none"),
    Comparison("ECA raises accuracy", "resnet20_eca", "resnet20_none"),
)


ATTENTIONS = {"none": "none", "se": "SE (r=16)", "cbam": "CBAM (r=16, 7x7)", "eca": "ECA"}


# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = common.gpu_cifar_copy("attention") + """
Every network follows the CIFAR-10 ResNet-20 recipe for `15` epochs on `10000` training images
of that copy.

The cost half of the claim holds by construction: SE brings the network to
{{count num_params resnet20_se}} parameters from {{count num_params resnet20_none}} (a ratio of
{{ratio num_params resnet20_se resnet20_none}}), CBAM to {{count num_params resnet20_cbam}} (its
7x7 spatial convolution also raises the multiply-accumulates, by a factor of
{{ratio macs resnet20_cbam resnet20_none}}), ECA to {{count num_params resnet20_eca}}: one
three-tap 1-D convolution per block. The accuracy half is not supported at this budget: none of
the three separates from the plain ResNet-20 over {{seeds}} seeds (SE {{points 1}}; CBAM
{{points 2}}; ECA {{points 3}}). ECA has the highest mean ({{pct test_accuracy resnet20_eca}}
against {{pct test_accuracy resnet20_none}}) and the lowest training loss, but its interval
includes zero. The papers' gains come from long ImageNet trainings of much larger ResNets on far
more data; this short budget may not train the gates to help.
"""


def get_sweep(quick: bool) -> Sweep:
    # ResNet-20, momentum 0.9, peak lr 0.1 (cosine, 1 epoch warm-up), L2 1e-4, crop + flip;
    # 10,000 CIFAR-10 training images for 15 epochs in the full grid.
    shared = {
        **common.budget(quick, epochs=15, train_size=10_000),
        "model": "resnet20",
        "optimizer.learning_rate": 0.1,
        "loss.l2": 1e-4,
    }
    names = ("none", "se") if quick else tuple(ATTENTIONS)
    runs = tuple(
        Run(
            f"resnet20_{name}",
            {**shared, "model_args.resnet20.attention": name},
            {"attention": ATTENTIONS[name]},
        )
        for name in names
    )
    return Sweep(
        name="attention",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=cifar10.get_config,
        runs=runs,
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss"),
    )
