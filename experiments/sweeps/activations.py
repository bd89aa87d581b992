"""Activations and gradient flow: seven nonlinearities x three initialisations, layer by layer."""

from __future__ import annotations

import os

import numpy as np

from cnnjax import report
from experiments.configs import cifar10, mnist
from experiments.sweeps import common
from experiments.sweeps.figures import seed_histories
from experiments.sweeps.grid import Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "Deep sigmoid and tanh networks without batch norm train slowly or not at all, because the "
    "gradient shrinks on its way to the input layers (saturated units pass almost none); ReLU "
    "with He initialisation trains; batch norm largely removes the difference. A small fixed "
    "initialisation (N(0, 0.01^2)) starves every activation of signal."
)

# The claim as tests (experiments.sweeps.verdicts); the verdicts are computed.
COMPARISONS = (
    *(
        Comparison(
            f"batch norm rescues a deep {net} sigmoid net ({data})",
            f"{data}_{net}_bn_sigmoid_glorot_uniform",
            f"{data}_{net}_plain_sigmoid_glorot_uniform",
        )
        for data in ("mnist", "cifar10")
        for net in ("cnn", "mlp")
    ),
    *(
        Comparison(
            f"ReLU with He beats sigmoid without batch norm ({net}, {data})",
            f"{data}_{net}_plain_relu_he_normal",
            f"{data}_{net}_plain_sigmoid_glorot_uniform",
        )
        for data in ("mnist", "cifar10")
        for net in ("cnn", "mlp")
    ),
)


# What the results mean, rendered under "What it shows"; every figure is a placeholder.
NOTES = """
Runs train `epochs=5` with momentum SGD at a peak `learning_rate=0.02` (cosine). The MNIST MLP
runs trained on the project's CPU, the rest on an NVIDIA H200, so each verdict compares rows of
one machine. The GPU got a cut-down CIFAR-10: the first `3000` records of each training file
(still ten thousand training images after the hold-out) and the first `5000` test images.
`grad_ratio` is log10 of the first weight layer's gradient norm over the last one's.

Sigmoid without batch norm stays at chance in both networks with every initialisation. At
initialisation its gradient ratio (MNIST, Glorot) is
{{value grad_ratio_init mnist_mlp_plain_sigmoid_glorot_uniform}} in the MLP and
{{value grad_ratio_init mnist_cnn_plain_sigmoid_glorot_uniform}} in the CNN, yet after the
first epoch next to none of its units are saturated
({{pct saturated_epoch1 mnist_cnn_plain_sigmoid_he_normal}} with He in the CNN): the
derivative's bound of a quarter, compounded per layer, kills the gradient, not saturation.
Batch norm rescues it everywhere (the first four verdicts). Tanh, against the claim, trains in
both networks (MNIST CNN {{pct test_accuracy mnist_cnn_plain_tanh_glorot_uniform}}): its
derivative is one at zero.

ReLU with He beats sigmoid in the MLP, but in the plain CNN a seed on each dataset lost many
units to dead ReLUs and stayed at chance
(MNIST {{pct test_accuracy mnist_cnn_plain_relu_he_normal}},
CIFAR-10 {{pct test_accuracy cifar10_cnn_plain_relu_he_normal}}), so the {{seeds}} seeds do not
separate it from sigmoid there ({{points 5}}; {{points 7}}); the failed seed is the one with
the most dead units after the first epoch. ELU with He diverged without batch norm at this
learning rate. The small initialisation leaves every activation at chance without batch norm;
with it all train except sigmoid, which at best partly does
(MNIST CNN {{pct test_accuracy mnist_cnn_bn_sigmoid_small_normal}}).
"""


ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "swish")
INITS = ("glorot_uniform", "he_normal", "small_normal")
# The two deep testbeds, no dropout, no weight penalty:
NETS = {
    # 12 3x3 convolutions (4 per stage, widths 16-32-64, 2x2 max pooling after each stage),
    # a 128-unit dense layer and the classifier: 14 weight layers.
    "cnn": (
        "deep CNN (14 layers)",
        "small_cnn",
        {"widths": (16, 32, 64), "convs_per_stage": 4, "hidden": 128, "dropout_rate": 0.0},
    ),
    # 10 hidden layers of 256 units and the classifier: 11 weight layers.
    "mlp": ("deep MLP (11 layers)", "mlp", {"hidden_sizes": (256,) * 10, "dropout_rate": 0.0}),
}
DATASETS = {  # name: (label, base config, validation accuracy for 'epochs_to_target')
    "mnist": ("MNIST", mnist.get_config, 0.9),
    "cifar10": ("CIFAR-10", cifar10.get_config, 0.4),
}
# QUICK: the contrast at the heart of the claim, on MNIST, with a CNN of 2 convolutions per
# stage (8 weight layers; compile time grows with depth).
QUICK_RUNS = (
    ("mnist", "cnn", False, "sigmoid", "glorot_uniform"),
    ("mnist", "cnn", False, "relu", "he_normal"),
    ("mnist", "cnn", True, "sigmoid", "glorot_uniform"),
    ("mnist", "mlp", False, "sigmoid", "glorot_uniform"),
)
QUICK_CONVS_PER_STAGE = 2


