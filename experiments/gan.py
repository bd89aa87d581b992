r"""DC-GAN on MNIST and Fashion-MNIST, unconditional and class-conditional, scored by our own
classifier after every epoch.

    python -m experiments.gan [--config=experiments/configs/gan.py[:quick]]
        [--config.epochs=5 --config.results_dir=DIR ...]
    make gan [QUICK=1]

For every dataset: first a classifier (the runner's LeNet-5 recipe, `cnnjax.train.loop.run`
in <workdir>/classifier_<dataset>, reused when finished) that judges the samples; then, per
variant and seed, the registry's `dcgan_generator` and `dcgan_discriminator` trained with
`cnnjax.train.gan.gan_step` (Adam 2e-4, b1 0.5, images scaled to [-1, 1]). After every epoch
`score_samples` samples are scored by the classifier (`cnnjax.metrics.sample_scores`:
inception score, confidence, class coverage; for the conditional GAN also the share of samples
classified as the class asked for), and ten samples from fixed noise are kept. Finished GAN
trainings are saved under config.workdir, so an interrupted run resumes with the next one.
Writes results.md, results.json, inception_score_by_epoch.png, losses_by_epoch.png and
samples_<dataset>_<variant>.png (a row of samples per epoch) to config.results_dir.
"""

from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags
from ml_collections import config_flags

from cnnjax import data, metrics, models, pipeline, report
from cnnjax.report import pictures
from cnnjax.train import loop
from cnnjax.train.gan import gan_step, generate
from cnnjax.train.state import create_train_state, num_params
from cnnjax.train.trained import load_trained
from experiments import cli, trainings
from experiments.sweeps.figures import mean_std

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "experiments/configs/gan.py", "GAN config.")
# Fields that change a GAN training's numbers (with its dataset, variant and seed).
IDENTITY = (
    "train_size",
    "data_seed",
    "epochs",
    "batch_size",
    "latent",
    "learning_rate",
    "b1",
    "generator",
    "discriminator",
    "score_samples",
    "classifier",
)
SHOWN = 10  # samples kept per epoch (the conditional GAN: one per class 0..9)


def train_judge(config, name: str):
    """The classifier of dataset `name` (trained once in <workdir>/classifier_<name>):
    returns (probabilities of images in [-1, 1], its test accuracy, its normalizer)."""
    c = config.classifier.copy_and_resolve_references()
    c.dataset.name = name
    c.dataset.data_dir = config.data_dir
    c.dataset.exact_counts = config.exact_counts
    workdir = os.path.join(config.workdir, f"classifier_{name}")
    summary_path = os.path.join(workdir, "summary.json")
    if os.path.isfile(summary_path) and report.read_json(summary_path)["epochs_run"] == c.epochs:
        summary = report.read_json(summary_path)
    else:
        summary = loop.run(c, workdir)
    trained = load_trained(workdir, config.data_dir or None)
    apply = jax.jit(
        lambda x: jax.nn.softmax(
            trained.model.apply(trained.variables, trained.normalizer((x + 1) * 127.5), train=False)
        )
    )
    probs = lambda x: np.concatenate(
        [np.asarray(apply(jnp.asarray(x[i : i + 500]))) for i in range(0, len(x), 500)]
    )
    return probs, summary["test_accuracy"]


