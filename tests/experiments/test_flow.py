"""The optical-flow runner in QUICK mode, as a user runs it: results, resume, errors."""

import json
import os


def test_quick_run_writes_results_and_a_rerun_skips_finished_trainings(tmp_path, quick_runner):
    out = quick_runner("flow", tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.load(open(tmp_path / "results.json"))
    assert results["zero_flow_epe"] > 0
    (record,) = results["records"]
    assert [h["step"] for h in record["history"]] == [10, 20]
    assert 0 < record["final"]["test_epe"] < 10
    table = open(tmp_path / "results.md").read()
    assert "| zero flow | 0 |" in table and "| FlowNetSimple |" in table
    for png in ("epe_by_step.png", "flow_examples.png"):
        assert os.path.getsize(tmp_path / png) > 0
    again = quick_runner("flow", tmp_path)
    assert again.returncode == 0 and "seed 0: finished before" in again.stdout
    assert json.load(open(tmp_path / "results.json"))["records"] == results["records"]


def test_bad_data_settings_are_clear_errors(tmp_path, quick_runner, tiny_data_root):
    out = quick_runner(
        "flow",
        tmp_path,
        "--config.dataset=mnist",
        f"--config.data_dir={tiny_data_root}",
        "--config.exact_counts=False",
    )
    assert (
        out.returncode != 0
        and "mnist: FlowNetSimple needs sides divisible by 8, got 28x28" in out.stderr
    )
    out = quick_runner("flow", tmp_path, "--config.test_pairs=100000")
    assert out.returncode != 0 and "test_pairs=100000: only" in out.stderr
