"""Optimizers, learning-rate schedules and plateau reduction, built from the config with Optax.

`make_optimizer(config, steps_per_epoch)` returns the Optax transformation for the optimizer
named in `config.optimizer.name` driven by the schedule named in `config.schedule.name`
(schedule lengths are given in epochs in the config, converted to updates here), with optional
gradient clipping by global norm and gradient accumulation: with
`optimizer.accumulate_steps` = k > 1, `optax.MultiSteps` averages the gradients of k
consecutive steps (micro-batches) and applies one update every k-th step (zero updates in
between), so an update sees k * batch_size images and the schedule counts updates, not steps.
Per-parameter rules match fnmatch globs on a parameter's path ('block1/norm1/bias'):
`optimizer.lr_scales` multiplies some parameters' learning rates (`scale_by_parameter`),
`optimizer.stop_after_epochs` stops their updates after some epochs (`stop_by_parameter`).
Reduce-on-plateau is separate (`make_plateau`): its state is
updated once per epoch from a validation metric and its `scale` multiplies every update.
"""

from __future__ import annotations

import fnmatch

import jax
import jax.numpy as jnp
import ml_collections
import optax

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "onecycle", "triangular")


def make_schedule(config: ml_collections.ConfigDict, steps_per_epoch: float) -> optax.Schedule:
    """Learning rate as a function of the update count, from `config.optimizer.learning_rate`
    and `config.schedule`, for `steps_per_epoch` updates an epoch (a fraction with gradient
    accumulation over a number of steps that does not divide the epoch's):

    - constant: lr.
    - step: lr * decay_factor ** (number of `boundaries_epochs` passed).
    - cosine: lr * (alpha + (1 - alpha) * (1 + cos(pi * t / T)) / 2), alpha = final_lr_fraction.
    - warmup_cosine: linear 0 -> lr over `warmup_epochs`, then cosine to lr * final_lr_fraction.
    - onecycle: cosine ramp lr / div_factor -> lr over pct_start of the run, then cosine down
      to lr / (div_factor * final_div_factor).
    - triangular: linear ramp lr / div_factor -> lr over pct_start of the run (the ramp's
      length rounded down to whole updates), then linear down, reaching lr * final_lr_fraction
      after the run's last update (airbench: div_factor 5, pct_start 0.23, final_lr_fraction
      0.07).
    """
    lr = config.optimizer.learning_rate
    sched = config.schedule
    total = max(1, round(config.epochs * steps_per_epoch))
    name = sched.name
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "step":
        boundaries = {int(e * steps_per_epoch): sched.decay_factor for e in sched.boundaries_epochs}
        return optax.piecewise_constant_schedule(lr, boundaries)
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, total, alpha=sched.final_lr_fraction)
    if name == "warmup_cosine":
        warmup = int(sched.warmup_epochs * steps_per_epoch)
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=lr,
            warmup_steps=warmup,
            decay_steps=max(total, warmup + 1),
            end_value=lr * sched.final_lr_fraction,
        )
    if name == "onecycle":
        return optax.cosine_onecycle_schedule(
            transition_steps=total,
            peak_value=lr,
            pct_start=sched.pct_start,
            div_factor=sched.div_factor,
            final_div_factor=sched.final_div_factor,
        )
    if name == "triangular":
        warmup = max(1, int(total * sched.pct_start))
        return optax.join_schedules(
            [
                optax.linear_schedule(lr / sched.div_factor, lr, warmup),
                optax.linear_schedule(lr, lr * sched.final_lr_fraction, max(1, total - warmup)),
            ],
            [warmup],
        )
    raise ValueError(f"unknown schedule {name!r}; valid schedule names: {', '.join(SCHEDULES)}")


