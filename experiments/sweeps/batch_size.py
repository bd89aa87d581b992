"""Batch size against learning rate (linear scaling) and epochs against iterations."""

from experiments.configs import fashion_mnist
from experiments.sweeps import common
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Scaling the learning rate linearly with the batch size (Goyal et al. 2017) keeps accuracy "
    "across batch sizes at the same number of epochs, where a fixed learning rate loses "
    "accuracy at large batches; at the same number of iterations, not epochs, large batches "
    "see more data and do better."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    Comparison("a fixed lr loses accuracy at batch 512", "b512_fixed_lr", "b128_fixed_lr",
               claim="lower"),
    Comparison(
        "a linearly scaled lr keeps batch 512 at batch 128's accuracy (within 0.5 points)",
        "b512_scaled_lr", "b128_fixed_lr", claim="similar", margin=0.005,
    ),
    Comparison(
        "at batch 128's steps, batch 512 does better", "b512_scaled_lr_same_steps",
        "b128_fixed_lr",
    ),
    Comparison(
        "at batch 128's steps, batch 32 does worse", "b32_scaled_lr_same_steps",
        "b128_fixed_lr", claim="lower",
    ),
)

# What the results show, for results.md (every figure a placeholder filled from results.json).
NOTES = """
**Budget.** Every row trained on the project's CPU on a subset of Fashion-MNIST's training
images (`--train_size=10000`; the full grid uses all of them and takes hours there), the
validation images held out as usual and the whole test set for `test_accuracy`. Epochs are the
sweep's own (`--epochs` is refused: the "same steps" rows differ in epochs by design), so at
batch `512` an epoch is only a few updates.

**The verdicts.** At the same number of epochs with a fixed learning rate, batch `512` reaches
{{pct test_accuracy b512_fixed_lr}} against batch `128`'s {{pct test_accuracy b128_fixed_lr}}
({{points 1}}: {{verdict 1}}); batch `32` reaches {{pct test_accuracy b32_fixed_lr}}. Scaling
the learning rate linearly brings batch `512` to {{pct test_accuracy b512_scaled_lr}}: within
half a point of batch `128` is {{verdict 2}} ({{points 2}}). At batch `128`'s number of
updates, batch `512` (four times the epochs, so four times the images) reaches {{pct
test_accuracy b512_scaled_lr_same_steps}} ({{verdict 3}}) and batch `32` (a quarter of the
images) {{pct test_accuracy b32_scaled_lr_same_steps}} ({{verdict 4}}). With so few images an
epoch holds few updates at batch `512` (its warm-up alone is one epoch), which is where the
linear rule is known to break down (Goyal et al. 2017 needed a gradual warm-up for large
batches); the full grid on all images is the test of the rule at the batch sizes it was stated
for.
"""

BATCH_SIZES = (32, 128, 512)
BASE_BATCH, BASE_LR = 128, 0.05  # momentum 0.9; lr = BASE_LR * batch / BASE_BATCH when scaled


def get_sweep(quick: bool) -> Sweep:
    # Fashion-MNIST, SmallCNN with batch norm, cosine schedule with one epoch of warm-up.
    budget = common.budget(quick, epochs=10)
    epochs = budget["epochs"]
    shared = {**budget, **common.small_cnn(), "schedule.name": "warmup_cosine"}
    runs = []
    for batch in (32, 512) if quick else BATCH_SIZES:
        scaled = BASE_LR * batch / BASE_BATCH
        variants = {
            "fixed_lr": (BASE_LR, epochs, "fixed lr, same epochs"),
            "scaled_lr": (scaled, epochs, "linear lr, same epochs"),
            # As many optimizer steps as batch 128 for `epochs` epochs: epochs * batch / 128
            # (rounded half up: batch 32 gets 3 epochs for 2.5, 1.2x the steps).
            "scaled_lr_same_steps": (
                scaled,
                max(1, int(epochs * batch / BASE_BATCH + 0.5)),
                "linear lr, same steps",
            ),
        }
        for name, (lr, n_epochs, label) in variants.items():
            if batch == BASE_BATCH and name != "fixed_lr":
                continue  # all three coincide at the base batch size
            overrides = {
                **shared,
                "batch_size": batch,
                "optimizer.learning_rate": lr,
                "epochs": n_epochs,
            }
            labels = {"batch": str(batch), "lr": f"{lr:g}", "epochs": str(n_epochs), "rule": label}
            runs.append(Run(f"b{batch}_{name}", overrides, labels))
    return Sweep(
        name="batch_size",
        claim=CLAIM,
        comparisons=COMPARISONS,
        base=fashion_mnist.get_config,
        runs=tuple(runs),
        num_seeds=common.seeds(quick),
        figures=("test_accuracy", "best_val_accuracy", "final_train_loss"),
        notes=NOTES,
    )
