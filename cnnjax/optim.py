"""Optimizers, learning-rate schedules and plateau reduction, built from the config with Optax.

`make_optimizer(config, steps_per_epoch)` returns the Optax transformation for the optimizer
named in `config.optimizer.name` driven by the schedule named in `config.schedule.name`
(schedule lengths are given in epochs in the config, converted to updates here), with optional
gradient clipping by global norm and gradient accumulation: with
`optimizer.accumulate_steps` = k > 1, `optax.MultiSteps` averages the gradients of k
consecutive steps (micro-batches) and applies one update every k-th step (zero updates in
between), so an update sees k * batch_size images and the schedule counts updates, not steps.
Reduce-on-plateau is separate (`make_plateau`): its state is
updated once per epoch from a validation metric and its `scale` multiplies every update.
"""

from __future__ import annotations

import ml_collections
import optax

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "onecycle")


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


def accumulate_steps(config: ml_collections.ConfigDict) -> int:
    """k of gradient accumulation (1: none; absent from configs that predate it)."""
    return int(config.optimizer.get("accumulate_steps", 1))


def make_optimizer(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.GradientTransformation:
    """clip_by_global_norm (if grad_clip_norm > 0) followed by the scheduled optimizer, for
    `steps_per_epoch` steps an epoch; with accumulate_steps k > 1, all of it inside
    optax.MultiSteps (the clipping then acts on the averaged gradient of k steps)."""
    k = accumulate_steps(config)
    schedule = make_schedule(config, steps_per_epoch / k)
    parts = []
    if config.optimizer.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(config.optimizer.grad_clip_norm))
    parts.append(_base_optimizer(config.optimizer, schedule))
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
