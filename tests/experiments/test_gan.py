"""The DC-GAN runner in QUICK mode, as a user runs it: results, resume, errors."""

import json
import os


def test_quick_run_writes_results_and_a_rerun_skips_finished_trainings(tmp_path, quick_runner):
    out = quick_runner("gan", tmp_path)
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
    again = quick_runner("gan", tmp_path)
    assert again.returncode == 0 and again.stdout.count("finished before") == 2
    assert json.load(open(tmp_path / "results.json"))["rows"] == results["rows"]


def test_unknown_variant_is_a_clear_error(tmp_path, quick_runner):
    out = quick_runner("gan", tmp_path, "--config.variants=('wasserstein',)")
    assert out.returncode != 0 and "unknown 'wasserstein'" in out.stderr
