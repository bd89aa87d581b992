"""experiments.speedrun_runs: seeds run through the loop and read back, airbench94's printed time
parsed from its own table, and results computed from the per-seed figures."""

import json
import pathlib
import types

import pytest

from experiments import speedrun_runs as speedrun


def _tiny(make_config):
    """The speedrun's recipe on digits (airbench_net of two groups fits 8x8 images)."""
    return make_config(
        model="airbench_net",
        model_args__airbench_net__widths=(8, 16),
        model_args__airbench_net__whiten_images=100,
        epochs=1,
        dataset__val_size=0,
        eval_flip_average=True,
        eval_translate_average=True,
        lookahead__every=5,
    )


def test_seeds_train_once_and_are_read_back(tmp_path, make_config, monkeypatch):
    config = _tiny(make_config)
    first = speedrun.cnnjax_seed(config, str(tmp_path), seed=3)
    assert (tmp_path / "seed_3" / "summary.json").exists()
    assert first["seconds"] == pytest.approx(first["train_seconds"] + first["test_seconds"])
    summary = json.loads((tmp_path / "seed_3" / "summary.json").read_text())
    assert first["accuracy"] == summary["test_accuracy_flip"] and summary["seed"] == 3
    monkeypatch.setattr(speedrun.loop, "run", lambda *a, **k: pytest.fail("trained again"))
    assert speedrun.cnnjax_seed(config, str(tmp_path), seed=3) == first


def _columns(*cells):  # airbench94.py's print_columns
    return "".join(f"|  {c}  " for c in cells) + "|"


# What airbench94.py prints for a run: its logging_columns_list, then a row per epoch and one
# for the final evaluation ('eval'), each cell right-justified to its column's name.
AIRBENCH_TABLE = "\n".join(
    [
        _columns(
            "run   ",
            "epoch",
            "train_loss",
            "train_acc",
            "val_acc",
            "tta_val_acc",
            "total_time_seconds",
        ),
        _columns(
            "     0",
            "    0",
            "    1.1427",
            "   0.6455",
            " 0.6270",
            "           ",
            "            0.5130",
        ),
        _columns(
            "      ",
            " eval",
            "    0.5959",
            "   0.9141",
            " 0.9361",
            "     0.9405",
            "            3.8281",
        ),
        "",
    ]
)


def test_airbench_s_own_time_is_read_from_its_table(tmp_path, capsys):
    def main(run):
        print(AIRBENCH_TABLE, end="")
        return 0.9405

    torch = pytest.importorskip("torch")  # airbench_seed seeds torch
    record = speedrun.airbench_record(str(tmp_path / "runs"), "cpu", seed=0)
    row = speedrun.airbench_seed(types.SimpleNamespace(main=main), str(tmp_path), 0, record)
    assert row == {"seed": 0, "accuracy": 0.9405, "seconds": 3.8281, "torch": torch.__version__}
    assert "tta_val_acc" in capsys.readouterr().out  # its table is passed on
    assert record == str(tmp_path / "runs" / "airbench94_cpu" / "seed_0.json")
    ran_again = types.SimpleNamespace(main=lambda run: pytest.fail("ran again"))
    assert speedrun.airbench_seed(ran_again, str(tmp_path), 0, record) == row  # read back


