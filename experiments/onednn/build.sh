#!/usr/bin/env bash
# Builds libdnnl_conv.so (oneDNN convolutions as XLA FFI handlers) next to this script.
#
#   experiments/onednn/build.sh                  # kernels in oneDNN's preferred layout
#   experiments/onednn/build.sh --plain-kernels  # convolutions on HWIO kernels, no reorders
#
# Needs g++ and oneDNN 2.x headers and library (Debian: apt-get install libdnnl-dev).
# PYTHON (default: the project's .venv, else python3) must have jax installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || python=python3
kernel_tag=any
case "${1:-}" in
  "") ;;
  --plain-kernels) kernel_tag=hwio ;;
  *) echo "usage: $0 [--plain-kernels]" >&2; exit 2 ;;
esac
ffi_include="$("$python" -c 'import jax; print(jax.ffi.include_dir())')"
g++ -O3 -shared -fPIC -std=c++17 -fopenmp -DDNNL_CONV_KERNEL_TAG="$kernel_tag" \
  -I"$ffi_include" "$here/dnnl_conv.cc" -o "$here/libdnnl_conv.so" -ldnnl
echo "built $here/libdnnl_conv.so (kernel layout: $kernel_tag)"
