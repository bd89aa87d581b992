"""Every config file under experiments/configs builds a valid config for a registered model."""

import importlib
import pathlib

import pytest

from cnnjax import config as config_lib
from cnnjax import models

CONFIGS = sorted(
    p.stem
    for p in (pathlib.Path(__file__).parents[2] / "experiments" / "configs").glob("*.py")
    if p.stem != "__init__"
)
# Configs that name a finished run they need (the GAN's classifier): field -> fixture.
NEEDS = {"gan": ("classifier", "gan_classifier")}


def load(name, variant, request):
    get_config = importlib.import_module(f"experiments.configs.{name}").get_config
    config = get_config() if variant is None else get_config(variant)
    if name in NEEDS:
        field, fixture = NEEDS[name]
        config[name][field] = request.getfixturevalue(fixture)
    return config


def test_the_configs_are_found():
    assert {"digits", "mnist", "cifar10", "cifar10_resnet20"} <= set(CONFIGS)


# Task configs' variants (config files taking one), each validated too.
VARIANTS = {
    "segmentation": ["quick", "noskip", "quick,noskip"],
    "superres": ["quick", "espcn", "x4", "quick,espcn,x4"],
    "flow": ["quick"],
    "genomic": ["quick"],
    "gan": ["quick", "conditional", "stackgan", "fashion_mnist", "quick,stackgan"],
}


@pytest.mark.parametrize(
    "name,variant", [(n, v) for n, variants in VARIANTS.items() for v in variants]
)
def test_variants_of_task_configs_are_valid(name, variant, request):
    config_lib.validate(load(name, variant, request))
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        importlib.import_module(f"experiments.configs.{name}").get_config("nope")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_file_is_valid(name, request):
    config = load(name, None, request)
    config_lib.validate(config)
    assert config.model in models.list_models()
