"""Every registered sweep runs in QUICK mode on tiny data, aggregates, and resumes."""

import dataclasses
import json
import os
import re

import pytest

from cnnjax import provenance
from experiments.sweeps import SWEEPS, aggregate, engine, figures, grid, page, verdicts

# Small enough for a test: every run of every sweep, one epoch, 2 seeds.
TINY = {
    "epochs": 1,
    "batch_size": 50,
    "eval_batch_size": 100,
    "dataset.val_size": 100,
    "dataset.train_size": 0,
    "dataset.train_per_class": 0,
    "dataset.exact_counts": False,  # the tiny data are not the canonical releases' sizes
    "dataset.subset_per_seed": False,  # the tiny data are used whole
}
# Sweeps on a class subset (half the tiny data) hold out and batch less.
TINY_FOR = {
    "transfer": {"dataset.val_size": 30, "batch_size": 20},
    "genomic": {"dataset.val_size": 0},  # its population is its own data (config.genomic)
    "gan": {"dataset.val_size": 0},  # it validates on samples (gan.val_samples)
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_quick_sweep_runs_aggregates_and_resumes(name, tmp_path, tiny_data_root):
    sweep = SWEEPS[name].get_sweep(quick=True)
    workdir, results_dir = str(tmp_path / "runs"), str(tmp_path / "results")
    log = []
    tiny = {**TINY, **TINY_FOR.get(name, {})}
    summaries = engine.run_sweep(sweep, workdir, tiny_data_root, tiny, log.append)
    assert len(summaries) == len(sweep.runs)
    assert sum(" training " in line for line in log) == len(sweep.runs)
    results = aggregate.aggregate(sweep, workdir, results_dir, summaries, "cmd", 1.0)
    for f in ["results.md", "results.json", f"{sweep.figures[0]}.png"] + [
        f"{m}.png" for m in sweep.curves
    ]:
        assert os.path.getsize(os.path.join(results_dir, f)) > 0, f
    saved = json.loads(open(os.path.join(results_dir, "results.json")).read())
    assert saved["rows"] == json.loads(json.dumps(results["rows"]))
    for row in saved["rows"]:  # a row of a group: its runs' seeds
        assert len(row[sweep.figures[0]]) == sweep.num_seeds * len(row.get("parts", [0]))
    # Where the runs trained is read from their summaries (here: all on this machine).
    assert saved["datasets"] == sorted({s["dataset"] for s in summaries.values()})
    assert sum(saved["trained_on"].values()) == sum("diverged" not in s for s in summaries.values())
    table = open(os.path.join(results_dir, "results.md")).read()
    tabled = [run for run in sweep.runs if run.in_table]  # not the runs others use
    assert all(f"| {run.group or run.name} |" in table for run in tabled)
    assert sweep.claim in table
    # One row per run or baseline, a group's members in one row, in their order.
    names = dict.fromkeys(r.group or r.name for r in (*tabled, *sweep.baselines))
    assert [row["run"] for row in saved["rows"]] == list(names)
    for baseline in sweep.baselines:  # computed, one value for every seed of a run
        name = baseline.group or baseline.name
        assert f"| {name} |" in table and page.BASELINE_NOTE in table
        row = next(r for r in saved["rows"] if r["run"] == name)
        per_run = len(row.get("parts", [0]))
        assert row["baseline"] and len(set(row[sweep.figures[0]])) <= per_run
    assert (verdicts.BEGIN in table) == bool(sweep.comparisons)
    assert len(saved["verdicts"]) == len(sweep.comparisons)
    # Every plot the page shows, the sweep's own included, was written.
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", table):
        assert os.path.getsize(os.path.join(results_dir, image)) > 0, image
    # A second invocation finds every run finished and trains nothing.
    log.clear()
    again = engine.run_sweep(sweep, workdir, tiny_data_root, tiny, log.append)
    assert all("already finished" in line for line in log) and again == summaries


def test_unknown_override_names_the_field():
    sweep = SWEEPS["lenet"].get_sweep(quick=True)
    with pytest.raises(KeyError, match="sweep override 'dataset.nope'"):
        engine.run_config(sweep, sweep.runs[0], None, {"dataset.nope": 1})


def test_a_reduced_budget_reaches_every_run_and_keeps_epochs_that_differ_by_design():
    full = SWEEPS["head"].get_sweep(quick=False)
    sweep, extra = grid.with_budget(full, epochs=4, train_size=500, num_seeds=2)
    assert sweep.num_seeds == 2 and sweep.runs == full.runs
    for run in sweep.runs:
        config = engine.run_config(sweep, run, None, extra)
        assert (config.epochs, config.dataset.train_size, config.num_seeds) == (4, 500, 2)
    assert grid.with_budget(full) == (full, {})
    with pytest.raises(ValueError, match="sets epochs differently in its runs"):
        grid.with_budget(SWEEPS["batch_size"].get_sweep(quick=False), epochs=4)
    with pytest.raises(ValueError, match="sets dataset.train_size differently"):
        grid.with_budget(SWEEPS["fitting"].get_sweep(quick=False), train_size=500)
    assert grid.with_budget(SWEEPS["fitting"].get_sweep(quick=False), epochs=5)[1] == {
        "epochs": 5
    }
    sweep, extra = grid.with_budget(SWEEPS["batch_size"].get_sweep(quick=False), train_size=9)
    assert extra == {"dataset.train_size": 9}


def test_a_run_filter_keeps_the_matching_runs_and_names_the_grid_when_none_match():
    full = SWEEPS["activations"].get_sweep(quick=False)
    mlp = grid.select_runs(full, "_mlp_")
    assert len(mlp.runs) == len(full.runs) // 2 and all("_mlp_" in r.name for r in mlp.runs)
    assert mlp.runs == tuple(r for r in full.runs if r.name in {m.name for m in mlp.runs})
    assert grid.select_runs(full, None) is full
    with pytest.raises(ValueError, match="matches none of the runs of sweep 'activations'"):
        grid.select_runs(full, "resnet")
    with pytest.raises(ValueError, match="not a regular expression"):
        grid.select_runs(full, "(")


def test_a_run_using_an_earlier_one_gets_its_folder_and_a_filter_keeps_both(tmp_path):
    full = SWEEPS["gan"].get_sweep(quick=False)
    chosen = grid.select_runs(full, "^cgan_mnist$")
    assert [r.name for r in chosen.runs] == ["classifier_mnist", "cgan_mnist"]
    judge, cgan = (engine.run_config(chosen, r, None, {}, str(tmp_path)) for r in chosen.runs)
    assert cgan.gan.classifier == str(tmp_path / "classifier_mnist")
    assert (judge.num_seeds, cgan.num_seeds) == (1, full.num_seeds)  # the judge: one seed
    assert judge.task == "classification" and cgan.gan.conditional


def test_a_half_finished_run_of_the_same_config_resumes_and_any_other_is_replaced(
    tmp_path, monkeypatch
):
    sweep = SWEEPS["lenet"].get_sweep(quick=True)
    run = sweep.runs[0]
    config = engine.run_config(sweep, run, None)
    folder = tmp_path / run.name
    calls = []

    def fake_run(config, workdir, progress, overwrite):
        calls.append(overwrite)
        return {"per_seed": []}

    monkeypatch.setattr(engine.loop, "run", fake_run)
    sweep = dataclasses.replace(sweep, runs=(run,))
    engine.run_sweep(sweep, str(tmp_path), log=lambda _: None)  # nothing there yet
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(config.to_json())  # interrupted: no summary.json
    engine.run_sweep(sweep, str(tmp_path), log=lambda _: None)
    config.epochs += 1  # the same folder, another config
    (folder / "config.json").write_text(config.to_json())
    engine.run_sweep(sweep, str(tmp_path), log=lambda _: None)
    assert calls == [True, False, True]


def test_epochs_to_target():
    histories = [
        [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.95}],
        [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.6}],
    ]
    assert figures.epochs_to(histories, 0.9) == [2, None]
    assert page.fmt_epochs([2, None]) == "2 ± 0 (1/2 seeds)"
    assert page.fmt_epochs([None, None]) == "not reached (0/2)"


