"""What a run reports: metrics.jsonl, TensorBoard and curves.png of every replica after each
epoch, the log line of an epoch, and the final summary of the test evaluation."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from cnnjax import config as config_lib
from cnnjax import layers, provenance, report
from cnnjax.layers import conv_timing
from cnnjax.train import class_report, disk
from cnnjax.train import workdir as workdir_lib
from cnnjax.train.loop_state import host_replicas, step_of
from cnnjax.train.setup import RunContext
from cnnjax.train.state import num_params


def write_reports(ctx: RunContext, loop) -> None:
    """metrics.jsonl, TensorBoard events and curves.png of every replica, rewritten from the
    whole history (by the main process only)."""
    if not ctx.is_main_process:
        return
    with disk.guard("the reports", ctx.workdir, ctx.checkpointer.kept):
        _write_replica_reports(ctx, loop)


def _write_replica_reports(ctx: RunContext, loop) -> None:
    for r, rep in enumerate(loop["replicas"]):
        os.makedirs(os.path.dirname(ctx.replica_path(r, "metrics.jsonl")), exist_ok=True)
        report.write_metrics(ctx.replica_path(r, "metrics.jsonl"), rep["history"])
        report.write_tensorboard(
            ctx.replica_path(r, "tensorboard"), rep["history"], rep.get("steps", ())
        )
        if rep["history"]:
            title = f"{ctx.config.model} on {ctx.data.info['dataset']}"
            if ctx.num_replicas > 1:
                title += f", seed {ctx.seeds[r]}"
            report.plot_curves(
                ctx.replica_path(r, "curves.png"),
                rep["history"],
                title=title,
                metrics=tuple(dict.fromkeys(("loss", ctx.task.primary))),
            )


def log_epoch(ctx: RunContext, loop) -> None:
    es = ctx.config.early_stopping
    for seed, rep in zip(ctx.seeds, loop["replicas"]):
        if not rep["history"] or rep["history"][-1]["epoch"] != loop["epoch"]:
            continue  # stopped early or diverged before this epoch
        r = rep["history"][-1]
        figures = lambda split: " ".join(
            f"{name} {_fmt(r.get(f'{split}_{name}'))}" for name in _log_figures(ctx, split)
        )
        logging.info(
            "epoch %d/%d%s: train %s | val %s | lr %.3g | %.1fs, %.0f img/s",
            r["epoch"],
            ctx.config.epochs,
            f" seed {seed}" if ctx.num_replicas > 1 else "",
            figures("train"),
            figures("val"),
            r["learning_rate"],
            r["epoch_seconds"],
            r["images_per_second"],
        )
        if rep["stopped_early"]:
            logging.info(
                "early stopping%s: %s did not improve for %d epochs (best %.4f at epoch %d)",
                f" seed {seed}" if ctx.num_replicas > 1 else "",
                es.metric,
                es.patience,
                rep["best_value"],
                rep["best_epoch"],
            )


def _log_figures(ctx: RunContext, split: str) -> tuple[str, ...]:
    return ctx.task.train_figures if split == "train" else ctx.task.figures


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def seed_statistics(task) -> tuple[str, ...]:
    """Per-seed figures that a multi-seed summary reports as mean and standard deviation:
    test_<f> (also _flip, _no_ema), best_val_<primary>, final_train_<f>, epochs_run."""
    tests = [f"test_{f}" for f in task.figures]
    return (
        *tests,
        *(f"{t}_flip" for t in tests),
        *(f"{t}_no_ema" for t in tests),
        f"best_val_{task.primary}",
        *(f"final_train_{f}" for f in task.train_figures),
        "epochs_run",
    )


def run_summary(ctx: RunContext, state, best, loop) -> dict[str, Any]:
    """Evaluates every replica on the test split (the best epoch's variables if early stopping
    restores them; also with test-time flips if eval_flip_average) and collects the run's
    figures; for K > 1 seeds, also each seed's summary
    (`per_seed`) and the mean and standard deviation (`<figure>_std`, ddof 1) of
    seed_statistics(task) over seeds, the means under the figures' own names."""
    es, k, task = ctx.config.early_stopping, ctx.num_replicas, ctx.task
    scalars, primary = task.figures, task.primary
    final = state.for_evaluation()  # the weights' average when the run keeps one
    if es.enabled and es.restore_best:
        final = final.replace(params=best["params"], batch_stats=best["batch_stats"])
    t0 = time.perf_counter()
    tests = host_replicas(ctx.evaluate(final, ctx.data.test), k)
    raw = [None] * k  # with an EMA, the raw weights too
    if state.ema is not None:
        raw = host_replicas(ctx.evaluate(state, ctx.data.test), k)
    flips = [None] * k
    if ctx.evaluate_flip is not None:
        flips = host_replicas(ctx.evaluate_flip(final, ctx.data.test), k)
    test_seconds = time.perf_counter() - t0  # compiles of the evaluations included
    params_one = state.params if k == 1 else jax.tree.map(lambda p: p[0], state.params)
    shared = {
        "train_seconds": loop["train_seconds"],
        "test_seconds": test_seconds,
        "compile_seconds": ctx.compile_seconds,
        "num_params": num_params(params_one),
        **ctx.transfer,
        **ctx.model_shape,
        "steps": step_of(state),
        "task": task.name,
        "model": ctx.config.model,
        "conv_impl": _conv_impl(ctx.config),
        **_conv_choices(ctx.config),
        "compute_dtype": ctx.config.compute_dtype,
        "ema_decay": config_lib.ema_decay(ctx.config),
        "device": str(jax.devices()[0].platform),
        "num_devices": 1 if ctx.mesh is None else ctx.mesh.size,
        "num_processes": jax.process_count(),
        "jax_version": jax.__version__,
        "provenance": provenance.collect(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        **ctx.data.info,
    }
    per_seed = []
    for seed, rep, test, flip, no_ema in zip(ctx.seeds, loop["replicas"], tests, flips, raw):
        history = rep["history"]
        last = history[-1] if history else {}  # empty for a replica that diverged in epoch 1
        val = [r.get(f"val_{primary}") for r in history]
        val = [v for v in val if v is not None and not math.isnan(v)]  # NaN: undefined
        best_val = (max if task.higher(f"val_{primary}") else min)(val) if val else None
        per_seed.append(
            {
                "seed": seed,
                **{f"test_{f}": v for f, v in task.figure_values(ctx.config, test).items()},
                f"best_val_{primary}": best_val,
                "best_epoch": rep["best_epoch"] if es.enabled else None,
                "epochs_run": len(history),
                "stopped_early": rep["stopped_early"],
                **{f"final_train_{f}": last.get(f"train_{f}") for f in task.train_figures},
            }
        )
        if flip is not None:
            per_seed[-1].update({f"test_{f}_flip": flip[f] for f in scalars})
        if no_ema is not None:
            per_seed[-1].update({f"test_{f}_no_ema": no_ema[f] for f in scalars})
        if "confusion" in test:
            names = ctx.data.class_names
            per_seed[-1].update(class_report.seed_report(test["confusion"], names))
        if rep.get("diverged_step") is not None:  # its figures are not a result
            per_seed[-1] = {
                **{key: None for key in per_seed[-1]},
                "seed": seed,
                "epochs_run": len(history),
                "diverged_step": rep["diverged_step"],
            }
    if k == 1:
        return {**per_seed[0], **shared}
    finished = [s for s in per_seed if s.get("diverged_step") is None]
    if finished and "per_class" in finished[0]:
        shared["per_class"] = class_report.over_seeds(finished)
    out = {
        "num_seeds": k,
        "seeds": list(ctx.seeds),
        "diverged_seeds": [s["seed"] for s in per_seed if s.get("diverged_step") is not None],
    }
    # over the seeds that finished
    for key in (k for k in seed_statistics(task) if k in per_seed[0]):
        values = [s[key] for s in finished]
        if not values or any(v is None for v in values):
            out[key] = out[f"{key}_std"] = None
        else:
            std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            out[key], out[f"{key}_std"] = float(np.mean(values)), std
    return {**out, **shared, "per_seed": per_seed}


def _conv_impl(config: ml_collections.ConfigDict) -> str | None:
    """The convolution implementation the model ran with ('auto' resolved), if it has one."""
    impl = config_lib.model_overrides(config).get("conv_impl")
    return None if impl is None else layers.resolve_conv_impl(impl)


def _conv_choices(config: ml_collections.ConfigDict) -> dict[str, dict[str, str]]:
    """{'conv_choices': signature -> 'xla_cpu' or 'onednn'} where 'auto' timed each shape
    (`layers.TIMED`), else nothing."""
    if _conv_impl(config) != layers.TIMED:
        return {}
    return {"conv_choices": conv_timing.choices()}


def write_summary(ctx: RunContext, summary: dict[str, Any]) -> None:
    """summary.json, the HParams tab (tensorboard.hparams) and confusion_matrix.png of the
    finished run (by the main process only)."""
    if not ctx.is_main_process:
        return
    with disk.guard("summary.json", ctx.workdir, ctx.checkpointer.kept):
        report.write_json(ctx.path("summary.json"), summary)
        if ctx.config.tensorboard.hparams:
            fields = workdir_lib.run_identity(workdir_lib.config_json(ctx.config))
            figures = (
                *(f"test_{f}" for f in ctx.task.figures),
                f"best_val_{ctx.task.primary}",
            )
            report.write_hparams(
                ctx.path("tensorboard"), fields, {f: summary.get(f) for f in figures}
            )
        confusions = [s.get("confusion_matrix") for s in summary.get("per_seed", [summary])]
        if confusions := [c for c in confusions if c is not None]:
            class_report.write_png(ctx.path(class_report.PNG), confusions, ctx.data.class_names)
