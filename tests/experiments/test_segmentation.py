"""The FCN segmentation runner in QUICK mode, as a user runs it: results, resume, errors."""

import json
import os

import numpy as np
import pytest


def test_quick_run_writes_results_and_a_rerun_skips_finished_trainings(tmp_path, quick_runner):
    out = quick_runner("segmentation", tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.load(open(tmp_path / "results.json"))
    assert [(r["model"], r["seed"]) for r in results["records"]] == [
        ("fcn_noskip", 0),
        ("fcn_noskip", 1),
        ("fcn", 0),
        ("fcn", 1),
    ]
    for record in results["records"]:
        final = record["final"]
        assert 0 <= final["mean_iou"] <= 1 and 0 <= final["pixel_accuracy"] <= 1
        assert len(final["iou"]) == 11 and np.isfinite(final["train_loss"])
    table = open(tmp_path / "results.md").read()
    assert "| `fcn` |" in table and "| `fcn_noskip` |" in table
    for png in ("mean_iou_by_epoch.png", "segmentation_examples.png"):
        assert os.path.getsize(tmp_path / png) > 0
    again = quick_runner("segmentation", tmp_path)
    assert again.returncode == 0 and again.stdout.count("finished before") == 4
    assert json.load(open(tmp_path / "results.json"))["records"] == results["records"]
    # A changed training field is a different training: nothing is reused.
    changed = quick_runner("segmentation", tmp_path, "--config.seeds=1", "--config.batch_size=16")
    assert changed.returncode == 0 and "finished before" not in changed.stdout


def test_too_few_canvases_and_a_classifier_are_clear_errors(tmp_path, quick_runner):
    out = quick_runner("segmentation", tmp_path, "--config.train_canvases=8")
    assert out.returncode != 0 and "train_canvases=8 is fewer than batch_size=32" in out.stderr
    out = quick_runner("segmentation", tmp_path, "--config.models=('lenet5',)")
    assert out.returncode != 0 and "'lenet5' is not a per-pixel model" in out.stderr


@pytest.mark.parametrize("variant", [None, "quick"])
def test_config_variants_divide_the_canvas(variant):
    from experiments.configs import segmentation as configs

    c = configs.get_config(variant)
    assert c.canvas_size % 2 ** len(c.model_args.widths) == 0
    assert c.train_canvases >= c.batch_size
