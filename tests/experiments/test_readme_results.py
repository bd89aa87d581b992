"""The README's results table is the one its committed runs give."""

import json
import os

import pytest

from experiments import readme_results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _section(text, begin, end):
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end


def test_the_readme_tables_equal_the_committed_files():
    readme = open(os.path.join(ROOT, "README.md")).read()
    folder = os.path.join(ROOT, readme_results.FOLDER)
    expected = readme_results.table(folder)
    found = _section(readme, readme_results.BEGIN, readme_results.END)
    assert found == expected, "run: make readme-results"
    benchmarks = readme_results.benchmarks(os.path.join(ROOT, readme_results.BENCH_FOLDER))
    found = _section(readme, readme_results.BENCH_BEGIN, readme_results.BENCH_END)
    assert found == benchmarks, "run: make readme-results"
    for name in os.listdir(folder) if os.path.isdir(folder) else []:  # each has a row
        summary = json.load(open(os.path.join(folder, name, "summary.json")))
        assert summary["provenance"]["git_commit"], name
        assert f"`{readme_results.MAIN_RUNS[name][1]}`" in expected


def _run(tmp_path, **summary):
    workdir = tmp_path / "w"
    workdir.mkdir()
    base = {
        "model": "small_cnn",
        "num_params": 99370,
        "train_seconds": 9.8,
        "test_accuracy": 0.99444,
        "provenance": {
            "device_kind": "cpu",
            "device_count": 1,
            "versions": {"jax": "0.10.2"},
            "git_commit": "20cb93da00",
            "git_dirty": False,
        },
    }
    (workdir / "summary.json").write_text(json.dumps({**base, **summary}))
    (workdir / "config.json").write_text(json.dumps({"epochs": 30}))
    return str(workdir)


def test_an_added_run_becomes_a_row_with_its_figures_and_provenance(tmp_path):
    folder, readme = str(tmp_path / "main_runs"), tmp_path / "README.md"
    readme_results.add("digits", _run(tmp_path), folder)
    markers = (
        f"{readme_results.BEGIN}\nold\n{readme_results.END}\n\n"
        f"{readme_results.BENCH_BEGIN}\n{readme_results.BENCH_END}\n"
    )
    readme.write_text(f"# x\n\n{markers}\nafter\n")
    readme_results.rewrite(str(readme), folder, str(tmp_path / "no benchmarks"))
    text = readme.read_text()
    assert "old" not in text and text.endswith("\n\nafter\n")
    assert (
        "| digits (main job) | `small_cnn` (99,370) | 30 | **99.44%** | 10 s "
        "| cpu x1, jax 0.10.2, 20cb93d | `make train` |"
    ) in text


def test_several_seeds_show_their_spread():
    summary = {"test_accuracy": 0.855, "test_accuracy_std": 0.0011, "per_seed": [{}, {}, {}]}
    assert readme_results._percent(summary, "test_accuracy") == "85.50 ± 0.11% (3 seeds)"


def test_bad_additions_are_named(tmp_path):
    with pytest.raises(ValueError, match="expected one of digits"):
        readme_results.add("imagenet", str(tmp_path))
    with pytest.raises(ValueError, match="has no summary.json, config.json"):
        readme_results.add("mnist", str(tmp_path))
    (tmp_path / "R.md").write_text("no markers")
    with pytest.raises(ValueError, match="has no <!-- main results"):
        readme_results.rewrite(str(tmp_path / "R.md"), str(tmp_path))


BENCHMARK = {
    "command": "python -m experiments.benchmark --time_to_accuracy",
    "provenance": {"git_commit": "c3dd5b6aa", "git_dirty": False},
    "machine": {"device_kind": "cpu", "cpu": "AMD EPYC", "cores": 2, "jax": "0.10.2",
                "torch": "2.13.0+cpu", "torch_threads": 2},
    "batch_size": 128,
    "dtype": "float32",
    "matmul_peak_gflops": 202.8,
    "rows": [{
        "model": "lenet5", "input": "28x28x1", "conv_impl": "auto",
        "resolved_conv_impl": "xla_cpu",
        "cnnjax": {"images_per_second": 14039.2, "compile_seconds": 0.842},
        "mfu": 0.195, "torch_eager": {"images_per_second": 22239.0},
        "ratio_torch_eager": 0.631,
    }],
    "compile_cache": {"lenet5": {"cold": 0.69, "warm": 0.14}},
    "time_to_accuracy": {
        "target": 0.99,
        "cnnjax": {"median_seconds": 32.5, "median_epochs": 6,
                   "runs": [{"seconds": 32.5, "epochs": 6}, {"seconds": None, "epochs": 10}]},
    },
}


def test_a_benchmark_file_becomes_its_tables():
    text = readme_results.benchmark(BENCHMARK, "cpu.json")
    assert "on cpu (AMD EPYC, 2 cores), jax 0.10.2, torch 2.13.0+cpu (2 threads)" in text
    assert "commit c3dd5b6 (`cpu.json`)" in text
    row = "| lenet5 28x28x1 | xla_cpu (auto) | 14,039 | 0.84 | 19.5% | 22,239 | - | 0.63 | - |"
    assert row in text
    assert "lenet5 0.69 / 0.14 s" in text
    assert "| cnnjax | 32.5 s (6 epochs) | 32.5 s (6), not reached |" in text
