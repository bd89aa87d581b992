"""Simulated genomic-prediction data: genotype matrices and quantitative-trait phenotypes.

`simulate(...)` draws, deterministically from `seed`:

- Genotypes X (N individuals x L SNPs, coded 0/1/2 copies of the minor allele). Each
  individual carries two haplotypes; along a haplotype, SNP j copies SNP j-1's allele with
  probability `linkage` and otherwise draws a fresh allele with probability p_j ~ U(0.05, 0.5),
  so neighbouring SNPs are correlated (linkage disequilibrium decaying with distance like
  linkage**d) and distant ones are not; the realised allele frequencies f_j (a moving average
  of the p's) are returned. The two haplotypes are independent (Hardy-Weinberg proportions).
- Genetic values g = additive + epistatic. Additive: sum over `num_qtl` randomly placed QTL of
  a_q (x_q - 2 f_q) with a_q ~ N(0, 1). Epistatic (when `epistasis` > 0): sum over num_qtl / 2
  random QTL pairs of b (x_q - 2 f_q)(x_r - 2 f_r), b ~ N(0, 1); the two parts are scaled so
  that the epistatic share of var(g) in the sample is `epistasis`.
- Phenotypes y = g + e, e ~ N(0, var(g) (1 - h2) / h2), so the sample heritability
  var(g) / var(y) is about `heritability` (h2).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class GenomicData:
    """genotypes (N, L) uint8 in {0, 1, 2}; phenotypes and genetic_values (N,) float32;
    qtl (Q,) SNP indices of the causal loci; allele_freqs (L,): realised, genotypes.mean(0) / 2."""

    genotypes: np.ndarray
    phenotypes: np.ndarray
    genetic_values: np.ndarray
    qtl: np.ndarray
    allele_freqs: np.ndarray


def _check(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"genomic.simulate: {name} must be in [{low}, {high}], got {value}")


def simulate(
    num_individuals: int = 2000,
    num_snps: int = 1000,
    num_qtl: int = 50,
    heritability: float = 0.5,
    linkage: float = 0.9,
    epistasis: float = 0.0,
    seed: int = 0,
) -> GenomicData:
    """A genotype matrix and phenotypes as the module docstring describes."""
    _check("heritability", heritability, 1e-3, 1.0)
    _check("linkage", linkage, 0.0, 0.999)
    _check("epistasis", epistasis, 0.0, 1.0)
    if not 0 < num_qtl <= num_snps:
        raise ValueError(f"genomic.simulate: num_qtl must be in [1, {num_snps}], got {num_qtl}")
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.05, 0.5, num_snps)

    def haplotypes() -> np.ndarray:
        fresh = rng.random((num_individuals, num_snps)) < freqs
        copy = rng.random((num_individuals, num_snps)) < linkage
        h = np.empty_like(fresh)
        h[:, 0] = fresh[:, 0]
        for j in range(1, num_snps):
            h[:, j] = np.where(copy[:, j], h[:, j - 1], fresh[:, j])
        return h

    genotypes = (haplotypes().astype(np.uint8) + haplotypes()).astype(np.uint8)
    qtl = np.sort(rng.choice(num_snps, num_qtl, replace=False))
    realised = genotypes.mean(0) / 2.0
    centred = genotypes[:, qtl] - 2.0 * realised[qtl]
    additive = centred @ rng.normal(size=num_qtl)
    g = additive / additive.std()
    if epistasis > 0:
        pairs = rng.choice(num_qtl, (max(1, num_qtl // 2), 2))
        inter = (centred[:, pairs[:, 0]] * centred[:, pairs[:, 1]]) @ rng.normal(size=len(pairs))
        g = np.sqrt(1 - epistasis) * g + np.sqrt(epistasis) * inter / inter.std()
    noise = rng.normal(size=num_individuals) * np.sqrt(g.var() * (1 - heritability) / heritability)
    return GenomicData(
        genotypes=genotypes,
        phenotypes=(g + noise).astype(np.float32),
        genetic_values=g.astype(np.float32),
        qtl=qtl,
        allele_freqs=realised,
    )


def ridge_prediction(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test_genotypes: np.ndarray,
    alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5),
) -> tuple[np.ndarray, float]:
    """Ridge regression of phenotype on centred genotypes (a GBLUP-like baseline: ridge on all
    markers is BLUP with an identity-covariance marker effect), its strength chosen by the
    validation correlation. Returns (predictions for test_genotypes, chosen alpha)."""
    from sklearn.linear_model import Ridge

    best = None
    for alpha in alphas:
        model = Ridge(alpha=alpha).fit(train[0].astype(np.float32), train[1])
        r = np.corrcoef(model.predict(val[0].astype(np.float32)), val[1])[0, 1]
        if best is None or r > best[0]:
            best = (r, alpha, model)
    _, alpha, model = best
    return model.predict(test_genotypes.astype(np.float32)), alpha
