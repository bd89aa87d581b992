"""Every config file under experiments/configs builds a valid config for a registered model."""

import importlib
import pathlib

import pytest

from cnnjax import config as config_lib
from cnnjax import models

# Configs of runners other than experiments/train.py, tested with their runner.
# experiments/<name>.py, tested in tests/experiments/test_<name>.py
OWN_RUNNER = {"gan"}
CONFIGS = sorted(
    p.stem
    for p in (pathlib.Path(__file__).parents[2] / "experiments" / "configs").glob("*.py")
    if p.stem != "__init__" and p.stem not in OWN_RUNNER
)


def test_the_configs_are_found():
    assert {"digits", "mnist", "cifar10", "cifar10_resnet20"} <= set(CONFIGS)


# Task configs' variants (config files taking one), each validated too.
VARIANTS = {
    "segmentation": ["quick", "noskip", "quick,noskip"],
    "superres": ["quick", "espcn", "x4", "quick,espcn,x4"],
    "flow": ["quick"],
    "genomic": ["quick"],
}


@pytest.mark.parametrize(
    "name,variant", [(n, v) for n, variants in VARIANTS.items() for v in variants]
)
def test_variants_of_task_configs_are_valid(name, variant):
    config = importlib.import_module(f"experiments.configs.{name}").get_config(variant)
    config_lib.validate(config)
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        importlib.import_module(f"experiments.configs.{name}").get_config("nope")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_file_is_valid(name):
    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    config_lib.validate(config)
    assert config.model in models.list_models()
