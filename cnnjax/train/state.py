"""The training state: everything a step reads and writes, and nothing else."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct

from cnnjax import config as config_lib
from cnnjax import optim, transfer


class TrainState(struct.PyTreeNode):
    """params, batch_stats, optimizer state, plateau state, step and base RNG key.

    `rng` never changes: the dropout key of step t is fold_in(rng, t), so a resumed run draws
    the same masks. `plateau.scale` multiplies every optimizer update (reduce-on-plateau).
    `ema`: None, or with config.ema.decay > 0 the exponential moving average of the weights,
    {'params', 'batch_stats'}, updated after every step (cnnjax.train.steps) and the variables
    every evaluation uses (`for_evaluation`).
    `lookahead`: None, or with config.lookahead.every > 0 lookahead's slow weights,
    {'params', 'batch_stats'} (cnnjax.train.steps.Lookahead), which the weights are reset to
    every few steps; evaluation uses the weights.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: optax.OptState
    plateau: Any
    rng: jax.Array
    apply_fn: Any = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    ema: Any = None
    lookahead: Any = None

    def for_evaluation(self) -> "TrainState":
        """The state whose variables evaluation uses: the EMA's when it keeps one."""
        if self.ema is None:
            return self
        return self.replace(
            params=self.ema["params"], batch_stats=self.ema["batch_stats"], ema=None
        )

    def restarted_averages(self) -> "TrainState":
        """The state with the averages it keeps (ema, lookahead) restarted at copies of its
        weights (after weights were set from elsewhere: data, another run)."""
        copy = lambda: jax.tree.map(
            jnp.copy, {"params": self.params, "batch_stats": self.batch_stats}
        )
        return self.replace(
            ema=None if self.ema is None else copy(),
            lookahead=None if self.lookahead is None else copy(),
        )

    def variables(self, params=None) -> dict[str, Any]:
        """The variable dict for `apply_fn`: {'params' (default self.params), 'batch_stats' if the
        model has any}."""
        out = {"params": self.params if params is None else params}
        if self.batch_stats:
            out["batch_stats"] = self.batch_stats
        return out


def create_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    plateau: optax.GradientTransformation,
    rng: jax.Array,
    input_shape: tuple[int, ...],
    ema: bool = False,
    lookahead: bool = False,
) -> TrainState:
    """Initialises `model` on zeros of `input_shape` (1, H, W, C) and the optimizer on it;
    with `ema` (`lookahead`), the weights' moving average (lookahead's slow weights) starts
    at the initial weights."""
    init_key, state_key = jax.random.split(rng)
    variables = model.init(init_key, jnp.zeros(input_shape, jnp.float32), train=False)
    params = variables["params"]
    batch_stats = variables.get("batch_stats", {})
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=batch_stats,
        opt_state=tx.init(params),
        plateau=plateau.init(params),
        rng=state_key,
        apply_fn=model.apply,
        tx=tx,
        ema={"params": params, "batch_stats": batch_stats} if ema else None,
        lookahead={"params": params, "batch_stats": batch_stats} if lookahead else None,
    )


def num_params(params) -> int:
    """Number of scalar parameters in a parameter tree."""
    return int(sum(x.size for x in jax.tree.leaves(params)))


def run_optimizer(config: ml_collections.ConfigDict, model, input_shape, steps_per_epoch: int):
    """(the run's Optax transformation, its frozen modules): config.optimizer and schedule,
    with zero updates for the first config.transfer.freeze_layers layers (cnnjax.transfer)."""
    try:
        frozen = transfer.frozen_modules(model, input_shape, config.transfer.freeze_layers)
    except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None
    return transfer.freeze(optim.make_optimizer(config, steps_per_epoch), frozen), frozen
