"""Layer tests compare fp32 results at rtol 1e-5: make matmuls and convs full fp32 on every
backend (GPUs default to TF32 for float32 otherwise)."""

import jax
import pytest


@pytest.fixture(autouse=True)
def _fp32_matmuls():
    with jax.default_matmul_precision("highest"):
        yield
