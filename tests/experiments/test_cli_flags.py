"""experiments/cli.py: overrides of config fields that do not exist, as one-line errors."""

import os
import subprocess
import sys

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from experiments import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = ml_collections.ConfigDict(
    {"epochs": 3, "model": {"name": "mlp", "mlp": {"width": 8, "depth": 2}}, "init": None}
)
CONFIG_FILE = '''
import ml_collections


def get_config(arg=""):
    c = ml_collections.ConfigDict({"epochs": 3, "model": {"width": 8}})
    if arg == "deep":
        c.model.depth = 2
    return c
'''


@pytest.mark.parametrize(
    "path,problem",
    [
        ("epochs", None),
        ("model.mlp.width", None),
        ("model", None),
        ("init.scale", None),  # under a None placeholder: ml_collections decides
        ("nope", "the config has no field 'nope'; its fields: epochs, init, model"),
        ("model.mlp.nope", "model.mlp has no field 'nope'; its fields: depth, width"),
        ("model.nope.x", "model has no field 'nope'; its fields: mlp, name"),
        ("epochs.x", "epochs has no field 'x'; it holds a value of type int"),
    ],
)
def test_missing_field_names_the_level_and_its_fields(path, problem):
    assert cli.missing_field(CONFIG, path) == problem


@pytest.fixture
def cfg_flag(tmp_path):
    """A config-file flag named --cfg (not --config), in its own FlagValues, and its file."""
    path = tmp_path / "config.py"
    path.write_text(CONFIG_FILE)
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("cfg", str(path), flag_values=values, sys_argv=["prog"])
    return values["cfg"], str(path)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--cfg.epochs=1", "--cfg.model.width=4"], None),
        (["--cfg.nope=1"], "error: --cfg.nope=1: the config has no field 'nope'; its fields: "),
        (["--cfg.nope", "1"], "error: --cfg.nope 1: the config has no field 'nope'; "),
        (["--nocfg.nope"], "error: --nocfg.nope: the config has no field 'nope'; "),
        (["--cfg.epochs=1", "--cfg.model.depth=2"], "model has no field 'depth'; its fields: "),
        (["--cfg={path}:deep", "--cfg.model.depth=2"], None),
        (["--cfg", "{path}:deep", "--cfg.model.depth=2"], None),
        (["--cfg={path}", "--cfg.model.depth=2"], "model has no field 'depth'; its fields: width"),
    ],
)
def test_bad_override_finds_the_flag_at_fault(cfg_flag, argv, message):
    flag, path = cfg_flag
    found = cli.bad_override(["prog", *(a.format(path=path) for a in argv)], [flag])
    assert found is None if message is None else message in found


@pytest.mark.parametrize(
    "given,field",
    [([], "dataset"), (["--config=experiments/configs/gan.py"], "gan")],
)
def test_the_train_runner_gives_the_same_one_line_error(given, field):
    """The train runner, with its default config (a failure as the flag is defined) or a
    named one of another task (a failure as absl parses the flags)."""
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", *given, f"--config.{field}.nope=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --config.{field}.nope=1: {field} has no field 'nope'; ")


def test_a_wrong_typed_value_keeps_absls_message():
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", "--config.batch_size=abc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "FATAL Flags parsing error: flag --config.batch_size=abc" in result.stderr
    assert "Traceback" not in result.stderr


def test_field_comments_reads_trailing_comments_of_assignments():
    source = '''
def get_config():
    c = base()
    # a comment line of its own is no field's meaning
    c.a.b = 1  # the meaning of a.b
    c.a.b = 2  # a later comment on a.b
    c.d = f(
        3,  # a comment inside the value
    )
    c.update(dict(e=4))  # not an assignment
    c.g = 5
    return c
'''
    assert cli.field_comments(source) == {"a.b": "the meaning of a.b"}


def _print_config(*argv):
    """The stdout lines of `python -m experiments.train *argv --print_config` (no --workdir,
    which that runner requires otherwise)."""
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", *argv, "--print_config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_print_config_gives_each_field_its_value_type_and_meaning():
    from experiments.configs import digits  # the runner's default config

    lines = _print_config()
    rate = digits.get_config().optimizer.learning_rate
    assert f"optimizer.learning_rate = {rate!r}  (float)  # peak learning rate" in lines
    assert "optimizer.eps = 1e-08  (float)  # adam/adamw/rmsprop/adagrad: added to the denominator" in lines  # noqa: E501
    base = [line for line in lines if " = " in line and not line.startswith("model_args.")]
    unexplained = [line for line in base if "  # " not in line]
    assert base and not unexplained  # every base field states its meaning
    assert "model_args.lenet5.conv_impl = 'auto'  (str)" in lines  # nested models' fields too
    assert "dataset.name = 'digits'  (str)  # 1,437 train / 360 test images, 8x8x1" in lines


def test_print_config_shows_the_overrides():
    lines = _print_config("--config=experiments/configs/mnist.py", "--config.epochs=3")
    assert "epochs = 3  (int)  # passes over the training split" in lines
    mnist = "dataset.name = 'mnist'  (str)  # 60,000 train (5,000 held out for validation) / "
    assert mnist + "10,000 test" in lines  # the meaning from the config file
