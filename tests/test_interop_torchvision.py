"""cnnjax.interop.torchvision: torchvision state dicts on cnnjax's models.

The first tests need no torch (CI has none): the mapping's layouts, round trips through
`to_torchvision`, and the errors for missing, unexpected and wrongly shaped keys. The last
ones (skipped without torchvision) compare the logits of randomly initialised torchvision
models, batch-norm statistics randomised, with cnnjax's on the converted weights.
"""

import functools
import math

import jax
import ml_collections
import numpy as np
import pytest
from flax import traverse_util

from cnnjax import interop, models
from cnnjax.config import ConfigError
from cnnjax.interop import torchvision as tvi


def _random_variables(name: str, num_classes: int = 1000, seed: int = 0) -> dict:
    """cnnjax variables of `name` with random values (from the abstract shapes, no init)."""
    rng = np.random.default_rng(seed)
    shapes = tvi._expected(name, num_classes)
    flat = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    return traverse_util.unflatten_dict(flat)


@functools.lru_cache(maxsize=None)
def _state_dict(name: str, num_classes: int = 1000) -> dict:
    return tvi.to_torchvision(name, _random_variables(name, num_classes))


def _config(model: str, path: str = "weights.npz", **transfer) -> ml_collections.ConfigDict:
    model_args = {model: tvi.model_overrides(model)} if model in tvi.SUPPORTED else {}
    return ml_collections.ConfigDict(
        {
            "model": model,
            "model_args": model_args,
            "transfer": {"init_from": "", "init_from_torch": path, "reinit_head": True, **transfer},
        }
    )


def test_the_flattened_dense_rows_follow_cnnjax_hwc_order():
    # torchvision: y = W @ f.reshape(-1) on a (C, H, W) map; cnnjax: f.transpose(1, 2, 0)
    # .reshape(-1) @ K on the same map as (H, W, C).
    for arch in ("vgg11", "alexnet"):
        c, h, w = tvi._flattened(arch)
        rng = np.random.default_rng(0)
        weight = rng.standard_normal((3, c * h * w)).astype(np.float32)
        f = rng.standard_normal((c, h, w)).astype(np.float32)
        kernel = tvi._to_cnnjax("flat_dense", "kernel", weight, arch)
        np.testing.assert_allclose(
            f.transpose(1, 2, 0).reshape(-1) @ kernel, weight @ f.reshape(-1), rtol=1e-4
        )
        np.testing.assert_array_equal(tvi._to_torch("flat_dense", "kernel", kernel, arch), weight)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "googlenet"])
def test_a_round_trip_through_torchvision_keys_gives_the_same_variables(name):
    variables = _random_variables(name)
    sd = tvi.to_torchvision(name, variables)
    back = interop.from_torchvision(name, sd)
    flat, flat_back = (traverse_util.flatten_dict(v) for v in (variables, back))
    assert flat.keys() == flat_back.keys()
    for key in flat:
        np.testing.assert_array_equal(flat[key], flat_back[key], err_msg="/".join(key))


def test_every_supported_model_has_a_torchvision_name_for_every_variable():
    counts = {}
    for name in tvi.SUPPORTED:
        mapping = tvi._mapping(name, 1000)
        torch_keys = [t for _, t, _, _ in mapping]
        assert len(set(torch_keys)) == len(torch_keys), name
        counts[name] = len(torch_keys)
    # torchvision's state_dict() key counts without num_batches_tracked (one per batch norm).
    assert counts["resnet18"] == 122 - 20 and counts["resnet50"] == 320 - 53
    assert counts["vgg11_bn"] == 62 - 8 and counts["alexnet"] == 16
    assert counts["googlenet"] == 344 - 57


def test_num_batches_tracked_is_accepted_and_the_head_size_read_from_the_state_dict():
    sd = {**_state_dict("resnet18", 10), "bn1.num_batches_tracked": np.int64(7)}
    variables = interop.from_torchvision("resnet18", sd)
    assert variables["params"]["head"]["kernel"].shape == (512, 10)
    assert variables["params"]["stem_conv"]["kernel"].shape == (7, 7, 3, 64)


def test_a_missing_key_is_named():
    sd = dict(_state_dict("resnet18"))
    del sd["layer2.0.downsample.1.running_var"], sd["fc.bias"]
    with pytest.raises(interop.TorchvisionError, match=r"missing keys: .*fc\.bias") as e:
        interop.from_torchvision("resnet18", sd)
    assert "layer2.0.downsample.1.running_var" in str(e.value)


