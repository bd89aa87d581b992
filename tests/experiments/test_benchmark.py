"""The benchmark: its table and JSON, and PyTorch twins of the same size as ours."""

import json
import os
import statistics
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import optim
from cnnjax.data import Split
from cnnjax.train import num_params, steps
from experiments import bench_jax, bench_timing, benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_quick_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--quick", "--models=lenet5",
         "--torch=off", "--conv_impls=xla,im2col", "--compile_cache", f"--out={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lenet5 28x28x1" in proc.stdout and "warm cache" in proc.stdout
    results = json.loads(out.read_text())
    assert results["matmul_peak_gflops"] > 0 and results["machine"]["device_kind"] == "cpu"
    rows = results["rows"]
    assert [r["resolved_conv_impl"] for r in rows] == ["xla", "im2col"]
    for r in rows:
        assert r["cnnjax"]["images_per_second"] > 0 and r["cnnjax"]["num_params"] == 61706
        assert 0 < r["mfu"] < 1
        # LeNet-5 on 28x28: about 0.42 M multiply-accumulates per image forward, so forward +
        # backward + update of 128 images is about 3 x 2 x 0.42e6 x 128 = 0.32 GFLOP.
        assert 0.2e9 < r["cnnjax"]["flops_per_step"] < 0.5e9
    cache = results["compile_cache"]["lenet5"]
    assert cache["warm"] < cache["cold"]


@pytest.mark.parametrize(
    "choice, backend, cuda, device",
    [("auto", "gpu", True, "cuda"), ("auto", "cpu", True, "cpu"), ("auto", "gpu", False, "cpu"),
     ("cpu", "gpu", True, "cpu"), ("cuda", "cpu", True, "cuda")],
)  # fmt: skip
def test_pytorch_follows_jax_onto_its_device(choice, backend, cuda, device):
    assert benchmark.resolve_torch_device(choice, backend, cuda) == device


def test_pytorch_twins_have_our_parameter_counts():
    torch = pytest.importorskip("torch")
    from experiments import bench_torch

    for name, shape, count in (("lenet5", (28, 28, 1), 61706), ("resnet20", (32, 32, 3), 269722)):
        model = bench_torch.create(name, shape)
        assert bench_torch.num_params(model) == count
        ours = bench_jax.create_model(name, "xla")
        init = lambda: ours.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape)), train=False)
        assert num_params(jax.eval_shape(init)["params"]) == count
        x = torch.zeros((2, shape[2], shape[0], shape[1]))
        assert tuple(model(x).shape) == (2, 10)


def test_synthetic_data_is_deterministic_uint8():
    a, la = bench_jax.synthetic_data((4, 4, 3), 2, 8, seed=1)
    b, lb = bench_jax.synthetic_data((4, 4, 3), 2, 8, seed=1)
    assert a.dtype == np.uint8 and a.shape == (16, 4, 4, 3) and lb.dtype == np.int32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)


def test_time_to_accuracy_median_counts_a_miss_as_slowest():
    runs = [{"seconds": 30.0, "epochs": 5}, {"seconds": None, "epochs": None}]
    runs.append({"seconds": 20.0, "epochs": 4})
    assert benchmark.median_of_runs(runs)["median_seconds"] == 30.0
    assert benchmark.median_of_runs(runs[:2] + [runs[1]])["median_epochs"] is None


def test_pytorch_lenet_starts_from_our_initial_distribution():
    """Weights of variance 1 / fan_in (truncated normal), zero biases, like Flax's default."""
    torch = pytest.importorskip("torch")
    from experiments import bench_torch

    torch.manual_seed(0)
    model = bench_torch.create("lenet5", (28, 28, 1))
    fc1 = model.fc1.weight.detach().numpy()  # fan_in 400
    np.testing.assert_allclose(fc1.var(), 1 / 400, rtol=0.05)
    assert np.abs(fc1).max() <= 2 / 20 / bench_torch.TRUNCATED_NORMAL_STD + 1e-6
    assert all(float(m.bias.abs().max()) == 0 for m in (model.conv1, model.fc1, model.head))


@pytest.mark.parametrize("recipe", bench_jax.RECIPES)
@pytest.mark.parametrize("framework", ["cnnjax", "torch"])
def test_time_to_accuracy_stops_at_the_target_or_gives_up(framework, recipe):
    if framework == "torch":
        pytest.importorskip("torch")
        from experiments import bench_torch

        run = bench_torch.time_to_accuracy
    else:
        run = bench_jax.time_to_accuracy
    images, labels = bench_jax.synthetic_data((28, 28, 1), 2, 16, seed=2)
    train, test = Split(images[:24], labels[:24]), Split(images[24:], labels[24:])
    reached = run("lenet5", train, test, 0.0, 3, 8, 0.01, seed=1, recipe=recipe)
    assert reached["epochs"] == 1 and reached["seconds"] > 0 and len(reached["accuracies"]) == 1
    missed = run("lenet5", train, test, 1.01, 2, 8, 0.01, seed=1, recipe=recipe)
    assert missed["seconds"] is None and missed["epochs"] is None
    assert len(missed["accuracies"]) == 2


