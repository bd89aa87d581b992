"""oneDNN's CPU convolutions as conv2d's optional 'onednn' implementation, through XLA's FFI.

    library.py    builds (g++, oneDNN 2.x, jaxlib's FFI headers), caches and loads dnnl_conv.cc
    conv.py       `onednn_conv`: forward, input and kernel gradient as three FFI calls, one VJP
    dnnl_conv.cc  the three XLA FFI handlers on oneDNN primitives
    __main__.py   `python -m cnnjax.layers.onednn build|info`

Optional: without oneDNN (or with $CNNJAX_ONEDNN=off) conv2d's 'auto' uses the pure-JAX
'xla_cpu' and impl='onednn' raises `OneDNNUnavailable`.
"""

from cnnjax.layers.onednn.library import OneDNNUnavailable, available

__all__ = ["OneDNNUnavailable", "available"]