def test_an_unexpected_key_is_named():
    sd = {**_state_dict("resnet18"), "layer5.0.conv1.weight": np.zeros((1, 1, 1, 1), np.float32)}
    with pytest.raises(interop.TorchvisionError, match=r"unexpected keys: layer5\.0\.conv1"):
        interop.from_torchvision("resnet18", sd)
    with pytest.raises(interop.TorchvisionError, match="unexpected keys: fc.num_batches_tracked"):
        interop.from_torchvision("resnet18", {**sd, "fc.num_batches_tracked": 0})


def test_a_wrong_shape_names_the_key_and_both_shapes():
    sd = {**_state_dict("resnet18"), "layer1.0.conv2.weight": np.zeros((64, 64, 5, 5))}
    pattern = (
        r"layer1\.0\.conv2\.weight is \(64, 64, 5, 5\), expected \(64, 64, 3, 3\) "
        r"\(cnnjax's params/stage0_block0/conv2/kernel \(3, 3, 64, 64\)\)"
    )
    with pytest.raises(interop.TorchvisionError, match=pattern):
        interop.from_torchvision("resnet18", sd)


def test_googlenet_aux_classifiers_are_an_error_unless_dropped():
    sd = {**_state_dict("googlenet"), "aux1.fc2.weight": np.zeros((1000, 1024), np.float32)}
    with pytest.raises(interop.TorchvisionError, match=r"aux1\.fc2\.weight.*drop_aux=True"):
        interop.from_torchvision("googlenet", sd)
    assert "aux1" not in interop.from_torchvision("googlenet", sd, drop_aux=True)["params"]


def test_an_unsupported_model_is_refused():
    with pytest.raises(interop.TorchvisionError, match="no torchvision mapping for model 'mlp'"):
        interop.from_torchvision("mlp", {})


def test_init_variables_from_an_npz_file_broadcasts_to_replicas_and_keeps_a_new_head(tmp_path):
    sd = _state_dict("resnet18")
    path = str(tmp_path / "resnet18.npz")
    np.savez(path, **sd)
    config = _config("resnet18", path)
    interop.validate(config)
    fresh = _random_variables("resnet18", 10, seed=1)
    flat_fresh = traverse_util.flatten_dict(fresh)
    stacked = jax.tree.map(lambda a: np.stack([a, a + 1]), fresh)
    out = traverse_util.flatten_dict(interop.init_variables(config, stacked, num_replicas=2))
    source = traverse_util.flatten_dict(interop.from_torchvision("resnet18", sd))
    for key, value in out.items():
        assert value.shape[0] == 2
        if key[1] == "head":
            np.testing.assert_array_equal(value[1], flat_fresh[key] + 1)
        else:
            np.testing.assert_array_equal(value[0], source[key])
            np.testing.assert_array_equal(value[1], source[key])


def test_init_variables_names_a_head_of_another_size_without_reinit_head():
    config = _config("resnet18", reinit_head=False)
    pattern = r"params/head/bias is \(1000,\) .* and \(10,\) here.*reinit_head"
    with pytest.raises(ConfigError, match=pattern):
        interop.init_variables(
            config, _random_variables("resnet18", 10), state_dict=_state_dict("resnet18")
        )


def test_init_variables_names_variables_one_side_lacks():
    config, sd = _config("resnet18"), _state_dict("resnet18")
    fresh = traverse_util.flatten_dict(_random_variables("resnet18"))
    fewer = traverse_util.unflatten_dict({k: v for k, v in fresh.items() if k[1] != "stem_norm"})
    with pytest.raises(ConfigError, match="no variable.*stem_norm/bias"):
        interop.init_variables(config, fewer, state_dict=sd)
    more = {**fresh, ("params", "attention", "kernel"): np.zeros((1, 1), np.float32)}
    with pytest.raises(ConfigError, match="resnet18 has no variable params/attention"):
        interop.init_variables(config, traverse_util.unflatten_dict(more), state_dict=sd)