def load_images(config, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(training images (N, S, S, C) in [-1, 1], their labels, test images, classes)."""
    ds = data.load(name, config.data_dir or None, exact_counts=config.exact_counts)
    if ds.train.images.shape[1] % 4 or ds.train.images.shape[1] != ds.train.images.shape[2]:
        raise ValueError(f"{name}: the DC-GAN needs square images with sides divisible by 4")
    train = pipeline.subsample(ds.train, config.train_size, config.data_seed)
    scale = lambda a: a.astype(np.float32) / 127.5 - 1.0
    test = scale(ds.test.images[: config.score_samples])
    return scale(train.images), train.labels, test, ds.num_classes


def train_gan(config, images, labels, num_classes, conditional: bool, seed: int, judge) -> dict:
    """Trains one DC-GAN; returns its per-epoch losses, scores and kept samples."""
    n, size, _, channels = images.shape
    extra = num_classes if conditional else 0
    g_model = models.create(
        "dcgan_generator", channels, image_size=size, **config.generator.to_dict()
    )
    d_model = models.create("dcgan_discriminator", 1, **config.discriminator.to_dict())
    tx = optax.adam(config.learning_rate, b1=config.b1)
    key_g, key_d, key_z, key_score = jax.random.split(jax.random.PRNGKey(seed), 4)
    g = create_train_state(g_model, tx, optax.identity(), key_g, (1, 1, 1, config.latent + extra))
    d = create_train_state(d_model, tx, optax.identity(), key_d, (1, size, size, channels + extra))
    k = num_classes if conditional else 0
    step = jax.jit(functools.partial(gan_step, num_classes=k), donate_argnums=(0, 1))
    sample = jax.jit(functools.partial(generate, num_classes=k))
    steps_per_epoch = n // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"train_size={n} is fewer than batch_size={config.batch_size}")
    score_z = jax.random.normal(key_score, (config.score_samples, config.latent))
    score_y = np.arange(config.score_samples) % num_classes
    history, shown, start = [], [], time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        sums = {}
        for b, idx in enumerate(trainings.epoch_batches(n, config.batch_size, seed, epoch)):
            t = (epoch - 1) * steps_per_epoch + b  # the step: its noise
            z = jax.random.normal(jax.random.fold_in(key_z, t), (len(idx), config.latent))
            y = jnp.asarray(labels[idx]) if conditional else None
            g, d, m = step(g, d, jnp.asarray(images[idx]), z, y)
            sums = {key: sums.get(key, 0.0) + v for key, v in m.items()}
        record = {key: float(v) / steps_per_epoch for key, v in sums.items()}
        if not np.isfinite(record["d_loss"] + record["g_loss"]):
            raise FloatingPointError(f"GAN seed {seed}: non-finite loss at epoch {epoch}")
        samples = np.concatenate(
            [
                np.asarray(
                    sample(
                        g,
                        score_z[i : i + 500],
                        jnp.asarray(score_y[i : i + 500]) if conditional else None,
                    )
                )
                for i in range(0, config.score_samples, 500)
            ]
        )
        probs = judge(samples)
        record.update(metrics.sample_scores(probs))
        if conditional:
            record["class_accuracy"] = float(np.mean(probs.argmax(1) == score_y))
        history.append({"epoch": epoch, **record})
        shown.append(samples[:SHOWN].tolist())
        print(
            f"{'conditional' if conditional else 'unconditional'} seed {seed} epoch {epoch}: "
            f"D loss {record['d_loss']:.3f}, G loss {record['g_loss']:.3f}, inception score "
            f"{record['inception_score']:.2f}",
            flush=True,
        )
    return {
        "params": {"generator": num_params(g.params), "discriminator": num_params(d.params)},
        "seconds": time.perf_counter() - start,
        "history": history,
        "final": history[-1],
        "shown": shown,
    }


def run_all(config) -> tuple[list[dict], dict]:
    """Per dataset: the judge, its score of real test images, then every (variant, seed)
    training (read from config.workdir when finished before). Returns (rows, judges)."""
    rows, judges = [], {}
    for name in config.datasets:
        images, labels, test, num_classes = load_images(config, name)
        judge, accuracy = train_judge(config, name)
        judges[name] = {"test_accuracy": accuracy, **metrics.sample_scores(judge(test))}
        for variant in config.variants:
            if variant not in ("unconditional", "conditional"):
                raise ValueError(
                    f"variants: unknown {variant!r}; valid: unconditional, conditional"
                )
            for seed in range(config.seeds):
                record, reused = trainings.load_or_train(
                    os.path.join(config.workdir, name, f"{variant}_seed{seed}.json"),
                    trainings.config_identity(config, IDENTITY),
                    lambda: train_gan(
                        config, images, labels, num_classes, variant == "conditional", seed, judge
                    ),
                )
                if reused:
                    print(f"{name} {variant} seed {seed}: finished before")
                rows.append({"dataset": name, "variant": variant, "seed": seed, **record})
    return rows, judges


def _group(rows, name: str, variant: str) -> list[dict]:
    return [r for r in rows if (r["dataset"], r["variant"]) == (name, variant)]


def _cell(values) -> str:
    m, s = mean_std(values)
    return "–" if m is None else f"{m:.3f} ± {s:.3f}"


def _table(config, rows, judges) -> str:
    keys = ("inception_score", "confidence", "coverage", "class_accuracy", "d_loss", "g_loss")
    lines = [
        "| dataset | samples | inception score | confidence | coverage | class accuracy | "
        "D loss | G loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in config.datasets:
        j = judges[name]
        lines.append(
            f"| {name} | real test images (classifier accuracy {j['test_accuracy']:.4f}) | "
            f"{j['inception_score']:.3f} | {j['confidence']:.3f} | {j['coverage']:.3f} "
            "| – | – | – |"
        )
        for variant in config.variants:
            group = _group(rows, name, variant)
            cells = [_cell([r["final"].get(k) for r in group]) for k in keys]
            lines.append(f"| {name} | {variant} GAN | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_figures(config, rows, judges) -> list[str]:
    """The two plots and a picture of samples per (dataset, variant); returns the PNG names."""
    epochs = list(range(1, config.epochs + 1))
    scores, losses, references = {}, {}, {}
    for name in config.datasets:
        for variant in config.variants:
            group = _group(rows, name, variant)
            scores[f"{name}, {variant}"] = trainings.history_curve(group, "inception_score")
            for key in ("d_loss", "g_loss"):
                losses[f"{name}, {variant}, {key[0].upper()}"] = trainings.history_curve(group, key)
        first = f"{name}, {config.variants[0]}"
        references[f"{name}, real test images"] = (first, judges[name]["inception_score"])
    report.plot_lines(
        os.path.join(config.results_dir, "inception_score_by_epoch.png"),
        epochs,
        scores,
        references,
        "epoch",
        "inception score (our classifier)",
        title=f"DC-GAN samples scored by a {config.classifier.model} after every epoch",
    )
    report.plot_lines(
        os.path.join(config.results_dir, "losses_by_epoch.png"),
        epochs,
        losses,
        {},
        "epoch",
        "mean loss over the epoch",
        title="DC-GAN: discriminator (D) and generator (G) losses",
    )
    files = ["inception_score_by_epoch.png", "losses_by_epoch.png"]
    for name in config.datasets:
        for variant in config.variants:
            record = _group(rows, name, variant)[0]  # seed 0
            tiles = [(np.asarray(s) + 1) / 2 for epoch in record["shown"] for s in epoch]
            file = f"samples_{name}_{variant}.png"
            pictures.save_grid(
                os.path.join(config.results_dir, file),
                tiles,
                columns=SHOWN,
                title=f"{name}, {variant} DC-GAN: fixed noise, one row per epoch (seed 0)",
                row_labels=[f"epoch {e}" for e in epochs],
            )
            files.append(file)
    return files


def main(argv):
    del argv
    config = FLAGS.config
    os.makedirs(config.results_dir, exist_ok=True)
    start = time.perf_counter()
    with trainings.exit_on_error():
        rows, judges = run_all(config)
    files = write_figures(config, rows, judges)
    body = [
        "# DC-GAN: samples scored by our own classifier",
        "",
        f"{config.train_size or 'All'} training images per dataset, scaled to [-1, 1]; "
        f"{config.epochs} epochs, batch {config.batch_size}, Adam {config.learning_rate} "
        f"(b1 {config.b1}) for both networks, noise of {config.latent} dimensions; mean ± std "
        f"over {config.seeds} seeds at the last epoch. Each epoch, {config.score_samples} "
        f"samples are classified by a `{config.classifier.model}` trained on the same dataset "
        f"({config.classifier.epochs} epochs): inception score exp(E KL(p(y|x) || p(y))) "
        f"(1 to 10), mean confidence max p(y|x), coverage exp(H(p(y))) / 10, and for the "
        f"conditional GAN the share of samples classified as the class asked for. The real "
        f"test images' row is the reference a perfect generator would reach.",
        "",
        _table(config, rows, judges),
        "",
        *[f"![{f}]({f})\n" for f in files],
    ]
    payload = {
        "config": config.to_dict(),
        "judges": judges,
        "rows": [{k: v for k, v in r.items() if k != "shown"} for r in rows],
    }
    trainings.write_results(
        config.results_dir, "experiments.gan", payload, body, rows, time.perf_counter() - start
    )


if __name__ == "__main__":
    cli.run(main)
