"""The optical-flow runner in QUICK mode, as a user runs it: results, resume, errors."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_quick(tmp_path, *flags):
    """`python -m experiments.flow` with the quick config, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.flow",
            "--config=experiments/configs/flow.py:quick",
            f"--config.results_dir={tmp_path}",
            f"--config.workdir={tmp_path / 'runs'}",
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quick_run_writes_results_and_a_rerun_skips_finished_trainings(tmp_path):
    out = run_quick(tmp_path)
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
    again = run_quick(tmp_path)
    assert again.returncode == 0 and "seed 0: finished before" in again.stdout
    assert json.load(open(tmp_path / "results.json"))["records"] == results["records"]


def test_sides_not_divisible_by_8_are_a_clear_error(tmp_path):
    out = run_quick(tmp_path, "--config.dataset=mnist", "--config.data_dir=/nonexistent")
    assert out.returncode != 0 and "error:" in out.stderr
    out = run_quick(tmp_path, "--config.test_pairs=100000")
    assert out.returncode != 0 and "test_pairs=100000: only" in out.stderr
