"""experiments/onednn/tables.py: the per-layer sums, and README.md's tables equal the
committed results.json's (rendered again here)."""

import json
from pathlib import Path

import pytest

from experiments.onednn import tables

FOLDER = Path(__file__).parents[2] / "experiments" / "onednn"


def row(layer, op, xla_cpu_ms, onednn_ms):
    return {"layer": layer, "op": op, "xla_cpu_ms": xla_cpu_ms, "onednn_ms": onednn_ms}


def test_layer_sums_weigh_multiplicity_skip_the_first_input_grad_and_take_the_faster():
    results = {"layers": [
        row("net stage 1 (x3)", "forward", 2.0, 1.0),
        row("net stage 1 (x3)", "input_grad", 2.0, 1.0),
        row("net stage 1 (x3)", "kernel_grad", 2.0, 1.0),
        row("net stem", "forward", 1.0, 4.0),
        row("net stem", "input_grad", 100.0, 100.0),  # never computed in training
        row("net stem", "kernel_grad", 1.0, 4.0),
    ]}  # fmt: skip
    assert tables.layer_sums(results) == {"net": {"xla_cpu": 20.0, "onednn": 17.0, "best": 11.0}}


@pytest.mark.parametrize("name", ["results.json", "results_airbench_net.json"])
def test_readme_shows_the_committed_results(name):
    results = json.loads((FOLDER / name).read_text())
    readme = (FOLDER / "README.md").read_text()
    assert results["command"] in readme
    for table in (tables.layer_table, tables.layer_sum_table, tables.step_table):
        assert table(results) in readme, table.__name__