def test_best_rows_pick_the_highest_mean_per_label():
    rows = [
        {"run": "a1", "opt": "a", "acc": [0.5, 0.7]},
        {"run": "a2", "opt": "a", "acc": [0.8, 0.8]},
        {"run": "b1", "opt": "b", "acc": [0.9, None]},  # a missing seed never wins
        {"run": "b2", "opt": "b", "acc": [0.1, 0.2]},
    ]
    assert [r["run"] for r in figures.best_rows(rows, "opt", "acc")] == ["a2", "b2"]


def test_final_gap_is_last_validation_minus_training_loss():
    history = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": 1.5},
        {"epoch": 2, "train_loss": 0.25, "val_loss": 1.0},
    ]
    assert figures.HISTORY_FIGURES["final_gap"](history) == 0.75
    assert figures.HISTORY_FIGURES["final_gap"]([{"train_loss": 0.2, "val_loss": None}]) is None


def test_a_diverged_run_is_a_result_and_is_not_retrained(tmp_path, monkeypatch):
    from cnnjax import report
    from cnnjax.train import errors, loop

    sweep = SWEEPS["lenet"].get_sweep(quick=True)
    calls = []

    def diverge(config, folder, **kwargs):
        calls.append(folder)
        os.makedirs(folder, exist_ok=True)
        report.write_json(os.path.join(folder, "config.json"), json.loads(config.to_json()))
        raise errors.NonFiniteLossError("the training loss became non-finite at step 3")

    monkeypatch.setattr(loop, "run", diverge)
    log = []
    summaries = engine.run_sweep(sweep, str(tmp_path), None, None, log.append)
    assert all(
        s == {"diverged": "the training loss became non-finite at step 3"}
        for s in summaries.values()
    )
    assert sum("diverged" in line for line in log) == len(sweep.runs)
    assert engine.run_sweep(sweep, str(tmp_path), None, None, log.append) == summaries
    assert len(calls) == len(sweep.runs)  # the second invocation trained nothing