def _base_optimizer(
    opt: ml_collections.ConfigDict, lr: optax.Schedule
) -> optax.GradientTransformation:
    """The update u_t of parameters p for gradient g_t at step t = 1, 2, ... (lr = lr(t - 1);
    every state starts at zero unless said):

    - sgd: u = -lr g.
    - momentum: v = momentum v + g; u = -lr v.
    - nesterov: v = momentum v + g; u = -lr (g + momentum v).
    - adagrad: s = s + g^2 (s starts at 0.1, Optax's default); u = -lr g / sqrt(s + eps).
    - rmsprop: s = rmsprop_decay s + (1 - rmsprop_decay) g^2; d = g / (sqrt(s) + eps);
      u = -lr d, or with rmsprop_momentum m > 0: v = m v + lr d, u = -v (PyTorch's and Keras'
      RMSprop, eps outside the root; PyTorch's default decay is 0.99, Keras' 0.9).
    - adam: m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) g^2;
      u = -lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps).
    - adamw: adam's u - lr weight_decay p (decoupled: the decay does not pass through m, s).
    """
    name = opt.name
    if name == "sgd":
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=opt.momentum)
    if name == "nesterov":
        return optax.sgd(lr, momentum=opt.momentum, nesterov=True)
    if name == "adagrad":
        return optax.adagrad(lr, eps=opt.eps)
    if name == "rmsprop":
        return optax.rmsprop(
            lr,
            decay=opt.rmsprop_decay,
            eps=opt.eps,
            eps_in_sqrt=False,
            momentum=opt.rmsprop_momentum or None,
        )
    if name == "adam":
        return optax.adam(lr, b1=opt.b1, b2=opt.b2, eps=opt.eps)
    if name == "adamw":
        return optax.adamw(lr, b1=opt.b1, b2=opt.b2, eps=opt.eps, weight_decay=opt.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid optimizer names: {', '.join(OPTIMIZERS)}")


def parameter_path(path) -> str:
    """A parameter's path in the params tree as 'module/.../name' (e.g. 'block1/norm1/bias'),
    what the optimizer's per-parameter rules match with fnmatch globs."""
    return "/".join(str(getattr(k, "key", k)) for k in path)


def _first_match(rules, path: str, default):
    return next((value for glob, value in rules if fnmatch.fnmatchcase(path, glob)), default)


def scale_by_parameter(rules) -> optax.GradientTransformation:
    """Each gradient times the factor of the first (glob, factor) of `rules` matching its
    parameter's path (1 when none does): a per-parameter learning-rate multiplier when it comes
    before the optimizer (its updates are linear in the gradients), which leaves a weight
    decay added after it unscaled (airbench's bias_scaler)."""

    def update(updates, state, params=None):
        scale = lambda path, g: g * _first_match(rules, parameter_path(path), 1.0)
        return jax.tree_util.tree_map_with_path(scale, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def stop_by_parameter(rules, updates_per_epoch: float) -> optax.GradientTransformation:
    """Zero updates, from epoch e on, for the parameters whose path matches a (glob, e) of
    `rules` (the first match counts; e = 0: never updated): update u of a matching parameter is
    u * [t < e * updates_per_epoch] at update t = 0, 1, ..."""

    def init(params):
        return optax.ScaleByScheduleState(count=jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        def stop(path, u):
            epochs = _first_match(rules, parameter_path(path), None)
            if epochs is None:
                return u
            return u * (state.count < round(epochs * updates_per_epoch)).astype(u.dtype)

        out = jax.tree_util.tree_map_with_path(stop, updates)
        return out, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init, update)


def accumulate_steps(config: ml_collections.ConfigDict) -> int:
    """k of gradient accumulation (1: none; absent from configs that predate it)."""
    return int(config.optimizer.get("accumulate_steps", 1))


def make_optimizer(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.GradientTransformation:
    """For `steps_per_epoch` steps an epoch, the chain
      clip_by_global_norm (if grad_clip_norm > 0),
      per-parameter learning-rate factors (optimizer.lr_scales: g <- factor g),
      the SGD family's weight decay (optimizer.sgd_weight_decay d: g <- g + d p),
      the scheduled optimizer,
      per-parameter stops (optimizer.stop_after_epochs: zero updates from that epoch on);
    with accumulate_steps k > 1, all of it inside optax.MultiSteps (the clipping then acts on
    the averaged gradient of k steps)."""
    opt = config.optimizer
    k = accumulate_steps(config)
    schedule = make_schedule(config, steps_per_epoch / k)
    parts = []
    if opt.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(opt.grad_clip_norm))
    if opt.get("lr_scales"):
        parts.append(scale_by_parameter(tuple(opt.lr_scales)))
    if opt.get("sgd_weight_decay"):
        parts.append(optax.add_decayed_weights(opt.sgd_weight_decay))
    parts.append(_base_optimizer(opt, schedule))
    if opt.get("stop_after_epochs"):
        parts.append(stop_by_parameter(tuple(opt.stop_after_epochs), steps_per_epoch / k))
    tx = optax.chain(*parts)
    return optax.MultiSteps(tx, every_k_schedule=k).gradient_transformation() if k > 1 else tx


def learning_rate_after(
    config: ml_collections.ConfigDict, steps_per_epoch: int, step: int
) -> float:
    """The learning rate of the last update made by `step` steps (step >= 1), as the
    optimizer of make_optimizer(config, steps_per_epoch) applied it."""
    k = accumulate_steps(config)
    schedule = make_schedule(config, steps_per_epoch / k)
    return float(schedule(max(0, step // k - 1)))


def make_plateau(config: ml_collections.ConfigDict) -> optax.GradientTransformationExtraArgs:
    """Optax's reduce-on-plateau, fed one validation value per epoch (lower is better)."""
    p = config.plateau
    return optax.contrib.reduce_on_plateau(
        factor=p.factor,
        patience=p.patience,
        rtol=p.rtol,
        atol=p.atol,
        cooldown=p.cooldown,
        accumulation_size=1,
        min_scale=p.min_scale,
    )
