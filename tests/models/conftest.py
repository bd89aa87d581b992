"""Shared by the model tests: a loss, its gradients and the mutated collections."""

import jax
import pytest


def _loss_and_grads(model, variables, x, train):
    """(log-softmax loss of class 0, (logits, mutated collections)) and d loss / d params."""

    def loss(params):
        logits, state = model.apply(
            {**variables, "params": params},
            x,
            train=train,
            rngs={"dropout": jax.random.PRNGKey(2)},
            mutable=["batch_stats", "intermediates"],
        )
        return jax.nn.log_softmax(logits)[:, 0].sum(), (logits, state)

    return jax.value_and_grad(loss, has_aux=True)(variables["params"])


@pytest.fixture
def loss_and_grads():
    """`loss_and_grads(model, variables, x, train)`, traceable under jit and eval_shape."""
    return _loss_and_grads
