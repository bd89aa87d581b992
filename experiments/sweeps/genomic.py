"""A 1-D CNN against ridge regression on simulated genotypes, across heritabilities, with and
without epistasis (cnnjax.tasks.genomic). Each setting has one run per simulated population;
a row joins its populations, so its spread is over populations. Ridge regression on all
markers (the GBLUP-like baseline) is a row computed by the aggregation on each population."""

from __future__ import annotations

from cnnjax import tasks
from cnnjax.tasks.genomic import ridge_figures
from experiments.configs import genomic
from experiments.sweeps.grid import Baseline, Run, Sweep
from experiments.sweeps.verdicts import Comparison

CLAIM = (
    "A 1-D CNN on SNP genotypes can capture non-additive (epistatic) effects that a linear "
    "model misses, but GBLUP-like linear models are hard to beat for genomic prediction "
    "(Pérez-Enciso & Zingaretti 2019)."
)

HERITABILITIES = (0.2, 0.5, 0.8)
EPISTASIS = (0.0, 0.5)  # epistatic share of the genetic variance
POPULATIONS = 3  # simulated populations per setting (population seeds 0, 1, 2)

NOTES = """
Each row's spread is over the simulated populations of its setting (its runs, `parts` in
results.json: one network each, the population's seed also seeding its initialisation); ridge
regression on all markers is the GBLUP-like baseline, its strength chosen on the validation
individuals as the CNN's best epoch is. The comparisons test both parts of the claim per
setting: where the trait is purely additive, whether ridge predicts the phenotype better; where
half the genetic variance is epistatic, whether the CNN does. At the highest heritability
without epistasis, ridge reaches {{mean test_r ridge_h0.8_e0.0}} against {{mean test_r
cnn_h0.8_e0.0}} for the CNN ({{verdict 5}}); with half the variance epistatic, {{mean test_r
ridge_h0.8_e0.5}} against {{mean test_r cnn_h0.8_e0.5}} ({{verdict 6}}). The correlation with
the true genetic value (`test_r_genetic`) is what breeders want; with noise independent of the
genotypes, the phenotype correlation is about it times the square root of h2.
"""


def _setting(h2: float, epistasis: float) -> str:
    return f"h{h2}_e{epistasis}"


def ridge_test_figures(config) -> dict[str, float]:
    """Ridge regression's test figures on a run's population."""
    found = ridge_figures(config, tasks.of(config).splits(config))
    return {f"test_{k}": v for k, v in found.items()}


def comparisons(settings) -> tuple[Comparison, ...]:
    out = []
    for h2, epistasis in settings:
        cnn, ridge = f"cnn_{_setting(h2, epistasis)}", f"ridge_{_setting(h2, epistasis)}"
        where = f"h2 {h2}, epistasis {epistasis}"
        if epistasis > 0:
            statement, run, baseline = f"the CNN predicts better than ridge ({where})", cnn, ridge
        else:
            statement, run, baseline = f"ridge predicts better than the CNN ({where})", ridge, cnn
        out.append(Comparison(statement, run, baseline, "test_r"))
    return tuple(out)


def get_sweep(quick: bool) -> Sweep:
    if quick:
        base, settings, populations = (lambda: genomic.get_config("quick")), ((0.8, 0.0),), 2
    else:
        base = genomic.get_config
        settings = tuple((h2, e) for h2 in HERITABILITIES for e in EPISTASIS)
        populations = POPULATIONS
    runs, baselines = [], []
    for h2, epistasis in settings:
        setting = _setting(h2, epistasis)
        labels = {"h2": str(h2), "epistasis": str(epistasis)}
        for p in range(populations):
            name = f"cnn_{setting}_pop{p}"
            overrides = {
                "genomic.heritability": h2,
                "genomic.epistasis": epistasis,
                "genomic.population_seed": p,
                "seed": p,
            }
            cnn = {**labels, "method": "1-D CNN"}
            runs.append(Run(name, overrides, cnn, group=f"cnn_{setting}"))
            baselines.append(
                Baseline(
                    f"ridge_{setting}_pop{p}",
                    like=name,
                    labels={**labels, "method": "ridge"},
                    figures=ridge_test_figures,
                    group=f"ridge_{setting}",
                )
            )
    return Sweep(
        name="genomic",
        claim=CLAIM,
        notes="" if quick else NOTES,
        comparisons=comparisons(settings),
        base=base,
        runs=tuple(runs),
        baselines=tuple(baselines),
        num_seeds=1,
        figures=("test_r", "test_r_genetic", "test_loss", "best_val_r"),
        curves=("val_r", "train_loss"),
    )
