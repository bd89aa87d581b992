"""The DC-GAN runner in QUICK mode, as a user runs it: results, resume, errors."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_quick(tmp_path, *flags):
    """`python -m experiments.gan` with the quick config, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.gan",
            "--config=experiments/configs/gan.py:quick",
            f"--config.results_dir={tmp_path}",
            f"--config.workdir={tmp_path / 'runs'}",
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )


def test_quick_run_writes_results_and_a_rerun_skips_finished_trainings(tmp_path):
    out = run_quick(tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.load(open(tmp_path / "results.json"))
    assert [(r["variant"], r["seed"]) for r in results["rows"]] == [
        ("unconditional", 0),
        ("conditional", 0),
    ]
    judge = results["judges"]["digits"]
    assert judge["test_accuracy"] > 0.5 and 1 <= judge["inception_score"] <= 10
    for row in results["rows"]:
        final = row["final"]
        assert 1 <= final["inception_score"] <= 10 and 0 < final["coverage"] <= 1
        assert final["d_loss"] > 0 and final["g_loss"] > 0
    assert "class_accuracy" in results["rows"][1]["final"]
    table = open(tmp_path / "results.md").read()
    assert "| digits | conditional GAN |" in table and "real test images" in table
    for png in ("inception_score_by_epoch.png", "samples_digits_conditional.png"):
        assert os.path.getsize(tmp_path / png) > 0
    again = run_quick(tmp_path)
    assert again.returncode == 0 and again.stdout.count("finished before") == 2
    assert json.load(open(tmp_path / "results.json"))["rows"] == results["rows"]


def test_unknown_variant_is_a_clear_error(tmp_path):
    out = run_quick(tmp_path, "--config.variants=('wasserstein',)")
    assert out.returncode != 0 and "unknown 'wasserstein'" in out.stderr
