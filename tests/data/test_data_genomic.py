"""The genotype/phenotype simulator and the ridge baseline."""

import numpy as np
import pytest

from cnnjax.data import genomic


@pytest.fixture(scope="module")
def population():
    return genomic.simulate(2000, 300, num_qtl=30, heritability=0.6, linkage=0.9, seed=3)


def test_shapes_codes_and_determinism(population):
    assert population.genotypes.shape == (2000, 300) and population.genotypes.dtype == np.uint8
    assert set(np.unique(population.genotypes)) == {0, 1, 2}
    assert population.phenotypes.shape == (2000,) and len(population.qtl) == 30
    again = genomic.simulate(2000, 300, num_qtl=30, heritability=0.6, linkage=0.9, seed=3)
    np.testing.assert_array_equal(again.genotypes, population.genotypes)
    np.testing.assert_array_equal(again.phenotypes, population.phenotypes)
    other = genomic.simulate(2000, 300, num_qtl=30, heritability=0.6, linkage=0.9, seed=4)
    assert not np.array_equal(other.genotypes, population.genotypes)


def test_allele_frequencies_and_linkage_decay(population):
    x = population.genotypes.astype(float)
    # Two independent haplotypes: Hardy-Weinberg, var(x_j) = 2 f (1 - f).
    f = population.allele_freqs
    np.testing.assert_allclose(x.mean(0), 2 * f, rtol=1e-6)
    np.testing.assert_allclose(x.var(0), 2 * f * (1 - f), atol=0.05)
    assert 0.02 < f.min() and f.max() < 0.6

    def mean_corr(d):
        return np.nanmean([np.corrcoef(x[:, j], x[:, j + d])[0, 1] for j in range(0, 250, 5)])

    near, far = mean_corr(1), mean_corr(40)
    assert near > 0.5 and abs(far) < 0.1 and near > 5 * abs(far)


def test_heritability_and_epistasis_shares(population):
    h2 = population.genetic_values.var() / population.phenotypes.var()
    assert abs(h2 - 0.6) < 0.05
    additive = genomic.simulate(500, 100, 10, 0.9, epistasis=0.0, seed=1).genetic_values
    mixed = genomic.simulate(500, 100, 10, 0.9, epistasis=0.5, seed=1).genetic_values
    # The same additive part, scaled by sqrt(0.5), plus an independent epistatic part.
    assert 0.5 < np.corrcoef(additive, mixed)[0, 1] < 0.9


def test_ridge_predicts_a_heritable_trait():
    data = genomic.simulate(1200, 200, num_qtl=20, heritability=0.8, seed=0)
    x, y = data.genotypes, data.phenotypes
    pred, alpha = genomic.ridge_prediction((x[:800], y[:800]), (x[800:1000], y[800:1000]), x[1000:])
    assert np.corrcoef(pred, y[1000:])[0, 1] > 0.6 and alpha > 0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"heritability": 0.0}, "heritability"),
        ({"linkage": 1.0}, "linkage"),
        ({"num_qtl": 0}, "num_qtl"),
    ],
)
def test_bad_parameters_are_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        genomic.simulate(10, 20, **{"num_qtl": 5, **kwargs})
