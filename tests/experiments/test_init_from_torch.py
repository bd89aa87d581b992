"""A run started from a torchvision state dict (config.transfer.init_from_torch): its frozen
layers end equal to the file's, its head starts fresh, and summary.json says where it began."""

import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import traverse_util

from cnnjax import config as config_lib
from cnnjax import interop
from cnnjax.train import loop


def _run_config(tiny_data_root, npz, **transfer):
    c = config_lib.base_config()
    c.dataset.update(name="cifar10", data_dir=os.path.join(tiny_data_root, "cifar10"))
    c.dataset.update(exact_counts=False, train_size=64)
    c.model, c.epochs, c.batch_size, c.eval_batch_size = "resnet18", 1, 32, 50
    c.compile_cache_dir = "off"
    c.transfer.init_from_torch = npz
    c.transfer.update(**transfer)
    return c


@pytest.mark.slow
def test_a_run_starts_from_the_state_dict_and_keeps_its_frozen_layers(tmp_path, tiny_data_root):
    model = interop.torchvision.create_model("resnet18", 1000)
    variables = jax.jit(lambda k: model.init(k, np.zeros((1, 64, 64, 3), np.float32), train=False))(
        jax.random.PRNGKey(123)
    )
    state_dict = interop.to_torchvision("resnet18", variables)
    npz = str(tmp_path / "resnet18.npz")
    np.savez(npz, **state_dict)
    c = _run_config(tiny_data_root, npz, freeze_layers=20)  # all but the head
    summary = loop.run(c, str(tmp_path / "run"), progress=False)
    assert summary["init_from_torch"] == npz
    ckpt = tmp_path / "run" / "checkpoints"
    step = max(int(s) for s in os.listdir(ckpt) if s.isdigit())
    state = ocp.StandardCheckpointer().restore(str(ckpt / str(step) / "state"))
    trained = traverse_util.flatten_dict(state["params"])
    source = traverse_util.flatten_dict(interop.from_torchvision("resnet18", state_dict)["params"])
    for key, value in trained.items():
        if key[0] == "head":
            assert value.shape[-1] == 10  # fresh, for CIFAR-10's classes
        else:
            np.testing.assert_array_equal(value, source[key], err_msg="/".join(key))


def test_a_state_dict_of_another_architecture_is_refused_by_name(tmp_path, tiny_data_root):
    model = interop.torchvision.create_model("resnet18", 1000)
    init = lambda k: model.init(k, np.zeros((1, 64, 64, 3)), train=False)
    shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
    zeros = jax.tree.map(lambda s: np.zeros(s.shape, np.float32), shapes)
    state_dict = interop.to_torchvision("resnet18", zeros)
    del state_dict["layer1.0.conv1.weight"]
    npz = str(tmp_path / "broken.npz")
    np.savez(npz, **state_dict)
    with pytest.raises(config_lib.ConfigError, match=r"layer1\.0\.conv1\.weight"):
        loop.run(_run_config(tiny_data_root, npz), str(tmp_path / "run"), progress=False)