def _run(quick: bool, dataset: str, net: str, bn: bool, act: str, init: str) -> Run:
    data_label, base, target = DATASETS[dataset]
    net_label, model, fields = NETS[net]
    args = {f"model_args.{model}.{k}": v for k, v in fields.items()}
    if quick and net == "cnn":
        args[f"model_args.{model}.convs_per_stage"] = QUICK_CONVS_PER_STAGE
        net_label = f"deep CNN ({3 * QUICK_CONVS_PER_STAGE + 2} layers)"
    overrides = {
        **common.budget(quick, epochs=5, train_size=10_000),
        "model": model,
        **args,
        f"model_args.{model}.act": act,
        f"model_args.{model}.kernel_init": init,
        f"model_args.{model}.batch_norm": bn,
        "dataset.augment.crop_padding": 0,
        "dataset.augment.horizontal_flip": False,
        "loss.l2": 0.0,
        "optimizer.name": "momentum",
        "optimizer.learning_rate": 0.02,  # peak of a cosine schedule; momentum 0.9
        "schedule.name": "cosine",
        "layer_stats.enabled": True,
        "layer_stats.probe_size": 256,  # training examples
    }
    labels = {
        "dataset": data_label,
        "network": net_label,
        "batch norm": "yes" if bn else "no",
        "activation": act,
        "init": init,
    }
    name = f"{dataset}_{net}_{'bn' if bn else 'plain'}_{act}_{init}"
    return Run(name, overrides, labels, base, target_accuracy=0.5 if quick else target)


def get_sweep(quick: bool) -> Sweep:
    if quick:
        runs = tuple(_run(quick, *spec) for spec in QUICK_RUNS)
    else:
        runs = tuple(
            _run(quick, dataset, net, bn, act, init)
            for dataset in DATASETS
            for net in NETS
            for bn in (False, True)
            for act in ACTIVATIONS
            for init in INITS
        )
    return Sweep(
        name="activations",
        claim=CLAIM,
        notes=NOTES,
        comparisons=COMPARISONS,
        base=mnist.get_config,  # every run names its own
        runs=runs,
        num_seeds=common.seeds(quick),
        figures=(
            "test_accuracy",
            "final_train_loss",
            "grad_ratio_init",
            "grad_ratio_epoch1",
            "dead_epoch1",
            "saturated_epoch1",
        ),
        curves=("train_loss",),
        plots=plots,
    )


def _mean_profile(histories: list[list[dict]], when: str, key: str) -> list[float | None]:
    """`key` by layer (or activation call) averaged over seeds, at 'init' or after epoch 1."""
    field = "layer_stats_init" if when == "init" else "layer_stats"
    profiles = [h[0][field][key] for h in histories if h and h[0].get(field)]
    if not profiles:
        return []
    return [
        None if any(p[i] is None for p in profiles) else float(np.mean([p[i] for p in profiles]))
        for i in range(len(profiles[0]))
    ]


def plots(sweep: Sweep, workdir: str, results_dir: str, summaries: dict[str, dict]) -> list[str]:
    """Per dataset: the gradient norm by layer (input to output, log scale) at initialisation
    and after epoch 1, a panel per (network, batch norm, init) with a line per activation; and
    the fraction of dead ReLUs / saturated sigmoid and tanh units by activation after epoch 1."""
    written = []
    for dataset in sorted({run.labels["dataset"] for run in sweep.runs}):
        runs = [
            r
            for r in sweep.runs
            if r.labels["dataset"] == dataset and "diverged" not in summaries[r.name]
        ]
        if not runs:  # every run of this dataset diverged
            continue
        histories = {
            r.name: seed_histories(os.path.join(workdir, r.name), summaries[r.name]) for r in runs
        }
        slug = dataset.lower().replace("-", "")
        for when, what in (("init", "at initialisation"), ("epoch1", "after epoch 1")):
            panels: dict[str, dict[str, list]] = {}
            for r in runs:
                panel = f"{r.labels['network']}, BN {r.labels['batch norm']}, {r.labels['init']}"
                profile = _mean_profile(histories[r.name], when, "grad_norm")
                panels.setdefault(panel, {})[r.labels["activation"]] = profile
            name = f"grad_norm_{when}_{slug}.png"
            report.plot_panels(
                os.path.join(results_dir, name),
                panels,
                "layer (input -> output)",
                "gradient norm",
                log=True,
                title=f"{dataset}: gradient norm by layer {what} (mean over seeds)",
            )
            written.append(name)
        panels = {}
        for r in runs:
            key = "dead" if r.labels["activation"] == "relu" else "saturated"
            if r.labels["activation"] not in ("relu", "sigmoid", "tanh"):
                continue
            panel = f"{r.labels['network']}, BN {r.labels['batch norm']}"
            label = f"{r.labels['activation']} ({key}), {r.labels['init']}"
            panels.setdefault(panel, {})[label] = _mean_profile(histories[r.name], "epoch1", key)
        if not panels:  # e.g. a --runs subset of leaky ReLU, ELU, GELU and swish only
            continue
        name = f"dead_saturated_{slug}.png"
        report.plot_panels(
            os.path.join(results_dir, name),
            panels,
            "activation (input -> output)",
            "fraction of units",
            title=f"{dataset}: dead ReLUs and saturated sigmoid/tanh units after epoch 1",
            columns=2,
        )
        written.append(name)
    return written