@pytest.mark.parametrize(
    "model, args, transfer, message",
    [
        ("mlp", None, {}, "model 'mlp' has no torchvision mapping"),
        ("googlenet", {"torchvision": False}, {}, "googlenet.torchvision=True.*epsilon"),
        ("resnet50", {"act": "gelu"}, {}, "model_args.resnet50.act='relu', got 'gelu'"),
        ("alexnet", {"lrn": True}, {}, "model_args.alexnet.lrn=False"),
        ("resnet18", {}, {"init_from": "/some/run"}, "transfer.init_from are exclusive"),
        ("resnet18", {}, {}, "no such file"),
    ],
)
def test_validate_refuses(model, args, transfer, message):
    config = _config(model, "/no/such/file.pth", **transfer)
    if args is not None:
        config.model_args[model].update(args)
    with pytest.raises(ConfigError, match=message):
        interop.validate(config)


# ---------------------------------------------------------------- against torchvision itself

INPUT_HW = {"googlenet": (72, 80)}  # odd maps before googlenet's ceil-mode pools


@functools.lru_cache(maxsize=1)
def _torch_model(name: str, **kwargs):
    """torchvision's `name` in eval mode, randomly initialised (He normal weights, so that the
    logits depend on the input; torchvision's own init leaves googlenet's nearly constant),
    batch-norm statistics and affine parameters randomised (so that their mapping is checked):
    (state dict, NHWC batch, its logits)."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    if name == "googlenet":
        kwargs = {"aux_logits": False, "init_weights": True, **kwargs}
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                std = math.sqrt(2 / m.weight[0].numel())
                m.weight.copy_(std * torch.randn(m.weight.shape, generator=g))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + 0.5 * torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
        hw = INPUT_HW.get(name, (64, 72))
        x = np.random.default_rng(0).standard_normal((2, 3, *hw)).astype(np.float32)
        logits = model(torch.from_numpy(x)).numpy()
    # the two examples' logits differ: the comparison checks the whole network, the input too.
    assert np.abs(logits[0] - logits[1]).max() > 1e-2 * np.abs(logits).max(), name
    return model.state_dict(), x.transpose(0, 2, 3, 1), logits


def _max_relative_difference(name, state_dict, x, logits, **overrides):
    model = tvi.create_model(name, 1000, **overrides)
    variables = interop.from_torchvision(name, state_dict)
    out = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
    return float(np.abs(np.asarray(out) - logits).max() / np.abs(logits).max())


@pytest.mark.parametrize("name", tvi.SUPPORTED)
def test_the_converted_model_gives_torchvision_logits(name):
    pytest.importorskip("torchvision")
    sd, x, logits = _torch_model(name)
    assert _max_relative_difference(name, sd, x, logits) < 1e-4


def test_googlenet_transform_input_as_torchvision():
    pytest.importorskip("torchvision")
    sd, x, logits = _torch_model("googlenet", transform_input=True)
    assert _max_relative_difference("googlenet", sd, x, logits, transform_input=True) < 1e-4
    assert _max_relative_difference("googlenet", sd, x, logits) > 1e-3


def test_a_pth_file_loads_as_its_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    sd = {k: torch.from_numpy(v) for k, v in _state_dict("resnet18").items()}
    path = str(tmp_path / "resnet18.pth")
    torch.save(sd, path)
    flat = traverse_util.flatten_dict(interop.from_torchvision("resnet18", path))
    expected = traverse_util.flatten_dict(interop.from_torchvision("resnet18", sd))
    assert flat.keys() == expected.keys()
    for key in flat:
        np.testing.assert_array_equal(flat[key], expected[key])
    fresh = _random_variables("resnet18", 10)
    out = interop.init_variables(_config("resnet18", path), fresh)
    stem = out["params"]["stem_conv"]["kernel"]
    np.testing.assert_array_equal(stem, flat["params", "stem_conv", "kernel"])


def test_vgg_without_adaptive_pool_at_another_size_is_refused_naming_the_field():
    pytest.importorskip("torchvision")
    sd, x, _ = _torch_model("vgg11")
    config = _config("vgg11")
    config.model_args.vgg11.adaptive_pool = 0
    default = models.create("vgg11", 1000)  # no adaptive pool: 2x2x512 flattened at 64x72
    shapes = jax.eval_shape(lambda: default.init(jax.random.PRNGKey(0), x, train=False))
    with pytest.raises(ConfigError, match=r"dense0/kernel is \(25088, 4096\).*adaptive_pool=7"):
        interop.init_variables(config, shapes, state_dict=sd)
