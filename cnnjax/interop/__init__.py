"""Weights from other frameworks on cnnjax's models.

    from cnnjax import interop
    variables = interop.from_torchvision('resnet50', 'resnet50-0676ba61.pth')
    model = interop.torchvision.create_model('resnet50')   # 1000 classes
    logits = model.apply(variables, x, train=False)        # x: ImageNet-normalised NHWC

`cnnjax.interop.torchvision` maps torchvision's state dicts (resnet18-152, vgg11-19 and their
_bn variants, alexnet, googlenet) onto the registry models' variables; a run starts from them
with config.transfer.init_from_torch (`cnnjax.interop.init_from_torch`). torch is needed only
to read .pt / .pth files (the `torch` extra); a dict of numpy arrays needs nothing.
"""

from cnnjax.interop import torchvision
from cnnjax.interop.init_from_torch import init_variables, validate
from cnnjax.interop.torchvision import SUPPORTED, TorchvisionError, from_torchvision, to_torchvision

__all__ = [
    "SUPPORTED",
    "TorchvisionError",
    "from_torchvision",
    "init_variables",
    "to_torchvision",
    "torchvision",
    "validate",
]