def test_results_are_computed_from_the_seeds(tmp_path):
    rows = {
        "cnnjax": [
            {"seed": s, "accuracy": a, "seconds": t}
            for s, (a, t) in enumerate([(0.941, 3.0), (0.943, 3.2), (0.940, 3.1)])
        ],
        "airbench94": [
            {"seed": s, "accuracy": a, "seconds": t}
            for s, (a, t) in enumerate([(0.940, 3.8), (0.941, 3.9), (0.939, 3.85)])
        ],
    }
    results = {"command": "x", "target": 0.94, "machine": {}, "rows": rows}
    speedrun.write_results(str(tmp_path), results)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"]["cnnjax"]["accuracy_mean"] == pytest.approx(0.9413333)
    assert saved["verdicts"]["target_reached"] is True
    faster = saved["verdicts"]["comparisons"][1]
    assert faster["difference"] == pytest.approx(3.1 - 3.85) and faster["verdict"] == "yes"
    page = (tmp_path / "results.md").read_text()
    assert "| cnnjax | 3 | 0.9413 ± 0.0015 |" in page and "**reached**" in page
    rows["cnnjax"][0]["accuracy"] = 0.90
    speedrun.write_results(str(tmp_path), {**results, "rows": rows})
    assert "**not reached**" in (tmp_path / "results.md").read_text()


COMMITTED = sorted(
    p.parent for p in pathlib.Path(speedrun.__file__).parent.glob("results/speedrun*/results.json")
)


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_a_committed_speedrun_page_is_computed_from_its_results_json(folder, tmp_path):
    results = json.loads((folder / "results.json").read_text())
    speedrun.write_results(str(tmp_path), results)
    assert (tmp_path / "results.md").read_text() == (folder / "results.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text()) == results


AIRBENCH94 = (
    pathlib.Path(__file__).parents[3] / "shared" / "reference" / "airbench" / "airbench94.py"
)


@pytest.mark.skipif(not AIRBENCH94.exists(), reason="no ../shared/reference/airbench beside")
def test_airbench_s_cpu_port_swaps_only_its_cuda_and_float16_lines():
    source = AIRBENCH94.read_text()
    ported = speedrun.cpu_port(source)
    compile(ported, "airbench94.py", "exec")
    # line for line the same but where a swapped text occurs: the recipe untouched
    before, after = source.splitlines(), ported.splitlines()[: len(source.splitlines())]
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(changed) == 10  # 2 imports, 3 lines, 2 events, 3 synchronize calls
    assert all(any(old.strip() in before[i] for old, _ in speedrun.CPU_PORT) for i in changed)
    for word in ("cuda", "half()", "import torchvision"):
        assert not [line for line in after if word in line and not line.lstrip().startswith("#")]
    with pytest.raises(ValueError, match="not the airbench94.py ported here"):
        speedrun.cpu_port(source.replace("net = net.half().cuda()", "net = net.cuda()"))


def test_the_cpu_port_s_timer_reads_milliseconds_like_a_cuda_event():
    added = {}
    exec(speedrun.CPU_ADDITIONS, added)
    start, end = added["_WallClockEvent"](), added["_WallClockEvent"]()
    start.record()
    end.record()
    assert 0 <= start.elapsed_time(end) < 1e3
    end.seconds = start.seconds + 0.25
    assert start.elapsed_time(end) == pytest.approx(250.0)


def test_the_cpu_port_s_normalize_is_torchvision_s_formula():
    torch = pytest.importorskip("torch")
    added = {"torch": torch}
    exec(speedrun.CPU_ADDITIONS, added)
    x = torch.rand(4, 3, 5, 5)
    mean, std = torch.tensor((0.4914, 0.4822, 0.4465)), torch.tensor((0.2470, 0.2435, 0.2616))
    got = added["T"].Normalize(mean, std)(x)
    want = (x - mean[None, :, None, None]) / std[None, :, None, None]
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize(
    "flag, error",
    [
        ("--airbench={tmp}/nope.py", "--airbench: no such file"),
        ("--airbench_seeds=4", "--airbench_seeds: between 1 and --seeds"),
    ],
)
def test_bad_flags_are_refused_before_any_training(tmp_path, flag, error):
    import subprocess
    import sys

    root = pathlib.Path(speedrun.__file__).parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.speedrun", flag.format(tmp=tmp_path), "--seeds=3",
         f"--out={tmp_path}/out", f"--workdir={tmp_path}/runs"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and error in proc.stderr
    assert not (tmp_path / "runs").exists()