def test_speedrun_tools_are_the_speedrun_config_s():
    tools = bench_jax.speedrun_tools()
    assert tools["momentum"] == 0.85 and tools["label_smoothing"] == 0.2
    assert tools["lookahead_every"] == 5 and tools["weight_decay"] == pytest.approx(0.0153 / 11.5)
    with pytest.raises(ValueError, match="unknown recipe 'adam'; valid: sgd_cosine, speedrun"):
        bench_jax.time_to_accuracy("lenet5", None, None, 0.9, 1, 8, 0.1, recipe="adam")


def test_pytorch_speedrun_schedule_is_cnnjax_s_triangular():
    pytest.importorskip("torch")
    from experiments import bench_torch

    tools = bench_jax.speedrun_tools()
    config = bench_jax._model_config(8)
    config.epochs, config.optimizer.learning_rate = 3, 0.2
    config.schedule.name = "triangular"
    for field in ("div_factor", "pct_start", "final_lr_fraction"):
        config.schedule[field] = tools[field]
    ours = optim.make_schedule(config, 10)  # 30 updates
    theirs = bench_torch.triangular(30, tools["div_factor"], tools["pct_start"], 0.07)
    for t in range(33):
        assert 0.2 * theirs(t) == pytest.approx(float(ours(t)), rel=1e-6), t


def test_pytorch_speedrun_optimizer_and_lookahead_step_as_cnnjax_s():
    """Nesterov with weight decay and lookahead, both sides from the same weights and the same
    gradients: the same weights after every step."""
    torch = pytest.importorskip("torch")
    from experiments import bench_torch

    tools, total, lr = bench_jax.speedrun_tools(), 12, 0.3
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = rng.normal(size=(total, 3, 4)).astype(np.float32)

    config = bench_jax._model_config(8)
    config.epochs, config.optimizer.learning_rate = 1, lr
    config.optimizer.name, config.optimizer.momentum = "nesterov", tools["momentum"]
    config.optimizer.sgd_weight_decay = tools["weight_decay"]
    tx = optim.make_optimizer(config, total)  # constant schedule: the schedule is tested above
    lookahead = steps.Lookahead(
        tools["lookahead_every"], tools["lookahead_decay"], tools["lookahead_power"], total
    )
    params, opt_state = {"w": jnp.asarray(w0)}, None
    opt_state, slow = tx.init(params), params

    module = torch.nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w0))
    opt = torch.optim.SGD(
        module.parameters(), lr=lr, momentum=tools["momentum"], nesterov=True,
        weight_decay=tools["weight_decay"],
    )  # fmt: skip
    theirs_lookahead = bench_torch.Lookahead(
        module, tools["lookahead_every"], tools["lookahead_decay"], tools["lookahead_power"], total
    )
    for t in range(1, total + 1):
        updates, opt_state = tx.update({"w": jnp.asarray(grads[t - 1])}, opt_state, params)
        params = optax.apply_updates(params, updates)
        slow, params = lookahead(slow, params, jnp.int32(t))
        module.weight.grad = torch.from_numpy(grads[t - 1].copy())
        opt.step()
        theirs_lookahead.after(t)
        np.testing.assert_allclose(module.weight.detach().numpy(), params["w"], rtol=2e-5)


def test_contenders_take_turns_rotating_who_goes_first():
    calls = []
    runs = {key: (lambda n, key=key: calls.append((key, n))) for key in "abc"}
    rates = bench_timing.interleaved_rates(runs, windows=4, steps_per_window=5, images_per_step=8)
    assert [len(r) for r in rates.values()] == [4, 4, 4] and all(x > 0 for x in rates["a"])
    # Each turn: one untimed re-warm step, then the timed window of 5 steps.
    assert calls[:2] == [("a", 1), ("a", 5)]
    timed = [key for key, n in calls if n == 5]
    assert timed == list("abcbcacababc")


def test_a_speed_switch_within_a_round_does_not_move_the_paired_ratio():
    # Ours runs at half the reference's speed. The machine is slow in round 1 and fast in
    # round 3, and switched in the middle of round 2 (ours timed fast, the reference slow).
    ours, reference = [10.0, 16.0, 16.0], [20.0, 20.0, 32.0]
    assert statistics.median(ours) / statistics.median(reference) == 0.8
    assert bench_timing.paired_ratio(ours, reference) == 0.5
    with pytest.raises(ValueError, match="same non-zero number of rounds"):
        bench_timing.paired_ratio([1.0], [1.0, 2.0])


def test_every_flag_the_runner_reads_is_defined():
    import re

    from absl import flags

    source = open(benchmark.__file__).read()
    used = set(re.findall(r"FLAGS\.([a-z_]+)", source))
    assert used and used <= set(flags.FLAGS), sorted(used - set(flags.FLAGS))


def test_an_unknown_recipe_is_refused_before_any_timing():
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--tta_recipes=sgd_cosine,adam",
         "--torch=off", "--out=/dev/null"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "--tta_recipes: each must be one of sgd_cosine, speedrun" in proc.stderr
    assert "matmul peak" not in proc.stdout
