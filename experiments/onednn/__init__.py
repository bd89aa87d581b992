"""oneDNN convolutions through XLA's FFI, measured against cnnjax's `xla_cpu` path (issue 28).

See README.md: `dnnl_conv.cc` (the handlers), `build.sh`, `onednn_conv.py` (the JAX side),
`bench.py` (the measurement)."""
