r"""Genomic prediction: a 1-D CNN against ridge regression on simulated genotypes.

    python -m experiments.genomic [--config=experiments/configs/genomic.py[:quick]]
        [--config.epochs=60 --config.results_dir=DIR ...]
    make genomic [QUICK=1]

For every heritability x epistasis setting of the config and every replicate population
(`cnnjax.data.genomic.simulate`, seed = replicate), the individuals are split into training,
validation and test sets. Ridge regression on all markers (a GBLUP-like baseline) picks its
strength, and the 1-D CNN (`cnnjax.models` 'cnn1d', mean squared error, Adam) its best epoch, by
the validation correlation; both are scored by the Pearson correlation between prediction and
phenotype on the test individuals, and between prediction and the true genetic value (what
breeders want; its square bounds the phenotype correlation by h2). Writes results.md,
results.json and correlation_by_heritability.png to config.results_dir.
"""

from __future__ import annotations

import functools
import os
import platform
import shlex
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import flags
from ml_collections import config_flags

from cnnjax import models, report
from cnnjax.data import genomic
from cnnjax.train.state import create_train_state
from cnnjax.train.steps import regression_step
from experiments import cli
from experiments.configs import genomic as genomic_config
from experiments.sweeps.figures import mean_std

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "experiments/configs/genomic.py", "Genomic config.")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def _as_images(genotypes: np.ndarray) -> np.ndarray:
    """(N, L) 0/1/2 -> (N, 1, L, 1) float32 centred at 0 (cnn1d's one-row images)."""
    return (genotypes.astype(np.float32) - 1.0)[:, None, :, None]


def train_cnn(config: ml_collections.ConfigDict, train, val, test_x, seed: int):
    """Trains cnn1d on (genotypes, phenotypes) `train`; returns (test predictions of the epoch
    with the best validation correlation, that epoch)."""
    model = models.create("cnn1d", 1, **config.model_args.to_dict())
    x, xv, xt = (_as_images(a) for a in (train[0], val[0], test_x))
    mean, std = train[1].mean(), train[1].std()
    y = (train[1] - mean) / std
    state = create_train_state(
        model,
        optax.adam(config.learning_rate),
        optax.identity(),
        jax.random.PRNGKey(seed),
        (1, *x.shape[1:]),
    )
    step = jax.jit(functools.partial(regression_step, l2=config.l2), donate_argnums=0)
    predict = jax.jit(lambda params, a: model.apply({"params": params}, a, train=False)[:, 0])
    best = (-np.inf, 0, state.params)
    batches = len(x) // config.batch_size
    for epoch in range(1, config.epochs + 1):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        for b in range(batches):
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            state, _ = step(state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
        r = _corr(np.asarray(predict(state.params, xv)), val[1])
        if r > best[0]:
            best = (r, epoch, jax.tree.map(jnp.copy, state.params))
    _, epoch, params = best
    return np.asarray(predict(params, xt)) * std + mean, epoch


def run_setting(config, heritability: float, epistasis: float, replicate: int) -> dict:
    """One simulated population: the CNN's and ridge's test correlations."""
    data = genomic.simulate(
        config.num_individuals,
        config.num_snps,
        config.num_qtl,
        heritability,
        config.linkage,
        epistasis,
        seed=replicate,
    )
    n_test, n_val = config.test_size, config.val_size
    n_train = config.num_individuals - n_val - n_test
    if n_train < config.batch_size:
        raise ValueError(
            f"num_individuals={config.num_individuals} leaves {n_train} training individuals "
            f"after val_size={n_val} and test_size={n_test}: fewer than batch_size"
        )
    parts = np.split(np.arange(config.num_individuals), [n_train, n_train + n_val])
    X, y, g = data.genotypes, data.phenotypes, data.genetic_values
    train, val, test = ((X[p], y[p]) for p in parts)
    ridge, alpha = genomic.ridge_prediction(train, val, test[0])
    cnn, epoch = train_cnn(config, train, val, test[0], seed=replicate)
    g_test = g[parts[2]]
    return {
        "heritability": heritability,
        "epistasis": epistasis,
        "replicate": replicate,
        "cnn_r": _corr(cnn, test[1]),
        "ridge_r": _corr(ridge, test[1]),
        "cnn_r_genetic": _corr(cnn, g_test),
        "ridge_r_genetic": _corr(ridge, g_test),
        "ridge_alpha": alpha,
        "cnn_best_epoch": epoch,
        "sample_heritability": float(np.var(g) / np.var(y)),
    }


def _table(rows: list[dict]) -> tuple[str, dict]:
    keys = ("cnn_r", "ridge_r", "cnn_r_genetic", "ridge_r_genetic")
    lines = [
        "| h2 | epistasis | CNN r | ridge r | CNN r (genetic value) | ridge r (genetic value) |",
        "|---|---|---|---|---|---|",
    ]
    stats = {}
    for setting in dict.fromkeys((r["heritability"], r["epistasis"]) for r in rows):
        group = [r for r in rows if (r["heritability"], r["epistasis"]) == setting]
        stats[setting] = {k: mean_std([r[k] for r in group]) for k in keys}
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in stats[setting].values()]
        lines.append(f"| {setting[0]} | {setting[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines), stats


def main(argv):
    del argv
    config = FLAGS.config
    results_dir = config.results_dir
    os.makedirs(results_dir, exist_ok=True)
    start = time.perf_counter()
    rows = []
    for h2 in config.heritabilities:
        for epi in config.epistasis:
            for rep in range(config.replicates):
                try:
                    rows.append(run_setting(config, h2, epi, rep))
                except ValueError as e:
                    sys.exit(f"error: {e}")
                r = rows[-1]
                print(
                    f"h2={h2} epistasis={epi} replicate {rep}: CNN r={r['cnn_r']:.3f} "
                    f"ridge r={r['ridge_r']:.3f}",
                    flush=True,
                )
    wall = time.perf_counter() - start
    table, stats = _table(rows)
    command = " ".join(["python -m experiments.genomic", *(shlex.quote(a) for a in sys.argv[1:])])
    report.write_json(
        os.path.join(results_dir, "results.json"),
        {"config": config.to_dict(), "rows": rows, "command": command, "wall_seconds": wall},
    )
    lines, references = {}, {}
    for epi in config.epistasis:
        for method, key in (("CNN", "cnn_r"), ("ridge", "ridge_r")):
            points = [stats[(h2, epi)][key] for h2 in config.heritabilities]
            lines[f"{method}, epistasis {epi}"] = ([m for m, _ in points], [s for _, s in points])
    report.plot_lines(
        os.path.join(results_dir, "correlation_by_heritability.png"),
        list(config.heritabilities),
        lines,
        references,
        "heritability h2",
        "test correlation with the phenotype",
        title="1-D CNN against ridge regression (simulated genotypes)",
    )
    md = [
        "# Genomic prediction: 1-D CNN against ridge regression",
        "",
        f"{config.num_individuals} simulated individuals x {config.num_snps} SNPs, "
        f"{config.num_qtl} QTL, linkage {config.linkage}; {config.test_size} test and "
        f"{config.val_size} validation individuals; mean ± std over {config.replicates} "
        f"replicate populations. Pearson correlation of the prediction with the phenotype and "
        f"with the true genetic value of the test individuals.",
        "",
        table,
        "",
        "![correlation_by_heritability.png](correlation_by_heritability.png)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0]}, "
        f"jax {jax.__version__}  ",
        f"Wall time: {wall / 60:.1f} min",
        "",
        "## What it shows",
        "",
        genomic_config.NOTES.strip(),
        "",
    ]
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    cli.run(main)
