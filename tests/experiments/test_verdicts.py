"""Verdicts computed from per-seed figures by one rule, and the committed ones equal to it."""

import dataclasses
import json
import os

import numpy as np
import pytest
from scipy import stats

from experiments.sweeps import SWEEPS, aggregate, overview, verdicts
from experiments.sweeps.verdicts import Comparison

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "experiments", "results")


def test_welch_interval_equals_the_welch_satterthwaite_formula():
    a, b = [0.70, 0.715, 0.704], [0.69, 0.698, 0.683]
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    diff, low, high, p = verdicts.welch(a, b)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (low, high) == pytest.approx((diff - half, diff + half))
    t = diff / np.sqrt(va + vb)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), df))


def test_against_a_baseline_s_repeated_value_welch_is_the_one_sample_t_interval():
    a, value = [27.96, 28.01], 19.76
    diff, low, high, p = verdicts.welch(a, [value, value])
    one = stats.ttest_1samp(a, value)
    assert diff == pytest.approx(np.mean(a) - value)
    interval = one.confidence_interval(0.95)
    assert (low, high) == pytest.approx((interval.low - value, interval.high - value))
    assert p == pytest.approx(one.pvalue)


@pytest.mark.parametrize(
    "claim,low,high,margin,word",
    [
        ("higher", 0.01, 0.03, 0, "yes"),
        ("higher", -0.03, -0.01, 0, "no"),
        ("higher", -0.01, 0.03, 0, "no difference detected"),
        ("lower", -0.03, -0.01, 0, "yes"),
        ("lower", 0.01, 0.03, 0, "no"),
        ("similar", -0.004, 0.006, 0.01, "yes"),
        ("similar", 0.02, 0.05, 0.01, "no"),
        ("similar", -0.02, 0.005, 0.01, "not settled"),
        ("not_lower", -0.004, 0.03, 0.01, "yes"),
        ("not_lower", -0.05, -0.02, 0.01, "no"),
        ("not_lower", -0.02, 0.01, 0.01, "not settled"),
    ],
)
def test_the_rule(claim, low, high, margin, word):
    assert verdicts.verdict_word(claim, low, high, margin) == word


def test_evaluate_names_what_it_cannot_judge():
    rows = [
        {"run": "a", "acc": [0.7, 0.71, 0.72]},
        {"run": "b", "acc": [0.6, 0.61, 0.6]},
        {"run": "c", "diverged": True, "acc": [None, None, None]},
    ]
    out = verdicts.evaluate(
        [
            Comparison("a beats b", "a", "b", figure="acc"),
            Comparison("b beats a", "b", "a", figure="acc"),
            Comparison("c beats b", "c", "b", figure="acc"),
            Comparison("d beats b", "d", "b", figure="acc"),
        ],
        rows,
    )
    assert [v["verdict"] for v in out] == [
        "yes",
        "no",
        "n/a (a row diverged or has fewer than 2 seeds)",
        "n/a (a row is not in this grid)",
    ]
    assert out[0]["difference"] == pytest.approx(0.1067, abs=1e-4) and out[0]["p"] < 0.01
    with pytest.raises(ValueError, match="margin > 0 goes with claim='similar'"):
        Comparison("x", "a", "b", claim="similar")


COMMITTED = sorted(
    name
    for name, module in SWEEPS.items()
    if module.get_sweep(quick=False).comparisons
    and os.path.isfile(os.path.join(RESULTS, name, "results.json"))
)


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_verdicts_are_those_the_rule_gives_on_the_committed_rows(name):
    sweep, folder = SWEEPS[name].get_sweep(quick=False), os.path.join(RESULTS, name)
    results = json.load(open(os.path.join(folder, "results.json")))
    expected = json.loads(json.dumps(aggregate.judge(sweep, results["rows"])))
    hint = f"run: python -m experiments.sweep --sweep={name} --verdicts_only"
    assert results["verdicts"] == expected, hint
    text = open(os.path.join(folder, "results.md")).read()
    assert verdicts.section_of(text) == verdicts.markdown(expected), hint


def test_a_comparison_may_name_the_best_row_of_a_label_value():
    rows = [
        {"run": "a1", "opt": "a", "acc": [0.60, 0.61, 0.62]},
        {"run": "a2", "opt": "a", "acc": [0.70, 0.71, 0.72]},
        {"run": "b1", "opt": "b", "acc": [0.65, 0.66, 0.64]},
    ]
    sweep = dataclasses.replace(
        SWEEPS["lenet"].get_sweep(quick=True),
        best_by=("opt", "acc"),
        comparisons=(Comparison("best a beats best b", "best:a", "best:b", figure="acc"),),
    )
    [found] = aggregate.judge(sweep, rows)
    assert found["rows"] == ["a2", "b1"] and found["verdict"] == "yes"
    assert "`best:a` = `a2`" in verdicts.markdown([found])


def test_every_comparison_names_rows_of_its_full_grid():
    for name, module in SWEEPS.items():
        sweep = module.get_sweep(quick=False)
        runs = {run.group or run.name for run in (*sweep.runs, *sweep.baselines)}
        if sweep.best_by:  # "best:<label value>": the best row of that value
            runs |= {f"best:{run.labels[sweep.best_by[0]]}" for run in sweep.runs}
        figures = set(sweep.figures) | {"epochs_to_target"}
        for c in sweep.comparisons:
            assert {c.run, c.baseline} <= runs, (name, c)
            assert c.figure in figures, (name, c.figure)


def test_the_committed_results_readme_is_the_one_the_results_give():
    readme = open(os.path.join(RESULTS, "README.md")).read()
    hint = "run: python -m experiments.sweep --sweep=<any> --verdicts_only"
    index = overview.verdict_index(RESULTS, SWEEPS)
    assert verdicts.section_of(readme, verdicts.INDEX_BEGIN, verdicts.INDEX_END) == index, hint
    claims = overview.claims(RESULTS, SWEEPS)
    assert verdicts.section_of(readme, overview.CLAIMS_BEGIN, overview.CLAIMS_END) == claims, hint
