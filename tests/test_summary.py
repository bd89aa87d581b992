"""The model summary: per-layer parameters and MACs by formula, checked against XLA's count."""

import os
import subprocess
import sys

import jax
import pytest

from cnnjax import models, summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_lenet5_rows_follow_the_formulas():
    rows, variables = summary.summarize(models.create("lenet5", 10), (28, 28, 1))
    by_path = {r.path: r for r in rows}
    # H_out * W_out * k * k * C_in * C_out
    assert by_path["conv1"].macs == 28 * 28 * 5 * 5 * 1 * 6
    assert by_path["conv2"].macs == 10 * 10 * 5 * 5 * 6 * 16
    assert by_path["conv2"].output_shape == (10, 10, 16)
    assert by_path["dense1"].macs == 400 * 120
    assert sum(r.params for r in rows) == 61_706
    assert sum(x.size for x in jax.tree.leaves(variables["params"])) == 61_706


@pytest.mark.parametrize(
    "name,args,shape",
    [
        ("lenet5", {}, (28, 28, 1)),
        ("small_cnn", dict(widths=(8, 16), convs_per_stage=1, hidden=16), (64, 64, 3)),
        ("mlp", {}, (8, 8, 1)),
    ],
)
def test_macs_agree_with_xla_cost_analysis(name, args, shape):
    model = models.create(name, 10, **args)
    rows, variables = summary.summarize(model, shape)
    macs = sum(r.macs for r in rows)
    # XLA adds biases, normalisation and activations but skips the taps that fall on 'SAME'
    # padding, which the formula counts: within a few percent on images this size.
    assert summary.xla_flops(model, variables, shape) / (2 * macs) == pytest.approx(1.0, abs=0.05)
    assert sum(r.params for r in rows) == sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_batch_norm_rows_count_scale_and_bias_only():
    model = models.create("small_cnn", 10, widths=(4,), convs_per_stage=1, hidden=8)
    rows, _ = summary.summarize(model, (8, 8, 3))
    assert [(r.kind, r.params, r.macs) for r in rows if r.kind == "BatchNorm"] == [
        ("BatchNorm", 8, 0)
    ]


def test_cli_prints_the_table():
    result = subprocess.run(
        [sys.executable, "-m", "experiments.summary", "--model=lenet5", "--input_shape=28,28,1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "61,706" in result.stdout and "XLA forward flops" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.summary", "--model=resnet9000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "valid model names" in bad.stderr
