"""Super-resolution's pieces outside the loop: downscaling, PSNR and the bicubic baseline rows
of the superres sweep."""

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import metrics, tasks
from cnnjax.tasks import superres
from experiments.sweeps import SWEEPS


def test_downscale_then_bicubic_keeps_a_constant_image_and_psnr_is_exact():
    x = jnp.full((2, 8, 8, 3), 0.25)
    low = superres.downscale(x, 2)
    assert low.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(low, 0.25, atol=1e-6)
    np.testing.assert_allclose(superres.bicubic_baseline(low, 2), 0.25, atol=1e-6)
    noisy = x.at[:, 0, 0, 0].add(0.5)  # one pixel off by 0.5: MSE = 0.25 / 192
    psnr = metrics.image_scores(noisy, x)["psnr"]
    np.testing.assert_allclose(psnr, 10 * np.log10(192 / 0.25), rtol=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        metrics.image_scores(x, x[:1])


def test_the_sweep_s_bicubic_rows_score_its_runs_test_images():
    """Each (dataset, scale) of the grid has a bicubic row computed on the data of its SRCNN
    run, and the claim's comparisons name both networks against it."""
    sweep = SWEEPS["superres"].get_sweep(quick=False)
    runs = {run.name: run for run in sweep.runs}
    assert len(runs) == 8 and len(sweep.baselines) == 4
    for baseline in sweep.baselines:
        like = runs[baseline.like].overrides
        _, dataset, scale = baseline.name.split("_")
        assert (like["dataset.name"], f"x{like['superres.scale']}") == (dataset, scale)
        against = {c.run for c in sweep.comparisons if c.baseline == baseline.name}
        assert against == {f"srcnn_{dataset}_{scale}", f"espcn_{dataset}_{scale}"}
    quick = SWEEPS["superres"].get_sweep(quick=True)
    config = quick.base()
    got = quick.baselines[0].figures(config)
    # the task's own test split: the first superres.test_size images
    test = tasks.of(config).splits(config).test
    assert len(test) == config.superres.test_size
    y = test.images.astype(np.float32) / 255.0
    up = superres.bicubic_baseline(superres.downscale(jnp.asarray(y), 2), 2)
    expected = metrics.image_scores(up, jnp.asarray(y))
    np.testing.assert_allclose(got["test_psnr"], float(np.mean(expected["psnr"])), rtol=1e-5)
    np.testing.assert_allclose(got["test_ssim"], float(np.mean(expected["ssim"])), rtol=1e-5)
    assert set(got) <= set(quick.figures)