def test_activation_plots_of_a_subset_without_relu_sigmoid_or_tanh(tmp_path):
    """A --runs subset may hold no unit that can die or saturate, or only diverged runs: the
    gradient plots are drawn for what trained, and the dead/saturated figure is left out."""
    from experiments.sweeps import activations

    sweep = grid.select_runs(
        SWEEPS["activations"].get_sweep(quick=False), "^(mnist_cnn_plain_gelu|cifar10_mlp_bn_elu)_"
    )
    summaries = {}
    for run in sweep.runs:
        if run.name.startswith("cifar10"):
            summaries[run.name] = {"diverged": "loss is nan"}
            continue
        summaries[run.name] = {"per_seed": [{"seed": 0}]}
        stats = {"grad_norm": [1e-3, 1e-2, 1e-1], "dead": [None] * 3, "saturated": [None] * 3}
        record = {"epoch": 1, "layer_stats_init": stats, "layer_stats": stats}
        (tmp_path / run.name / "seed_0").mkdir(parents=True)
        (tmp_path / run.name / "seed_0" / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    written = activations.plots(sweep, str(tmp_path), str(tmp_path), summaries)
    assert written == ["grad_norm_init_mnist.png", "grad_norm_epoch1_mnist.png"]
    assert all(os.path.getsize(tmp_path / name) > 0 for name in written)


def test_a_label_holding_a_pipe_stays_in_its_table_cell():
    rows = [
        {
            "run": "naive",
            "module": "1x1 | 3x3",
            "num_params": 10,
            "macs": 20,
            "acc": [0.5],
            "trained_on": "cpu x1, jax 0.10.2",
        }
    ]
    header, rule, line = page.table(rows, ["module"], ["acc"]).splitlines()
    assert line == r"| naive | 1x1 \| 3x3 | 10 | 20 | 0.5000 ± 0.0000 | cpu x1, jax 0.10.2 |"
    assert line.replace(r"\|", "").count("|") == header.count("|") == rule.count("|")


def test_batch_size_same_steps_runs_take_as_many_steps_as_batch_128():
    """steps = epochs * (55,000 // batch): the 'same steps' runs match batch 128's 10 epochs
    (batch 512: 40 epochs; batch 32: 3 epochs, as 2.5 is not a whole number)."""
    runs = {r.name: r.overrides for r in SWEEPS["batch_size"].get_sweep(quick=False).runs}
    steps = {name: o["epochs"] * (55_000 // o["batch_size"]) for name, o in runs.items()}
    base = steps["b128_fixed_lr"]
    assert runs["b512_scaled_lr_same_steps"]["epochs"] == 40
    assert abs(steps["b512_scaled_lr_same_steps"] - base) / base < 0.01
    assert base <= steps["b32_scaled_lr_same_steps"] <= 1.25 * base
    assert steps["b512_scaled_lr"] == steps["b512_fixed_lr"] < base / 3  # same epochs


def test_a_perfect_accuracy_keeps_the_four_decimals_of_its_column():
    assert page.fmt(1.0, 0.0) == "1.0000 ± 0.0000"
    assert page.fmt(0.5, 0.01) == "0.5000 ± 0.0100"
    assert page.fmt(12.5, 0.25) == "12.5 ± 0.25"


def test_runs_of_different_setups_are_refused_unless_the_sweep_declares_the_mix():
    sweep = SWEEPS["lenet"].get_sweep(quick=True)
    record = provenance.collect()
    gpu = {**record, "device_kind": "NVIDIA H200", "platform": "gpu"}
    summaries = {
        sweep.runs[0].name: {"provenance": record},
        sweep.runs[1].name: {"provenance": gpu},
        "a diverged run": {"diverged": "non-finite at step 3"},  # trained nowhere: not counted
    }
    with pytest.raises(ValueError, match=r"trained on 2 different setups \(cpu x1, jax "):
        aggregate.check_one_setup(sweep, summaries)
    declared = dataclasses.replace(sweep, mixed_setups="the GPU rows are a speed check")
    setups = aggregate.check_one_setup(declared, summaries)
    assert sorted(map(len, setups.values())) == [1, 1]
    same = {name: {"provenance": record} for name in (r.name for r in sweep.runs)}
    assert list(aggregate.check_one_setup(sweep, same).values()) == [[r.name for r in sweep.runs]]
    assert aggregate.trained_on({"provenance": gpu}).startswith("NVIDIA H200 x1, jax ")
    assert aggregate.trained_on({"device": "cpu", "jax_version": "0.4.1"}) == "cpu, jax 0.4.1"
